package metrics

import (
	"io"
	"math"
	"slices"
	"strconv"
)

// ContentType is the media type of the text exposition format that
// WriteTo, Process and Handler write.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric names and help texts of the hook's families.
const (
	durationName = Namespace + "_task_duration_seconds"
	finishedName = Namespace + "_tasks_finished_total"
	runningName  = Namespace + "_tasks_running"
	startedName  = Namespace + "_tasks_started_total"

	durationHelp = "Duration of task attempts."
	finishedHelp = "Task attempts ended, by resulting state."
	runningHelp  = "Task attempts running now."
	startedHelp  = "Task attempts started."
)

// WriteTo writes the hook's metrics to w in the Prometheus text exposition
// format, families sorted by name and series by labels. A family without
// series is left out, as client_golang does. It implements io.WriterTo.
func (h *Hook) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(h.appendText(nil, h.Snapshot()))
	return int64(n), err
}

func (h *Hook) appendText(b []byte, tasks []TaskMetrics) []byte {
	if len(tasks) == 0 {
		return b
	}
	var finished int
	for _, t := range tasks {
		finished += len(t.Finished)
	}
	// About 120 bytes a line: 16 lines a finished state, 2 a task.
	b = slices.Grow(b, 500+120*(16*finished+2*len(tasks)))
	var labels []byte // `{<Config.Labels>task="…",state="…"` of the series
	if finished > 0 {
		b = appendHeader(b, durationName, durationHelp, "histogram")
		for _, t := range tasks {
			for _, f := range t.Finished {
				labels = h.appendLabels(labels[:0], t.Task, f.State)
				b = appendHistogram(b, labels, &f)
			}
		}
		b = appendHeader(b, finishedName, finishedHelp, "counter")
		for _, t := range tasks {
			for _, f := range t.Finished {
				labels = h.appendLabels(labels[:0], t.Task, f.State)
				b = appendUint(appendSeries(b, finishedName, labels), f.Count)
			}
		}
	}
	b = appendHeader(b, runningName, runningHelp, "gauge")
	for _, t := range tasks {
		labels = h.appendLabels(labels[:0], t.Task, "")
		b = appendSeries(b, runningName, labels)
		b = append(strconv.AppendInt(b, t.Running, 10), '\n')
	}
	b = appendHeader(b, startedName, startedHelp, "counter")
	for _, t := range tasks {
		labels = h.appendLabels(labels[:0], t.Task, "")
		b = appendUint(appendSeries(b, startedName, labels), t.Started)
	}
	return b
}

// leValues are the le label values of durationBuckets.
var leValues = [len(durationBuckets)]string{
	"0.001", "0.004", "0.016", "0.064", "0.256", "1.024",
	"4.096", "16.384", "65.536", "262.144", "1048.576", "4194.304",
}

// appendHistogram appends the _bucket, _sum and _count lines of f.
func appendHistogram(b, labels []byte, f *FinishedMetrics) []byte {
	for i, le := range leValues {
		b = appendBucket(b, labels, le, f.Buckets[i])
	}
	b = appendBucket(b, labels, "+Inf", f.Count)
	b = append(appendFloat(appendSeries(b, durationName+"_sum", labels), f.Sum), '\n')
	return appendUint(appendSeries(b, durationName+"_count", labels), f.Count)
}

func appendBucket(b, labels []byte, le string, count uint64) []byte {
	b = append(b, durationName+"_bucket"...)
	b = append(b, labels...)
	b = append(b, `,le="`...)
	b = append(b, le...)
	b = append(b, `"} `...)
	return appendUint(b, count)
}

// appendLabels appends `{<Config.Labels>task="…",state="…"`, without the
// closing brace and without state when empty.
func (h *Hook) appendLabels(b []byte, task, state string) []byte {
	b = append(b, '{')
	b = append(b, h.labelPrefix...)
	b = appendLabel(b, "task", task)
	if state != "" {
		b = appendLabel(append(b, ','), "state", state)
	}
	return b
}

// appendSeries appends `name<labels>} `.
func appendSeries(b []byte, name string, labels []byte) []byte {
	b = append(b, name...)
	b = append(b, labels...)
	return append(b, "} "...)
}

// appendHeader appends the HELP and TYPE lines of a family.
func appendHeader(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendLabel appends name="value" with value escaped.
func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped appends s with backslashes and newlines escaped, and
// double quotes too in a label value.
func appendEscaped(b []byte, s string, quotes bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quotes:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendUint appends v and a newline.
func appendUint(b []byte, v uint64) []byte {
	return append(strconv.AppendUint(b, v, 10), '\n')
}

// appendFloat appends f as the text format writes it: shortest
// representation, +Inf, -Inf or NaN.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/metrics"
)

// run passes one attempt of task through h.
func run(h *metrics.Hook, task string, r bgtask.AttemptResult) {
	a := &bgtask.AttemptInfo{Name: task}
	h.BeforeRun(context.Background(), a)
	h.AfterRun(context.Background(), a, &r)
}

func success(d time.Duration) bgtask.AttemptResult {
	return bgtask.AttemptResult{State: bgtask.StateSuccess, Duration: d}
}

// scrape returns what src writes, checked by check.
func scrape(t testing.TB, src io.WriterTo) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := src.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.String()
}

// parse parses text with the reference parser and checks what it does
// not: no duplicate series, label names valid and unique, histograms
// cumulative and ending in +Inf equal to their count.
func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	// Gatherers runs client_golang's consistency checks on every series.
	gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return slices.Collect(maps.Values(mfs)), nil
	})
	if _, err := (prometheus.Gatherers{gathered}).Gather(); err != nil {
		t.Fatalf("inconsistent exposition: %v\n%s", err, text)
	}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			if h := m.GetHistogram(); h != nil {
				checkHistogram(t, name, h)
			}
		}
	}
	return mfs
}

func checkHistogram(t testing.TB, name string, h *dto.Histogram) {
	t.Helper()
	bs := h.GetBucket()
	if len(bs) != len(metrics.DurationBuckets())+1 {
		t.Fatalf("%s: %d buckets, want %d and +Inf", name, len(bs), len(metrics.DurationBuckets()))
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() || bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
			t.Fatalf("%s: bucket %d (le %g: %d) after (le %g: %d) is not cumulative", name, i,
				bs[i].GetUpperBound(), bs[i].GetCumulativeCount(), bs[i-1].GetUpperBound(), bs[i-1].GetCumulativeCount())
		}
	}
	last := bs[len(bs)-1]
	if !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != h.GetSampleCount() {
		t.Fatalf("%s: last bucket le %g: %d, want le +Inf: %d (the count)", name, last.GetUpperBound(), last.GetCumulativeCount(), h.GetSampleCount())
	}
}

// lint runs promlint on text.
func lint(t testing.TB, text string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// samples flattens families to `name{label="value",…}` (labels sorted,
// le last) → value, expanding histograms to _bucket, _sum and _count.
func samples(mfs map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			labels := labelString(m.Label)
			h := m.GetHistogram()
			switch {
			case h != nil:
				for _, b := range h.Bucket {
					out[fmt.Sprintf("%s_bucket{%sle=%q}", name, labels, fmt.Sprint(b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
				out[fmt.Sprintf("%s_sum{%s}", name, strings.TrimSuffix(labels, ","))] = h.GetSampleSum()
				out[fmt.Sprintf("%s_count{%s}", name, strings.TrimSuffix(labels, ","))] = float64(h.GetSampleCount())
			case m.Counter != nil:
				out[name+"{"+strings.TrimSuffix(labels, ",")+"}"] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name+"{"+strings.TrimSuffix(labels, ",")+"}"] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[name+"{"+strings.TrimSuffix(labels, ",")+"}"] = m.Untyped.GetValue()
			}
		}
	}
	return out
}

// labelString renders labels sorted by name as `a="x",b="y",`.
func labelString(ls []*dto.LabelPair) string {
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	var sb strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&sb, "%s=%q,", l.GetName(), l.GetValue())
	}
	return sb.String()
}

// families maps each family name to "TYPE help".
func families(mfs map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for name, mf := range mfs {
		out[name] = mf.GetType().String() + " " + mf.GetHelp()
	}
	return out
}

// Package promcollector exports a metrics.Hook's series through a
// client_golang registry, for programs that already serve one:
//
//	hook, err := metrics.New(nil)
//	...
//	reg.MustRegister(promcollector.New(hook))
//
// The series are those metrics.Hook.WriteTo writes, with the same names,
// help texts, labels and buckets, built as const metrics from the hook's
// counters at each Collect. This is the only bgtask package that imports
// client_golang: a binary that does not import it does not link
// client_golang (and its init-time work).
package promcollector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bgtask/bgtask/metrics"
)

// collector is the prometheus.Collector of a hook.
type collector struct {
	hook     *metrics.Hook
	buckets  []float64
	duration *prometheus.Desc
	finished *prometheus.Desc
	running  *prometheus.Desc
	started  *prometheus.Desc
}

// New returns a collector of h's series. Config.Labels of h become the
// descriptors' constant labels, so several hooks with different labels may
// be registered in one registry.
func New(h *metrics.Hook) prometheus.Collector {
	labels := prometheus.Labels(h.Labels())
	desc := func(name, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc(metrics.Namespace+"_"+name, help, variable, labels)
	}
	return &collector{
		hook:     h,
		buckets:  metrics.DurationBuckets(),
		duration: desc("task_duration_seconds", "Duration of task attempts.", "task", "state"),
		finished: desc("tasks_finished_total", "Task attempts ended, by resulting state.", "task", "state"),
		running:  desc("tasks_running", "Task attempts running now.", "task"),
		started:  desc("tasks_started_total", "Task attempts started.", "task"),
	}
}

// Describe sends the four descriptors.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.duration
	ch <- c.finished
	ch <- c.running
	ch <- c.started
}

// Collect sends the hook's series as const metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.hook.Snapshot() {
		ch <- constMetric(c.started, prometheus.CounterValue, float64(t.Started), t.Task)
		ch <- constMetric(c.running, prometheus.GaugeValue, float64(t.Running), t.Task)
		for _, f := range t.Finished {
			ch <- constMetric(c.finished, prometheus.CounterValue, float64(f.Count), t.Task, f.State)
			ch <- c.histogram(t.Task, &f)
		}
	}
}

func (c *collector) histogram(task string, f *metrics.FinishedMetrics) prometheus.Metric {
	buckets := make(map[float64]uint64, len(c.buckets))
	for i, ub := range c.buckets {
		buckets[ub] = f.Buckets[i]
	}
	m, err := prometheus.NewConstHistogram(c.duration, f.Count, f.Sum, buckets, task, f.State)
	if err != nil {
		return prometheus.NewInvalidMetric(c.duration, err)
	}
	return m
}

// constMetric returns a const metric, or an invalid metric that the
// registry reports from Gather instead of panicking in Collect.
func constMetric(desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}

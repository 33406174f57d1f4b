// Package metrics is a bgtask.Hook that exports Prometheus metrics for
// every attempt a Manager runs:
//
//	bgtask_tasks_started_total{task}          attempts started
//	bgtask_tasks_finished_total{task,state}   attempts ended, by state
//	                                          (SUCCESS, FAILURE, CANCELLED,
//	                                          or HANDED_BACK / ABANDONED when
//	                                          the attempt ended without one)
//	bgtask_task_duration_seconds{task,state}  attempt duration histogram
//	bgtask_tasks_running{task}                attempts running now
//
// Labels are bounded by the registry: only definition names and states.
package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bgtask/bgtask"
)

// Namespace prefixes every metric name.
const Namespace = "bgtask"

// Hook records attempt metrics. Create it with New and add it to
// bgtask.Config.Hooks.
type Hook struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  *prometheus.GaugeVec
}

// New returns a hook whose metrics are registered with reg (e.g. a
// prometheus.NewRegistry()).
func New(reg prometheus.Registerer) (*Hook, error) {
	h := &Hook{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tasks_started_total", Help: "Task attempts started.",
		}, []string{"task"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tasks_finished_total", Help: "Task attempts ended, by resulting state.",
		}, []string{"task", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "task_duration_seconds", Help: "Duration of task attempts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12), // 1 ms .. ~70 min
		}, []string{"task", "state"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "tasks_running", Help: "Task attempts running now.",
		}, []string{"task"}),
	}
	for _, c := range []prometheus.Collector{h.started, h.finished, h.duration, h.running} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// BeforeRun counts the attempt as started and running.
func (h *Hook) BeforeRun(_ context.Context, a *bgtask.AttemptInfo) {
	h.started.WithLabelValues(a.Name).Inc()
	h.running.WithLabelValues(a.Name).Inc()
}

// AfterRun counts the attempt as finished in its state and observes its
// duration.
func (h *Hook) AfterRun(_ context.Context, a *bgtask.AttemptInfo, r *bgtask.AttemptResult) {
	state := string(r.State)
	switch {
	case r.HandedBack:
		state = "HANDED_BACK"
	case r.State == bgtask.StateOngoing:
		state = "ABANDONED"
	}
	h.running.WithLabelValues(a.Name).Dec()
	h.finished.WithLabelValues(a.Name, state).Inc()
	h.duration.WithLabelValues(a.Name, state).Observe(r.Duration.Seconds())
}

var _ bgtask.Hook = (*Hook)(nil)

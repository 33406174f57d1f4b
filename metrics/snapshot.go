package metrics

import (
	"maps"
	"math"
	"slices"
)

// TaskMetrics is a copy of the series of one task name.
type TaskMetrics struct {
	Task    string
	Started uint64 // bgtask_tasks_started_total
	Running int64  // bgtask_tasks_running
	// Finished has one entry per state attempts ended in, sorted by state;
	// states no attempt ended in are absent.
	Finished []FinishedMetrics
}

// FinishedMetrics is a copy of the series of the attempts of one task that
// ended in one state.
type FinishedMetrics struct {
	State string
	// Count is bgtask_tasks_finished_total, and the histogram's count.
	Count uint64
	// Sum is the sum of the durations in seconds.
	Sum float64
	// Buckets are the cumulative counts of durations at most
	// DurationBuckets()[i]; Count is the +Inf bucket.
	Buckets []uint64
}

// Snapshot returns the hook's series sorted by task name. It reads the
// counters one by one while attempts may start and end: each histogram's
// buckets and Count are consistent and Started is at least the total of
// Count, but Sum may miss or include an attempt that ends during the read.
func (h *Hook) Snapshot() []TaskMetrics {
	tasks := h.tasks.load()
	out := make([]TaskMetrics, 0, len(tasks))
	for _, name := range slices.Sorted(maps.Keys(tasks)) {
		t := tasks[name]
		tm := TaskMetrics{Task: name}
		states := t.states.load()
		for _, state := range slices.Sorted(maps.Keys(states)) {
			tm.Finished = append(tm.Finished, states[state].snapshot(state))
		}
		// Read after the finished counts: every attempt they include has
		// started, so Started is never below their total.
		tm.Started, tm.Running = t.started.Load(), t.running.Load()
		out = append(out, tm)
	}
	return out
}

func (d *durationSeries) snapshot(state string) FinishedMetrics {
	f := FinishedMetrics{
		State:   state,
		Sum:     math.Float64frombits(d.sum.Load()),
		Buckets: make([]uint64, len(durationBuckets)),
	}
	for i := range d.buckets {
		f.Count += d.buckets[i].Load()
		if i < len(f.Buckets) {
			f.Buckets[i] = f.Count
		}
	}
	return f
}

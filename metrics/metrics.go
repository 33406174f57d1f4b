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
//
// The package imports only bgtask and the standard library, and does no
// init-time work: a process that links it (each `bgtask run` included)
// pays nothing for it. The hook keeps
// its counters in atomics; Hook.WriteTo and Handler write them in the
// Prometheus text exposition format (version 0.0.4), and Process adds a few
// process and Go runtime metrics read when scraped. Programs that already
// use a client_golang registry register the hook's metrics there with the
// promcollector subpackage instead.
package metrics

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/bgtask/bgtask"
)

// Namespace prefixes every metric name.
const Namespace = "bgtask"

// States recorded for attempts that ended without a terminal state.
const (
	// StateHandedBack labels attempts handed back for takeover at shutdown.
	StateHandedBack = "HANDED_BACK"
	// StateAbandoned labels attempts that ended without writing a state
	// (taken over, hard stop).
	StateAbandoned = "ABANDONED"
)

// durationBuckets are the upper bounds of the duration histogram, in
// seconds: client_golang's ExponentialBuckets(0.001, 4, 12), 1 ms to
// about 70 min.
var durationBuckets = [...]float64{
	0.001, 0.004, 0.016, 0.064, 0.256, 1.024,
	4.096, 16.384, 65.536, 262.144, 1048.576, 4194.304,
}

// DurationBuckets returns the upper bounds of the
// bgtask_task_duration_seconds buckets in seconds, in increasing order,
// without the implicit +Inf.
func DurationBuckets() []float64 {
	return slices.Clone(durationBuckets[:])
}

// Config configures a Hook. The zero value (or nil) is the default.
type Config struct {
	// Labels are constant label pairs added to every bgtask_* series
	// (e.g. {"manager": "batch"}), to tell apart several hooks registered
	// in one client_golang registry with promcollector.
	// Names must match [a-zA-Z_][a-zA-Z0-9_]*, must not start with "__"
	// and must not be task, state or le; values must be UTF-8.
	// Default: none.
	Labels map[string]string
}

func (c *Config) validate() error {
	for _, name := range slices.Sorted(maps.Keys(c.Labels)) {
		switch {
		case !validLabelName(name):
			return fmt.Errorf("metrics: Config.Labels: invalid label name %q", name)
		case name == "task" || name == "state" || name == "le":
			return fmt.Errorf("metrics: Config.Labels: label name %q is reserved", name)
		case !utf8.ValidString(c.Labels[name]):
			return fmt.Errorf("metrics: Config.Labels: value of %q is not UTF-8", name)
		}
	}
	return nil
}

// validLabelName reports whether s is a label name every Prometheus
// version accepts.
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Hook records attempt metrics. Create it with New and add it to
// bgtask.Config.Hooks; one Hook may serve several Managers, whose series
// then add up per task name. Its methods are safe for concurrent use.
type Hook struct {
	labels      map[string]string // Config.Labels, copied
	labelPrefix string            // labels rendered as `name="value",`, sorted
	tasks       cowMap[taskSeries]
}

// taskSeries holds the series of one task name.
type taskSeries struct {
	started atomic.Uint64
	running atomic.Int64
	states  cowMap[durationSeries]
}

// durationSeries holds the attempts of one task that ended in one state;
// their count is both bgtask_tasks_finished_total and the histogram's.
type durationSeries struct {
	// buckets counts observations per bucket, not cumulated; the last one
	// counts those above the largest bound.
	buckets [len(durationBuckets) + 1]atomic.Uint64
	sum     atomic.Uint64 // float64 bits, seconds
}

// New returns a hook configured by cfg (nil: defaults).
func New(cfg *Config) (*Hook, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Hook{labels: maps.Clone(cfg.Labels)}
	var b []byte
	for _, name := range slices.Sorted(maps.Keys(cfg.Labels)) {
		b = appendLabel(b, name, cfg.Labels[name])
		b = append(b, ',')
	}
	h.labelPrefix = string(b)
	return h, nil
}

// Labels returns a copy of Config.Labels.
func (h *Hook) Labels() map[string]string {
	return maps.Clone(h.labels)
}

// BeforeRun counts the attempt as started and running.
func (h *Hook) BeforeRun(_ context.Context, a *bgtask.AttemptInfo) {
	t := h.tasks.get(a.Name)
	t.started.Add(1)
	t.running.Add(1)
}

// AfterRun counts the attempt as finished in its state and observes its
// duration.
func (h *Hook) AfterRun(_ context.Context, a *bgtask.AttemptInfo, r *bgtask.AttemptResult) {
	state := string(r.State)
	switch {
	case r.HandedBack:
		state = StateHandedBack
	case r.State == bgtask.StateOngoing:
		state = StateAbandoned
	}
	t := h.tasks.get(a.Name)
	t.running.Add(-1)
	t.states.get(state).observe(r.Duration.Seconds())
}

// observe records one duration of v seconds.
func (d *durationSeries) observe(v float64) {
	i := 0
	for i < len(durationBuckets) && v > durationBuckets[i] {
		i++
	}
	d.buckets[i].Add(1)
	for {
		old := d.sum.Load()
		if d.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// cowMap is a copy-on-write map from label value to series: lookups are
// lock-free and allocation-free, an insert copies the map under mu. It
// suits the small, bounded key sets of task names and states. The zero
// value is an empty map.
type cowMap[V any] struct {
	mu sync.Mutex // serialises inserts
	m  atomic.Pointer[map[string]*V]
}

// get returns the series of key, adding it if missing.
func (c *cowMap[V]) get(key string) *V {
	if v := c.load()[key]; v != nil {
		return v
	}
	return c.add(key)
}

func (c *cowMap[V]) add(key string) *V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.load()
	if v := old[key]; v != nil {
		return v
	}
	m := make(map[string]*V, len(old)+1)
	maps.Copy(m, old)
	v := new(V)
	m[strings.Clone(key)] = v
	c.m.Store(&m)
	return v
}

// load returns the current map (nil when empty); callers must not modify
// it.
func (c *cowMap[V]) load() map[string]*V {
	if p := c.m.Load(); p != nil {
		return *p
	}
	return nil
}

var _ bgtask.Hook = (*Hook)(nil)

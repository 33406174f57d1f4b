package idlebench

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultDuration is the measured time of each mode.
	DefaultDuration = 10 * time.Second
	// DefaultSegment is how long the server stays in one mode before
	// switching to the next.
	DefaultSegment = 500 * time.Millisecond
	// DefaultGuard is the start of each segment that is not measured, so
	// that the previous mode's effects (queued requests, a workload
	// stopping) do not count against the new one.
	DefaultGuard = 100 * time.Millisecond
	// DefaultWarmup is the load run, in mode a, before the first segment.
	DefaultWarmup = time.Second
	// DefaultCapacityDuration is how long the closed loop measures the
	// server's capacity.
	DefaultCapacityDuration = 3 * time.Second
	// DefaultWork is the CPU time of one request.
	DefaultWork = time.Millisecond
	// DefaultUnit is the CPU time of one unit of idle work.
	DefaultUnit = 20 * time.Microsecond
	// DefaultLoad is the offered load, as a fraction of the capacity.
	DefaultLoad = 0.5
	// DefaultQuietWait bounds the wait for a quiet machine before the
	// capacity and the main measurement.
	DefaultQuietWait = 30 * time.Second
	// DefaultQuietBelow is the CPU use of other processes, in cores, under
	// which the machine counts as quiet.
	DefaultQuietBelow = 0.15
	// DefaultStrategy is the Strategies entry used when Config.Strategy is
	// empty: the design the measurements in docs/idle.md chose.
	DefaultStrategy = "percore-headroom"
)

// Strategy says how mode (b) runs the idle workload through idle
// Schedulers, and how many plain goroutines mode (c) uses (as many as b
// has workers).
type Strategy struct {
	// Workers is the number of Schedulers, each running the workload's
	// callbacks one at a time. 0: 1.
	Workers int
	// LowPriority sets idle.Config.LowPriority: callbacks on a SCHED_IDLE
	// thread.
	LowPriority bool
	// Threshold is the number of requests in flight at which worker 0
	// counts the process as busy; worker k uses max(1, Threshold-k), so
	// that with Threshold = cores the idle workers plus the requests never
	// outnumber the cores. 0: 1 for every worker.
	Threshold int
	// Nice19 runs each worker's callbacks at nice 19 (an ordinary
	// policy with the least weight) instead of SCHED_IDLE, for comparison:
	// the workload locks the scheduler's goroutine to its thread and
	// renices it. Linux only.
	Nice19 bool
	// Flat gives every worker the same Threshold instead of staggering
	// them.
	Flat bool
	// NoSource runs the workers' schedulers without a load source
	// (fallback mode): only the kernel's SCHED_IDLE stands between the
	// idle work and the requests. For comparison.
	NoSource bool
	// ExtraProcs raises GOMAXPROCS by Workers for the whole run, so that a
	// worker holding a P never takes one from the requests.
	ExtraProcs bool
	// RequestProcs, with ExtraProcs, is how many Ps per core the requests
	// keep while every worker holds its own: GOMAXPROCS is RequestProcs ×
	// cores + Workers. A worker's P stays held while the kernel does not
	// run its SCHED_IDLE thread (every core busy with requests), so with
	// one P per core a request arriving then waits in Go's run queue
	// for a running one to end, where without idle work it would have had
	// a P and shared a CPU. 0: 1.
	RequestProcs int
	// CPUSource adds an idle.CPU source (process scope) to every worker.
	CPUSource bool
}

// Strategies are the strategies measured in docs/idle.md, by name. cores
// is runtime.NumCPU().
func Strategies() map[string]Strategy {
	cores := runtime.NumCPU()
	return map[string]Strategy{
		// The browser model as is: one worker on an ordinary goroutine,
		// busy as soon as one request is in flight.
		"coop": {Workers: 1},
		// The same on a SCHED_IDLE thread.
		"coop-idleprio": {Workers: 1, LowPriority: true},
		// One worker, busy only when every core serves a request.
		"one-idleprio": {Workers: 1, LowPriority: true, Threshold: cores, ExtraProcs: true},
		// One worker per core, staggered thresholds, SCHED_IDLE threads
		// and a P of their own.
		"percore": {Workers: cores, LowPriority: true, Threshold: cores, ExtraProcs: true},
		// percore on ordinary threads.
		"percore-noprio": {Workers: cores, Threshold: cores, ExtraProcs: true},
		// percore without extra Ps.
		"percore-noprocs": {Workers: cores, LowPriority: true, Threshold: cores},
		// percore with every worker busy only when every core serves a
		// request.
		"percore-flat": {Workers: cores, LowPriority: true, Threshold: cores, Flat: true, ExtraProcs: true},
		// percore-flat with two Ps per core left to the requests while
		// every worker holds its own (GOMAXPROCS = 2 × cores + workers).
		"percore-headroom": {Workers: cores, LowPriority: true, Threshold: cores, Flat: true, ExtraProcs: true, RequestProcs: 2},
		// percore with every worker stopping as soon as one request is in
		// flight: idle work never shares the CPUs with a request.
		"percore-strict": {Workers: cores, LowPriority: true, Threshold: 1, Flat: true, ExtraProcs: true},
		// SCHED_IDLE threads and no load source at all.
		"percore-osonly": {Workers: cores, LowPriority: true, NoSource: true, ExtraProcs: true},
		// percore at nice 19 instead of SCHED_IDLE.
		"percore-nice": {Workers: cores, Nice19: true, Threshold: cores, ExtraProcs: true},
		// percore plus the CPU source.
		"percore-cpu": {Workers: cores, LowPriority: true, Threshold: cores, ExtraProcs: true, CPUSource: true},
	}
}

// StrategyNames returns the names of Strategies, sorted.
func StrategyNames() []string {
	var names []string
	for n := range Strategies() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Config configures Run. The zero value runs the documented benchmark.
type Config struct {
	// Duration is the measured time of each mode. 0: DefaultDuration.
	Duration time.Duration
	// Segment is how long the server stays in one mode. The modes take
	// turns in the order a b c c b a, over and over, under one continuous
	// open-loop load, so that a drift or a burst of the machine's other
	// load hits the three modes alike. 0: DefaultSegment.
	Segment time.Duration
	// Guard is the unmeasured start of each segment. 0: DefaultGuard.
	Guard time.Duration
	// Warmup runs the load before the first segment. 0: DefaultWarmup.
	Warmup time.Duration
	// CapacityDuration is how long the capacity is measured.
	// 0: DefaultCapacityDuration.
	CapacityDuration time.Duration
	// Work is the CPU time a request costs the server. 0: DefaultWork.
	Work time.Duration
	// Unit is the CPU time of one unit of idle work; the workload checks
	// its deadline between units. 0: DefaultUnit.
	Unit time.Duration
	// Load is the offered request rate as a fraction of the measured
	// capacity. 0: DefaultLoad.
	Load float64
	// Rate, if positive, is the offered request rate in requests/s: the
	// capacity is then not measured (Result.Capacity is 0) and Load is
	// ignored. Tests use it so that every mode gets requests however fast
	// the machine is. 0: Load × the measured capacity.
	Rate float64
	// Constant sends requests at constant intervals instead of Poisson
	// arrivals.
	Constant bool
	// InProcess runs the load generator in this process instead of a
	// child process (less honest on few cores: it shares the Go scheduler
	// with the server and the idle work).
	InProcess bool
	// Strategy names an entry of Strategies. "": DefaultStrategy.
	Strategy string
	// BaseProcs is GOMAXPROCS in mode a (switched at the segment
	// boundaries, with no workload running). The default compares b with
	// a at the same GOMAXPROCS, which isolates the cost of the idle work;
	// the GOMAXPROCS the program ran with before it had idle work (which
	// the strategies with ExtraProcs raise) compares b with the program
	// as it was. 0: Procs.
	BaseProcs int
	// Procs sets GOMAXPROCS for the run (restored after). 0: the number
	// of cores, or with a strategy that has ExtraProcs, RequestProcs ×
	// cores + Workers.
	Procs int
	// QuietWait bounds how long Run waits, before measuring the capacity
	// and before the main measurement, for a half-second window in which
	// the other processes on the machine use less than QuietBelow cores.
	// It measures anyway when the wait times out. 0: DefaultQuietWait;
	// negative: do not wait.
	QuietWait time.Duration
	// QuietBelow is the quiet threshold in cores. 0: DefaultQuietBelow.
	QuietBelow float64
	// Compare names a second entry of Strategies to run in mode c instead
	// of plain goroutines, so that two strategies are measured in the same
	// run, under the same neighbours: the only comparison of strategies a
	// shared machine supports. Both must have the same Workers and
	// ExtraProcs. Mode c runs at Procs, set by Strategy: a compared
	// strategy's RequestProcs does not apply, so strategies that differ
	// only in GOMAXPROCS (percore-flat and percore-headroom) are compared
	// by alternating runs instead. "": mode c runs plain goroutines.
	Compare string
	// Seed seeds the arrival times. 0: 1.
	Seed uint64
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
	// Notef, if set, receives the lines a user should see even without
	// progress lines: the waits for a quiet machine, which can take
	// QuietWait twice.
	Notef func(format string, args ...any)
}

func (c Config) withDefaults() (Config, Strategy, Strategy, error) {
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&c.Duration, DefaultDuration}, {&c.Segment, DefaultSegment}, {&c.Guard, DefaultGuard},
		{&c.Warmup, DefaultWarmup}, {&c.CapacityDuration, DefaultCapacityDuration},
		{&c.Work, DefaultWork}, {&c.Unit, DefaultUnit}, {&c.QuietWait, DefaultQuietWait},
	} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if c.Load == 0 {
		c.Load = DefaultLoad
	}
	if c.QuietBelow == 0 {
		c.QuietBelow = DefaultQuietBelow
	}
	if c.Strategy == "" {
		c.Strategy = DefaultStrategy
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Notef == nil {
		c.Notef = func(string, ...any) {}
	}
	st, ok := Strategies()[c.Strategy]
	cmp, cmpOK := Strategies()[c.Compare]
	switch {
	case !ok:
		return c, st, cmp, fmt.Errorf("idlebench: Config.Strategy %q is not one of %s", c.Strategy, strings.Join(StrategyNames(), ", "))
	case c.Compare != "" && !cmpOK:
		return c, st, cmp, fmt.Errorf("idlebench: Config.Compare %q is not one of %s", c.Compare, strings.Join(StrategyNames(), ", "))
	case c.Compare != "" && (max(cmp.Workers, 1) != max(st.Workers, 1) || cmp.ExtraProcs != st.ExtraProcs):
		return c, st, cmp, fmt.Errorf("idlebench: Config.Compare %q differs from Strategy %q in Workers or ExtraProcs", c.Compare, c.Strategy)
	case c.Duration < 0, c.Segment < 0, c.Guard < 0, c.Warmup < 0, c.CapacityDuration < 0, c.Work < 0, c.Unit < 0, c.Procs < 0, c.BaseProcs < 0:
		return c, st, cmp, fmt.Errorf("idlebench: Config durations, Procs and BaseProcs must not be negative")
	case c.Guard >= c.Segment:
		return c, st, cmp, fmt.Errorf("idlebench: Config.Guard must be shorter than Segment")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 1): // NaN too
		return c, st, cmp, fmt.Errorf("idlebench: Config.Rate must be a finite number, not negative")
	case !(c.Load > 0 && c.Load <= 1): // NaN too
		return c, st, cmp, fmt.Errorf("idlebench: Config.Load must be in (0, 1]")
	}
	st.Workers = max(st.Workers, 1)
	cmp.Workers = max(cmp.Workers, 1)
	if c.Procs == 0 {
		c.Procs = runtime.NumCPU()
		if st.ExtraProcs {
			c.Procs = max(st.RequestProcs, 1)*runtime.NumCPU() + st.Workers
		}
	}
	if c.BaseProcs == 0 {
		c.BaseProcs = c.Procs
	}
	return c, st, cmp, nil
}

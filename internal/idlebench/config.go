package idlebench

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultDuration = 2 * time.Second // measured per mode and round
	DefaultRounds   = 5               // a, b, c, a, b, c, ...: 10 s per mode
	DefaultWarmup   = 500 * time.Millisecond
	// DefaultQuietWait bounds the wait for a quiet machine before each
	// measured segment.
	DefaultQuietWait = 30 * time.Second
	// DefaultQuietBelow is the CPU use of other processes, in cores, under
	// which the machine counts as quiet.
	DefaultQuietBelow = 0.15
	// DefaultCapacityDuration is how long the closed loop measures the
	// server's capacity.
	DefaultCapacityDuration = 3 * time.Second
	DefaultWork             = time.Millisecond      // CPU per request
	DefaultUnit             = 20 * time.Microsecond // CPU per unit of idle work
	DefaultLoad             = 0.5                   // of the measured capacity
	// DefaultStrategy is the Strategies entry used when Config.Strategy is
	// empty: the design the measurements in docs/idle.md chose.
	DefaultStrategy = "percore"
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
	// ExtraProcs raises GOMAXPROCS by Workers for the whole run, so that a
	// worker holding a P never takes one from the requests.
	ExtraProcs bool
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
	// Duration is the measured time of each mode in each round.
	// 0: DefaultDuration.
	Duration time.Duration
	// Rounds is how many times the three modes run, interleaved, so that
	// a drift of the machine's load hits them alike. 0: DefaultRounds.
	Rounds int
	// Warmup runs the load before each measured segment. 0: DefaultWarmup.
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
	// Constant sends requests at constant intervals instead of Poisson
	// arrivals.
	Constant bool
	// InProcess runs the load generator in this process instead of a
	// child process (less honest on few cores: it shares the Go scheduler
	// with the server and the idle work).
	InProcess bool
	// Strategy names an entry of Strategies. "": DefaultStrategy.
	Strategy string
	// Procs sets GOMAXPROCS for the run (restored after). 0: the number
	// of cores, plus the workers if the strategy has ExtraProcs.
	Procs int
	// QuietWait bounds how long Run waits, before each segment, for a
	// half-second window in which the other processes on the machine use
	// less than QuietBelow cores; on a shared machine this keeps their
	// bursts out of the measurements. The segment runs anyway when the
	// wait times out. 0: DefaultQuietWait; negative: do not wait.
	QuietWait time.Duration
	// QuietBelow is the quiet threshold in cores. 0: DefaultQuietBelow.
	QuietBelow float64
	// Seed seeds the arrival times. 0: 1.
	Seed uint64
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() (Config, Strategy, error) {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Duration, DefaultDuration)
	def(&c.Warmup, DefaultWarmup)
	def(&c.CapacityDuration, DefaultCapacityDuration)
	def(&c.QuietWait, DefaultQuietWait)
	if c.QuietBelow == 0 {
		c.QuietBelow = DefaultQuietBelow
	}
	def(&c.Work, DefaultWork)
	def(&c.Unit, DefaultUnit)
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.Load == 0 {
		c.Load = DefaultLoad
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
	st, ok := Strategies()[c.Strategy]
	switch {
	case !ok:
		return c, st, fmt.Errorf("idlebench: Config.Strategy %q is not one of %s", c.Strategy, strings.Join(StrategyNames(), ", "))
	case c.Duration < 0, c.Warmup < 0, c.CapacityDuration < 0, c.Work < 0, c.Unit < 0, c.Rounds < 0, c.Procs < 0:
		return c, st, fmt.Errorf("idlebench: Config durations, Rounds and Procs must not be negative")
	case c.Load < 0 || c.Load > 1:
		return c, st, fmt.Errorf("idlebench: Config.Load must be in (0, 1]")
	}
	st.Workers = max(st.Workers, 1)
	if c.Procs == 0 {
		c.Procs = runtime.NumCPU()
		if st.ExtraProcs {
			c.Procs += st.Workers
		}
	}
	return c, st, nil
}

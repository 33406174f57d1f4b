package idlebench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Result is what Run measured.
type Result struct {
	Cores          int     // runtime.NumCPU()
	Procs          int     // GOMAXPROCS during the run
	BaseProcs      int     // GOMAXPROCS in mode a
	Strategy       string  // Config.Strategy
	Load           float64 // offered load, fraction of Capacity
	Poisson        bool    // Poisson arrivals (else constant)
	ChildGenerator bool    // load generator in a child process
	Compare        string  // Config.Compare: mode c's strategy, if not plain goroutines

	WorkCost time.Duration // measured CPU time of one request's work
	UnitCost time.Duration // measured CPU time of one unit of idle work
	Capacity float64       // requests/s, closed loop
	Rate     float64       // offered requests/s
	// LagP50 and LagP99 say how late the generator sent requests after
	// their scheduled times, all modes together: the part of the
	// latencies that is the generator's own.
	LagP50, LagP99 time.Duration

	A, B, C ModeResult // no idle work; through the scheduler; plain goroutines

	P99RatioB float64 // B.P99 / A.P99; target <= 1.10
	// P99RatioBLow and P99RatioBHigh bound a 90 % confidence interval of
	// P99RatioB, from a bootstrap that resamples whole segments (so that
	// the queueing within a segment stays together): how far this one
	// run's ratio can be trusted.
	P99RatioBLow, P99RatioBHigh float64
	P99RatioC                   float64 // C.P99 / A.P99
	// The same ratios at the median and the 90th percentile, which a
	// virtual machine's stalls (steal) disturb less than the p99.
	P50RatioB, P50RatioC float64
	P90RatioB, P90RatioC float64
	// SpareCores is the CPU left unused in mode a, per second: the
	// machine's idle time from /proc/stat (cores minus the CPU every
	// process used, minus steal on a VM). Where /proc/stat is missing it
	// is cores minus the server's and the generator's CPU.
	SpareCores float64
	// SpareCoresOwn is cores minus the server's and the generator's CPU in
	// mode a: the spare CPU if nothing else ran on the machine.
	SpareCoresOwn float64
	// IdleCoresB is the CPU the idle work used in mode b, per second.
	IdleCoresB float64
	// SpareUsed is IdleCoresB / SpareCores; target >= 0.80.
	SpareUsed float64
	// MachineSpareUsed is the share of mode a's machine idle time that was
	// no longer idle in mode b, whoever used it.
	MachineSpareUsed float64
	// LoadStart and LoadEnd are the 1-minute load average (/proc/loadavg)
	// before and after the modes were measured; -1 where unavailable.
	LoadStart, LoadEnd float64
	// Others is the CPU every other process on the machine used during the
	// three modes, in cores (from /proc/stat, minus this process and the
	// generator), and Steal the time the hypervisor took: how quiet the
	// machine was. Disturbed is set when Others exceeded Config.QuietBelow:
	// the ratios of such a run say more about the neighbours than about
	// the idle work.
	Others, Steal float64
	Disturbed     bool
	// Overloaded is set when even mode a could not keep up (its median
	// latency is over OverloadFactor times the work): the machine's
	// capacity fell below the offered load during the run, typically
	// because other processes or virtual machines took the CPU, and the
	// ratios mean little.
	Overloaded bool
}

// ModeResult is one mode's figures, summed over the rounds.
type ModeResult struct {
	Name     string
	Requests int // measured (outside warm-up and guards)
	Errors   int
	Wall     time.Duration // time spent in the mode, guards included: the base of the CPU figures
	Measured time.Duration // time whose requests were measured
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	P999     time.Duration
	Max      time.Duration
	Units    int64         // units of idle work done
	IdleCPU  time.Duration // CPU time of the idle work, from its threads' clocks
	CPU      time.Duration // the server process's CPU time (idle work included)
	GenCPU   time.Duration // the generator's CPU time (child process only)
	Machine  machineTimes  // machine-wide busy, idle and steal time
	Periods  uint64        // idle periods (mode b)
	Callback uint64        // callbacks run (mode b)
	Procs    int           // GOMAXPROCS while the mode ran
	sched    schedFigures  // scheduling evidence; see GoWaitP99, GCStopMax, KernelWait
	// ArrivalP50, ArrivalP99 are percentiles of the time from the
	// generator's send to the start of the handler; StallP99 of the time a
	// request's work waited for its CPU while it ran; Preempted is the
	// share of requests whose thread was preempted during their work (see
	// requestLog). Guards included.
	ArrivalP50, ArrivalP99, StallP99 time.Duration
	Preempted                        float64
	requestLog                       []reqRecord
}

func (m *ModeResult) setRequestFigures() {
	var arr, stall []time.Duration
	pre := 0
	for _, r := range m.requestLog {
		if r.arrival >= 0 {
			arr = append(arr, r.arrival)
		}
		stall = append(stall, r.stall)
		if r.preempted {
			pre++
		}
	}
	slices.Sort(arr)
	slices.Sort(stall)
	m.ArrivalP50, m.ArrivalP99 = percentile(arr, 0.50), percentile(arr, 0.99)
	m.StallP99 = percentile(stall, 0.99)
	if len(m.requestLog) > 0 {
		m.Preempted = float64(pre) / float64(len(m.requestLog))
	}
	m.requestLog = nil
}

// others returns the CPU the machine's other processes used in the mode.
func (m *ModeResult) others() time.Duration {
	return max(m.Machine.busy-m.CPU-m.GenCPU, 0)
}

func (m *ModeResult) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	m.Requests = len(lat)
	m.P50, m.P90, m.P99 = percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99)
	m.P999 = percentile(lat, 0.999)
	if len(lat) > 0 {
		m.Max = lat[len(lat)-1]
	}
}

// perSecond returns d per second of the mode's wall time: cores used.
func (m *ModeResult) perSecond(d time.Duration) float64 {
	if m.Wall <= 0 {
		return 0
	}
	return d.Seconds() / m.Wall.Seconds()
}

// minSpare is the spare CPU, in cores, below which the share of it the
// idle work used is not reported: other processes took nearly all of it.
const minSpare = 0.1

// OverloadFactor is the median latency of mode a, in multiples of
// WorkCost, above which a run counts as Overloaded.
const OverloadFactor = 10

func (r *Result) summarize(quietBelow float64) {
	var others, steal, wall time.Duration
	for _, m := range []*ModeResult{&r.A, &r.B, &r.C} {
		others += m.others()
		steal += m.Machine.steal
		wall += m.Wall
	}
	if wall > 0 {
		r.Others, r.Steal = others.Seconds()/wall.Seconds(), steal.Seconds()/wall.Seconds()
	}
	r.Disturbed = r.Others > quietBelow
	r.Overloaded = r.A.P50 > OverloadFactor*r.WorkCost
	ratio := func(x, base time.Duration) float64 {
		if base <= 0 {
			return 0
		}
		return float64(x) / float64(base)
	}
	r.P99RatioB, r.P99RatioC = ratio(r.B.P99, r.A.P99), ratio(r.C.P99, r.A.P99)
	r.P90RatioB, r.P90RatioC = ratio(r.B.P90, r.A.P90), ratio(r.C.P90, r.A.P90)
	r.P50RatioB, r.P50RatioC = ratio(r.B.P50, r.A.P50), ratio(r.C.P50, r.A.P50)
	r.SpareCoresOwn = float64(r.Cores) - r.A.perSecond(r.A.CPU+r.A.GenCPU)
	r.SpareCores = r.A.perSecond(r.A.Machine.idle)
	if r.A.Machine == (machineTimes{}) {
		r.SpareCores = r.SpareCoresOwn
	}
	r.IdleCoresB = r.B.perSecond(r.B.IdleCPU)
	if r.SpareCores > 0 {
		r.SpareUsed = r.IdleCoresB / r.SpareCores
	}
	idleA, idleB := r.A.perSecond(r.A.Machine.idle), r.B.perSecond(r.B.Machine.idle)
	if idleA > 0 {
		r.MachineSpareUsed = 1 - idleB/idleA
	}
}

// String formats the result as the table docs/idle.md shows.
func (r Result) String() string {
	var b strings.Builder
	gen := "child process"
	if !r.ChildGenerator {
		gen = "in process"
	}
	arr := "Poisson"
	if !r.Poisson {
		arr = "constant"
	}
	procs := fmt.Sprint(r.Procs)
	if r.BaseProcs != 0 && r.BaseProcs != r.Procs {
		procs = fmt.Sprintf("%d (a: %d)", r.Procs, r.BaseProcs)
	}
	fmt.Fprintf(&b, "idle benchmark: %d cores, GOMAXPROCS %s, strategy %s, generator in %s, %s arrivals\n", r.Cores, procs, r.Strategy, gen, arr)
	offered := fmt.Sprintf("capacity %.0f req/s, offered %.0f req/s (%.0f%%)", r.Capacity, r.Rate, 100*r.Load)
	if r.Capacity == 0 {
		offered = fmt.Sprintf("capacity not measured, offered %.0f req/s (fixed)", r.Rate)
	}
	fmt.Fprintf(&b, "request work %v CPU, idle unit %v CPU; %s\n",
		r.WorkCost.Round(time.Microsecond), r.UnitCost.Round(100*time.Nanosecond), offered)
	fmt.Fprintf(&b, "%-24s %6s %8s %8s %8s %8s %10s %8s %8s %8s %8s %6s\n",
		"mode", "req/s", "p50", "p90", "p99", "max", "idle units", "idle CPU", "srv CPU", "gen CPU", "others", "steal")
	for _, m := range []struct {
		label string
		m     ModeResult
	}{{"a  no idle work", r.A}, {"b  idle via scheduler", r.B}, {r.cLabel(), r.C}} {
		others := m.m.others()
		fmt.Fprintf(&b, "%-24s %6.0f %8v %8v %8v %8v %10d %8.2f %8.2f %8.2f %8.2f %6.2f\n", m.label,
			float64(m.m.Requests)/max(m.m.Measured.Seconds(), 1e-9), ms(m.m.P50), ms(m.m.P90), ms(m.m.P99), ms(m.m.Max),
			m.m.Units, m.m.perSecond(m.m.IdleCPU), m.m.perSecond(m.m.CPU), m.m.perSecond(m.m.GenCPU),
			m.m.perSecond(others), m.m.perSecond(m.m.Machine.steal))
	}
	fmt.Fprintf(&b, "generator lag behind schedule: p50 %v, p99 %v\n", ms(r.LagP50), ms(r.LagP99))
	fmt.Fprintf(&b, "p99 b/a = %.2f (90%% interval %.2f-%.2f; target <= 1.10), p99 c/a = %.2f; p90 b/a = %.2f, c/a = %.2f; p50 b/a = %.2f, c/a = %.2f\n",
		r.P99RatioB, r.P99RatioBLow, r.P99RatioBHigh, r.P99RatioC, r.P90RatioB, r.P90RatioC, r.P50RatioB, r.P50RatioC)
	if r.SpareCores < minSpare {
		fmt.Fprintf(&b, "spare CPU in a: %.2f cores idle (%.2f if nothing else ran): too little to measure its use; idle work in b: %.2f cores\n",
			r.SpareCores, r.SpareCoresOwn, r.IdleCoresB)
	} else {
		fmt.Fprintf(&b, "spare CPU in a: %.2f cores idle (%.2f if nothing else ran); idle work in b: %.2f cores = %.0f%% of spare (target >= 80%%); a's idle time gone in b: %.0f%%\n",
			r.SpareCores, r.SpareCoresOwn, r.IdleCoresB, 100*r.SpareUsed, 100*r.MachineSpareUsed)
	}
	fmt.Fprintf(&b, "CPU columns are cores (CPU seconds per second); others = every other process on the machine\n")
	fmt.Fprintf(&b, "%-20s %11s %11s %10s %9s %11s %8s %11s %15s %11s %14s\n", "scheduling evidence", "arrival p50", "arrival p99", "stall p99", "preempted", "go wait p99", "gc stops", "gc stop max", "gc mark/assist", "kernel wait", "switches/s v/i")
	for _, m := range []struct {
		label string
		m     ModeResult
	}{{"a", r.A}, {"b", r.B}, {"c", r.C}} {
		vol, inv := m.m.Switches()
		ded, ast := m.m.GCCPUPerCycle()
		fmt.Fprintf(&b, "%-20s %11v %11v %10v %8.1f%% %11v %8d %11v %15s %11v %9.0f/%.0f\n", m.label, ms(m.m.ArrivalP50), ms(m.m.ArrivalP99), ms(m.m.StallP99), 100*m.m.Preempted, ms(m.m.GoWaitP99()), m.m.GCStops(), ms(m.m.GCStopMax()), ms(ded).String()+"/"+ms(ast).String(), m.m.KernelWait().Round(100*time.Nanosecond), vol, inv)
	}
	quiet := "quiet"
	if r.Disturbed {
		quiet = "DISTURBED: the ratios reflect the neighbours more than the idle work"
	}
	fmt.Fprintf(&b, "machine: load average %.2f before, %.2f after; other processes %.2f cores, steal %.2f: %s\n",
		r.LoadStart, r.LoadEnd, r.Others, r.Steal, quiet)
	if r.Overloaded {
		fmt.Fprintf(&b, "warning: overloaded: mode a's median latency is %v, over %d times the work; the machine's capacity fell below the offered load, so these figures mean little\n", ms(r.A.P50), OverloadFactor)
	}
	if r.B.Periods > 0 {
		fmt.Fprintf(&b, "b: %d idle periods, %d callbacks\n", r.B.Periods, r.B.Callback)
	}
	return b.String()
}

func (r Result) cLabel() string {
	if r.Compare != "" {
		return "c  via " + r.Compare
	}
	return "c  idle as goroutines"
}

// ms rounds d for display.
func ms(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Summary formats the medians of several runs' ratios: the figures to
// report on a shared, noisy machine, where one run's p99 moves with the
// neighbours.
func Summary(rs []Result) string {
	if len(rs) == 0 {
		return ""
	}
	med := func(f func(Result) float64) float64 {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d runs: p99 b/a = %.2f (target <= 1.10), p99 c/a = %.2f; p90 b/a = %.2f, c/a = %.2f; p50 b/a = %.2f, c/a = %.2f\n",
		len(rs),
		med(func(r Result) float64 { return r.P99RatioB }), med(func(r Result) float64 { return r.P99RatioC }),
		med(func(r Result) float64 { return r.P90RatioB }), med(func(r Result) float64 { return r.P90RatioC }),
		med(func(r Result) float64 { return r.P50RatioB }), med(func(r Result) float64 { return r.P50RatioC }))
	var spare []Result // runs that had spare CPU to measure the use of
	for _, r := range rs {
		if r.SpareCores >= minSpare {
			spare = append(spare, r)
		}
	}
	if len(spare) > 0 {
		v := make([]float64, 0, len(spare))
		for _, r := range spare {
			v = append(v, r.SpareUsed)
		}
		slices.Sort(v)
		m := v[len(v)/2]
		if n := len(v); n%2 == 0 {
			m = (v[n/2-1] + v[n/2]) / 2
		}
		fmt.Fprintf(&b, "medians of %d runs: idle work used %.0f%% of the spare CPU (target >= 80%%)\n", len(spare), 100*m)
	} else {
		fmt.Fprintf(&b, "no run left spare CPU (at least %.1f core idle in mode a) to measure the idle work's use of\n", minSpare)
	}
	p99b := make([]string, 0, len(rs))
	quiet := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.P99RatioBHigh > 0 {
			p99b = append(p99b, fmt.Sprintf("%.2f (%.2f-%.2f)", r.P99RatioB, r.P99RatioBLow, r.P99RatioBHigh))
		} else {
			p99b = append(p99b, fmt.Sprintf("%.2f", r.P99RatioB))
		}
		mark := ""
		if r.Disturbed {
			mark = "*"
		}
		quiet = append(quiet, fmt.Sprintf("%.2f%s", r.Others, mark))
	}
	fmt.Fprintf(&b, "p99 b/a per run (90%% interval): %s\n", strings.Join(p99b, " "))
	fmt.Fprintf(&b, "other processes' CPU per run, cores (* disturbed): %s\n", strings.Join(quiet, " "))
	var calm []Result
	for _, r := range rs {
		if !r.Disturbed {
			calm = append(calm, r)
		}
	}
	switch {
	case len(calm) == 0:
		fmt.Fprintf(&b, "every run was disturbed by other processes: these medians say little about the idle work\n")
	case len(calm) < len(rs):
		fmt.Fprintf(&b, "%d of %d runs were disturbed; the quiet ones alone:\n%s", len(rs)-len(calm), len(rs), Summary(calm))
	}
	return b.String()
}

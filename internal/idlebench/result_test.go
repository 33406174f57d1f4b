package idlebench

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Summary reports true medians (the mean of the middle two for an even
// count) and every run's p99 ratio.
func TestSummaryMedians(t *testing.T) {
	rs := []Result{
		{P99RatioB: 1.30, P99RatioC: 5, P90RatioB: 1.1, P90RatioC: 4, P50RatioB: 1.0, P50RatioC: 3, SpareUsed: 0.90, SpareCores: 0.8},
		{P99RatioB: 0.90, P99RatioC: 6, P90RatioB: 1.2, P90RatioC: 5, P50RatioB: 1.1, P50RatioC: 4, SpareUsed: 1.00, SpareCores: 0.8},
		{P99RatioB: 1.00, P99RatioC: 4, P90RatioB: 1.0, P90RatioC: 6, P50RatioB: 1.2, P50RatioC: 5, SpareUsed: 0.80, SpareCores: 0.8},
	}
	got := Summary(rs)
	for _, want := range []string{
		"medians of 3 runs: p99 b/a = 1.00 (target <= 1.10), p99 c/a = 5.00; p90 b/a = 1.10, c/a = 5.00; p50 b/a = 1.10, c/a = 4.00",
		"idle work used 90% of the spare CPU",
		"p99 b/a per run (90% interval): 1.30 0.90 1.00",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary of 3 lacks %q:\n%s", want, got)
		}
	}
	if got := Summary(rs[:2]); !strings.Contains(got, "p99 b/a = 1.10") {
		t.Errorf("Summary of 2: want the mean of the middle two, 1.10:\n%s", got)
	}
	if Summary(nil) != "" {
		t.Error("Summary(nil) is not empty")
	}
}

// Summary tells disturbed runs apart and gives the quiet ones' medians
// on their own.
func TestSummarySeparatesDisturbedRuns(t *testing.T) {
	rs := []Result{
		{P99RatioB: 1.00, Others: 0.02},
		{P99RatioB: 1.60, Others: 0.90, Disturbed: true},
		{P99RatioB: 1.04, Others: 0.05},
	}
	got := Summary(rs)
	for _, want := range []string{
		"other processes' CPU per run, cores (* disturbed): 0.02 0.90* 0.05",
		"1 of 3 runs were disturbed; the quiet ones alone:\nmedians of 2 runs: p99 b/a = 1.02",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary lacks %q:\n%s", want, got)
		}
	}
	if got := Summary(rs); !strings.Contains(got, "no run left spare CPU") {
		t.Errorf("Summary reports a share of spare CPU that no run had:\n%s", got)
	}
	if got := Summary(rs[1:2]); !strings.Contains(got, "every run was disturbed") {
		t.Errorf("Summary of disturbed runs only does not say so:\n%s", got)
	}
}

// Config.Compare must name a strategy with the same workers.
func TestConfigCompareValidated(t *testing.T) {
	for _, c := range []Config{{Compare: "nope"}, {Compare: "coop"}} {
		if _, _, _, err := c.withDefaults(); err == nil {
			t.Errorf("Compare %q accepted", c.Compare)
		}
	}
	if _, _, cmp, err := (Config{Strategy: "percore-flat", Compare: "percore"}).withDefaults(); err != nil || !cmp.LowPriority {
		t.Errorf("Compare percore: %+v, %v", cmp, err)
	}
}

// GOMAXPROCS: the default strategy leaves the requests two Ps per core
// while every worker holds its own; mode a runs with the same unless told
// otherwise; a compared strategy needs the same workers; NaN is no load.
func TestConfigProcs(t *testing.T) {
	cores := runtime.NumCPU()
	c, st, _, err := Config{}.withDefaults()
	if err != nil || st.Workers != cores || c.Procs != 3*cores || c.BaseProcs != c.Procs {
		t.Errorf("defaults: Procs %d, BaseProcs %d, %d workers, %v; want %d, the same, %d", c.Procs, c.BaseProcs, st.Workers, err, 3*cores, cores)
	}
	if c, _, _, err := (Config{Strategy: "percore-flat", BaseProcs: 1}).withDefaults(); err != nil || c.Procs != 2*cores || c.BaseProcs != 1 {
		t.Errorf("percore-flat: Procs %d, BaseProcs %d, %v; want %d, 1", c.Procs, c.BaseProcs, err, 2*cores)
	}
	if c, _, _, err := (Config{Strategy: "coop"}).withDefaults(); err != nil || c.Procs != cores {
		t.Errorf("coop: Procs %d, %v; want %d", c.Procs, err, cores)
	}
	for _, c := range []Config{{BaseProcs: -1}, {Procs: -1}, {Compare: "coop"}, {Load: math.NaN()}, {Rate: math.NaN()}, {Rate: math.Inf(1)}} {
		if _, _, _, err := c.withDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// Mode c runs at the run's GOMAXPROCS: a strategy that differs only
	// in its RequestProcs can be compared (as itself at these Ps).
	if c, _, cmp, err := (Config{Compare: "percore"}).withDefaults(); err != nil || c.Procs != 3*cores || !cmp.LowPriority {
		t.Errorf("Compare percore with the default: Procs %d, %+v, %v", c.Procs, cmp, err)
	}
}

// The bootstrap interval of a p99 ratio holds the true ratio: about 1 for
// the same distribution, about 2 when every latency is doubled, and it is
// wider for fewer segments.
func TestRatioInterval(t *testing.T) {
	mk := func(nSegs, perSeg int, scale time.Duration) [][]time.Duration {
		rng := rand.New(rand.NewPCG(7, uint64(nSegs)))
		out := make([][]time.Duration, nSegs)
		for i := range out {
			for range perSeg {
				out[i] = append(out[i], scale*time.Duration(1+rng.ExpFloat64()*1000))
			}
		}
		return out
	}
	den := mk(25, 60, time.Microsecond)
	if lo, hi := ratioInterval(mk(25, 60, time.Microsecond), den, 0.99, 1); lo > 1 || hi < 1 {
		t.Errorf("same distribution: interval %.2f-%.2f, want around 1", lo, hi)
	}
	if lo, hi := ratioInterval(mk(25, 60, 2*time.Microsecond), den, 0.99, 1); lo > 2 || hi < 2 {
		t.Errorf("doubled: interval %.2f-%.2f, want around 2", lo, hi)
	}
	lo1, hi1 := ratioInterval(mk(25, 60, time.Microsecond), den, 0.99, 1)
	lo2, hi2 := ratioInterval(mk(3, 10, time.Microsecond), den[:3], 0.99, 1)
	if hi2-lo2 <= hi1-lo1 {
		t.Errorf("3 small segments: interval %.2f-%.2f no wider than 25 large ones' %.2f-%.2f", lo2, hi2, lo1, hi1)
	}
	if lo, hi := ratioInterval(nil, den, 0.99, 1); lo != 0 || hi != 0 {
		t.Errorf("empty side: %v-%v, want zeros", lo, hi)
	}
}

// A calibration trial whose thread clock reads low does not skew the
// cost (the median of CPU times, not the fastest); wall times, which
// preemption inflates, take the fastest.
func TestTrialCost(t *testing.T) {
	ms := time.Millisecond
	trials := []time.Duration{10 * ms, 11 * ms, 1 * ms, 10 * ms, 12 * ms, 10 * ms, 40 * ms}
	if got := trialCost(trials, true); got != 10*ms {
		t.Errorf("thread CPU trials: %v, want the median 10ms", got)
	}
	if got := trialCost(trials, false); got != 1*ms {
		t.Errorf("wall trials: %v, want the fastest 1ms", got)
	}
	if got := trialCost(nil, true); got != 0 {
		t.Errorf("no trials: %v", got)
	}
}

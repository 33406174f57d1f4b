package idlebench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bgtask/bgtask/idle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunSmoke runs the whole benchmark briefly, with the generator in a
// child process and in this process, and checks what Run does whatever
// the machine's speed: each mode gets the requests scheduled in its
// segments (a fixed rate of constant arrivals, no capacity measured), no
// request fails, mode a runs no idle work, mode c's goroutines work, and
// the ratios are those of the percentiles. Whether mode b's SCHED_IDLE
// workers got any CPU depends on the machine's other load, and how much
// latency each mode had is the benchmark's business: neither is asserted.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HTTP load for seconds")
	}
	const (
		rate     = 100 // requests/s
		duration = 300 * time.Millisecond
		segment  = 200 * time.Millisecond
		guard    = 50 * time.Millisecond
	)
	for _, inProcess := range []bool{false, true} {
		procs := runtime.GOMAXPROCS(0)
		res, err := Run(context.Background(), Config{BaseProcs: 1,
			Duration: duration, Segment: segment, Guard: guard, Warmup: 100 * time.Millisecond,
			Rate: rate, Constant: true, InProcess: inProcess, QuietWait: -1, Logf: t.Logf,
		})
		if err != nil {
			t.Fatalf("Run(InProcess: %t): %v", inProcess, err)
		}
		t.Logf("\n%s", res)
		// Mode a runs at BaseProcs; b and c with the Ps the strategy
		// gives its workers; the process's own afterwards.
		if res.BaseProcs != 1 || res.Procs != 3*runtime.NumCPU() || res.A.Procs != 1 ||
			res.B.Procs != res.Procs || res.C.Procs != res.Procs || runtime.GOMAXPROCS(0) != procs {
			t.Fatalf("GOMAXPROCS: run %d, a %d (base %d), b %d, c %d, after %d; want a at 1, b and c at %d, %d restored after",
				res.Procs, res.A.Procs, res.BaseProcs, res.B.Procs, res.C.Procs, runtime.GOMAXPROCS(0), 3*runtime.NumCPU(), procs)
		}
		if res.Capacity != 0 || res.Rate != rate {
			t.Fatalf("capacity %v, rate %v; want 0 (not measured) and %v", res.Capacity, res.Rate, rate)
		}
		// perMode segments of segment-guard measured each: 2 × 150 ms at
		// 100 requests/s is 30 arrivals, give or take one at each edge.
		perMode := int(duration / (segment - guard))
		want := rate * perMode * int(segment-guard) / int(time.Second)
		for _, m := range []ModeResult{res.A, res.B, res.C} {
			if m.Requests < want-perMode || m.Requests > want+perMode || m.Errors != 0 {
				t.Fatalf("mode %s: %d requests, %d errors; want %d±%d and none", m.Name, m.Requests, m.Errors, want, perMode)
			}
			if m.P50 <= 0 || m.P50 > m.P90 || m.P90 > m.P99 || m.P99 > m.Max {
				t.Fatalf("mode %s: percentiles out of order: %+v", m.Name, m)
			}
			// Wall is not checked against Measured: on a saturated machine
			// stopping b's SCHED_IDLE workers can eat into the next
			// segment's wall time.
			if m.Measured != time.Duration(perMode)*(segment-guard) || m.Wall <= 0 {
				t.Fatalf("mode %s: measured %v of %v wall, want %v", m.Name, m.Measured, m.Wall, time.Duration(perMode)*(segment-guard))
			}
		}
		if res.A.Units != 0 || res.A.IdleCPU != 0 || res.A.Periods != 0 {
			t.Fatalf("mode a ran idle work: %+v", res.A)
		}
		if res.C.Units < int64(runtime.NumCPU()) || res.C.Periods != 0 {
			t.Fatalf("mode c: %d units, %d periods; want a unit per goroutine at least, no idle periods", res.C.Units, res.C.Periods)
		}
		if got, want := res.P99RatioB, float64(res.B.P99)/float64(res.A.P99); got != want {
			t.Fatalf("P99RatioB = %v, want B.P99/A.P99 = %v", got, want)
		}
		if got, want := res.P99RatioC, float64(res.C.P99)/float64(res.A.P99); got != want {
			t.Fatalf("P99RatioC = %v, want C.P99/A.P99 = %v", got, want)
		}
	}
}

// Mode b's workload does its units through idle schedulers: it works
// while its load source is idle, and stops and reports its counts when
// stopped. Ordinary threads, so that the machine's other load cannot
// starve it for long.
func TestSchedWorkloadWorksWhenIdle(t *testing.T) {
	t.Parallel()
	src := idle.NewCounter(1)
	w, err := startSched(Strategy{Workers: 1}, [][]idle.LoadSource{{src}}, &burner{rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	limit := time.Now().Add(10 * time.Second) // a failsafe, not a speed
	for w.units() == 0 && time.Now().Before(limit) {
		time.Sleep(time.Millisecond)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	if w.units() == 0 {
		t.Fatal("no unit of idle work done on an idle process")
	}
	if st := w.stats(); st.Ran == 0 || st.Periods == 0 {
		t.Fatalf("stats %+v: want callbacks run in idle periods", st)
	}
}

func TestConfigRejectsUnknownStrategy(t *testing.T) {
	if _, err := Run(context.Background(), Config{Strategy: "nope"}); err == nil {
		t.Fatal("unknown strategy accepted")
	}
}

// BenchmarkIdle runs the full benchmark once (use -benchtime 1x) and
// reports its figures as metrics. Environment variables override Config:
// BGTASK_IDLEBENCH_STRATEGY, BGTASK_IDLEBENCH_DURATION (per mode, e.g.
// 10s), BGTASK_IDLEBENCH_SEGMENT (e.g. 500ms), BGTASK_IDLEBENCH_LOAD,
// BGTASK_IDLEBENCH_INPROCESS=1, BGTASK_IDLEBENCH_CONSTANT=1.
func BenchmarkIdle(b *testing.B) {
	// The result goes to stdout: b.Log truncates long output.
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "idlebench: "+format+"\n", args...) }
	cfg := Config{Strategy: os.Getenv("BGTASK_IDLEBENCH_STRATEGY"), Logf: logf}
	if d, err := time.ParseDuration(os.Getenv("BGTASK_IDLEBENCH_DURATION")); err == nil {
		cfg.Duration = d
	}
	if d, err := time.ParseDuration(os.Getenv("BGTASK_IDLEBENCH_SEGMENT")); err == nil {
		cfg.Segment = d
	}
	cfg.Load, _ = strconv.ParseFloat(os.Getenv("BGTASK_IDLEBENCH_LOAD"), 64)
	cfg.InProcess = os.Getenv("BGTASK_IDLEBENCH_INPROCESS") == "1"
	cfg.Constant = os.Getenv("BGTASK_IDLEBENCH_CONSTANT") == "1"
	for range b.N {
		res, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Print(res)
		b.ReportMetric(res.A.P99.Seconds()*1e3, "p99-a-ms")
		b.ReportMetric(res.B.P99.Seconds()*1e3, "p99-b-ms")
		b.ReportMetric(res.C.P99.Seconds()*1e3, "p99-c-ms")
		b.ReportMetric(res.P99RatioB, "p99-b/a")
		b.ReportMetric(res.P99RatioC, "p99-c/a")
		b.ReportMetric(res.P90RatioB, "p90-b/a")
		b.ReportMetric(res.P90RatioC, "p90-c/a")
		b.ReportMetric(100*res.SpareUsed, "%spare-used")
		b.ReportMetric(100*res.MachineSpareUsed, "%machine-spare-used")
	}
}

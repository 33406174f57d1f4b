package idlebench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunSmoke runs the whole benchmark briefly, with the generator in a
// child process and in this process, and checks that every mode measured
// something. It asserts nothing about speed.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HTTP load for seconds")
	}
	for _, inProcess := range []bool{false, true} {
		res, err := Run(context.Background(), Config{
			Duration: 600 * time.Millisecond, Segment: 200 * time.Millisecond, Guard: 50 * time.Millisecond, Warmup: 100 * time.Millisecond,
			CapacityDuration: 300 * time.Millisecond, InProcess: inProcess, QuietWait: -1, Logf: t.Logf,
		})
		if err != nil {
			t.Fatalf("Run(InProcess: %t): %v", inProcess, err)
		}
		t.Logf("\n%s", res)
		if res.Capacity <= 0 || res.A.Requests == 0 || res.B.Requests == 0 || res.C.Requests == 0 {
			t.Fatalf("a mode served no requests: %+v", res)
		}
		if res.A.Units != 0 || res.B.Units == 0 || res.C.Units == 0 {
			t.Fatalf("idle units a/b/c = %d/%d/%d, want 0/>0/>0", res.A.Units, res.B.Units, res.C.Units)
		}
		if res.A.P99 <= 0 || res.P99RatioB <= 0 {
			t.Fatalf("no latency figures: %+v", res)
		}
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

package metrics_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/metrics"
)

// BenchmarkHook measures what the hook adds to every attempt: one
// BeforeRun and one AfterRun of a task seen before.
func BenchmarkHook(b *testing.B) {
	h, a, r := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.BeforeRun(ctx, a)
		h.AfterRun(ctx, a, r)
	}
}

// BenchmarkHookParallel is BenchmarkHook from GOMAXPROCS goroutines
// running the same task, the worst case for contention.
func BenchmarkHookParallel(b *testing.B) {
	h, a, r := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.BeforeRun(ctx, a)
			h.AfterRun(ctx, a, r)
		}
	})
}

func benchSetup(b *testing.B) (*metrics.Hook, *bgtask.AttemptInfo, *bgtask.AttemptResult) {
	h, err := metrics.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		run(h, fmt.Sprintf("task.%d", i), success(time.Second))
	}
	a := &bgtask.AttemptInfo{Name: "task.25"}
	r := &bgtask.AttemptResult{State: bgtask.StateSuccess, Duration: 150 * time.Millisecond}
	return h, a, r
}

// BenchmarkWriteTo measures a scrape of 50 tasks that each ended in two
// states.
func BenchmarkWriteTo(b *testing.B) {
	h, _, _ := benchSetup(b)
	for i := range 50 {
		run(h, fmt.Sprintf("task.%d", i), bgtask.AttemptResult{State: bgtask.StateFailure})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

package idle_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bgtask/bgtask/idle"
)

func startBench(b *testing.B, cfg *idle.Config) *idle.Scheduler {
	b.Helper()
	s, err := idle.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Stop(ctx) })
	return s
}

// BenchmarkRequestRun is the scheduler's overhead per callback: b.N
// requests from one goroutine, run by the scheduler's goroutine as they
// come (so the two contend for the lock), with an empty callback.
func BenchmarkRequestRun(b *testing.B) {
	s := startBench(b, &idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	var wg sync.WaitGroup
	cb := func(idle.Deadline) { wg.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for range b.N {
		s.Request(cb, nil)
	}
	wg.Wait()
}

// BenchmarkRequestRunTimeout is BenchmarkRequestRun with a timeout on
// every request (a timer armed and stopped per callback).
func BenchmarkRequestRunTimeout(b *testing.B) {
	s := startBench(b, &idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	var wg sync.WaitGroup
	cb := func(idle.Deadline) { wg.Done() }
	opts := &idle.RequestOpts{Timeout: 1 << 40}
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for range b.N {
		s.Request(cb, opts)
	}
	wg.Wait()
}

// BenchmarkRequestRunChained requests each callback from the previous one,
// the usual shape of idle work (do a slice, request the rest): everything
// stays on the scheduler's goroutine, one callback per idle period step.
func BenchmarkRequestRunChained(b *testing.B) {
	s := startBench(b, &idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	done := make(chan struct{})
	n := b.N
	var cb func(idle.Deadline)
	cb = func(idle.Deadline) {
		if n--; n == 0 {
			close(done)
			return
		}
		s.Request(cb, nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	s.Request(cb, nil)
	<-done
}

// BenchmarkTimeRemaining is the cost of the live deadline check that a
// CPU-heavy callback makes every few microseconds, with the two sources
// the benchmark server uses.
func BenchmarkTimeRemaining(b *testing.B) {
	s := startBench(b, &idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1), idle.NewInFlight(nil)}})
	d, release, err := s.Wait(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if d.TimeRemaining() < 0 {
			b.Fatal("negative")
		}
	}
}

// BenchmarkGateYield is the fast path of Gate.Yield, taken between units
// of gated work while the slice has time left.
func BenchmarkGateYield(b *testing.B) {
	s := startBench(b, &idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	g := s.NewGate(nil)
	defer g.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := g.Yield(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInFlightMiddleware is the middleware's cost per request.
func BenchmarkInFlightMiddleware(b *testing.B) {
	src := idle.NewInFlight(nil)
	h := src.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w, r := httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, r)
	}
}

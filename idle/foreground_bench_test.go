//go:build linux

package idle

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fgSink keeps the foreground's allocations alive for a while, so that
// they make garbage-collection cycles.
var fgSink [][]byte

// BenchmarkForegroundBesideIdleWork measures what idle work costs a
// foreground goroutine that allocates and sleeps, as a request handler
// does: each op is one "request" — about 1 ms of CPU that allocates
// 16 KiB every 10 µs, counted busy on every worker's Counter — then a
// 1 ms sleep. Beside it run runtime.NumCPU() schedulers whose chained
// callbacks burn 20 µs units while their deadline has time, with
// GOMAXPROCS = 2 × cores + workers, as the package documentation
// advises. Variants: no idle work; LowPriority workers busy at 1 request
// (coop) or at cores-k (staggered); ordinary workers busy at 1; and both
// kinds with no load source at all. Reported: the work's and the sleep's
// p99 wall time and the garbage-collection cycles per second. A SCHED_IDLE thread that
// holds a P while the kernel runs other threads keeps the garbage
// collector waiting (stop-the-world, stack scans), and with it every
// goroutine that allocates; see docs/idle.md.
func BenchmarkForegroundBesideIdleWork(b *testing.B) {
	cores := runtime.NumCPU()
	for _, v := range []struct {
		name    string
		workers int
		low     bool
		th      func(k int) int
	}{
		{"none", 0, false, nil},
		{"lowprio-coop", cores, true, func(int) int { return 1 }},
		{"lowprio-staggered", cores, true, func(k int) int { return max(1, cores-k) }},
		{"ordinary-coop", cores, false, func(int) int { return 1 }},
		// No load source (fallback mode): the workers never stand down,
		// so only the kernel's policy separates them from the foreground.
		{"lowprio-nosource", cores, true, nil},
		{"ordinary-nosource", cores, false, nil},
	} {
		b.Run(v.name, func(b *testing.B) { benchForeground(b, v.workers, v.low, v.th) })
	}
}

func benchForeground(b *testing.B, workers int, low bool, th func(int) int) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2*runtime.NumCPU() + workers))
	var counters []*Counter
	stop := make(chan struct{})
	ctx := context.Background()
	for k := range workers {
		var sources []LoadSource
		if th != nil {
			c := NewCounter(th(k))
			counters = append(counters, c)
			sources = append(sources, c)
		}
		s, err := New(&Config{Sources: sources, LowPriority: low})
		if err != nil {
			b.Fatal(err)
		}
		var cb func(Deadline)
		cb = func(d Deadline) {
			for d.TimeRemaining() > 0 {
				burnFor(20 * time.Microsecond)
			}
			select {
			case <-stop:
			default:
				s.Request(cb, nil)
			}
		}
		s.Request(cb, nil)
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer s.Stop(ctx)
	}
	defer close(stop)
	work := make([]time.Duration, 0, b.N)
	sleep := make([]time.Duration, 0, b.N)
	gc0 := gcCycles()
	b.ResetTimer()
	for range b.N {
		for _, c := range counters {
			c.Inc()
		}
		t0 := time.Now()
		for time.Since(t0) < time.Millisecond {
			fgSink = append(fgSink, make([]byte, 16<<10))
			if len(fgSink) > 256 {
				fgSink = fgSink[:0]
			}
			burnFor(10 * time.Microsecond)
		}
		work = append(work, time.Since(t0))
		for _, c := range counters {
			c.Dec()
		}
		t1 := time.Now()
		time.Sleep(time.Millisecond)
		sleep = append(sleep, time.Since(t1))
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	slices.Sort(work)
	slices.Sort(sleep)
	b.ReportMetric(float64(work[len(work)*99/100].Microseconds()), "work-p99-µs")
	b.ReportMetric(float64(sleep[len(sleep)*99/100].Microseconds()), "sleep-p99-µs")
	b.ReportMetric(float64(gcCycles()-gc0)/elapsed.Seconds(), "gc/s")
	fgSink = nil
}

func gcCycles() uint64 {
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return uint64(st.NumGC)
}

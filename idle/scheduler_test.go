package idle_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/idle"
)

func TestDeadlineWithinMaxPeriod(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.s.Request(e.rec.cb("a"), nil)
	c := e.rec.next(t)
	if c.Remaining > idle.DefaultMaxPeriod || c.Remaining <= 0 {
		t.Fatalf("TimeRemaining() = %v, want in (0, %v]", c.Remaining, idle.DefaultMaxPeriod)
	}
	if c.TimedOut {
		t.Fatal("DidTimeout() = true in an idle period")
	}
}

func TestDeadlineCountsDown(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *idle.Config) { c.MaxPeriod = 20 * time.Millisecond })
	var got []time.Duration
	e.s.Request(e.rec.cb("a", func(d idle.Deadline) {
		for range 3 {
			got = append(got, d.TimeRemaining())
			e.clk.Advance(8 * time.Millisecond)
		}
	}), nil)
	e.rec.next(t)
	want := []time.Duration{20 * time.Millisecond, 12 * time.Millisecond, 4 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("TimeRemaining() over time (-want +got):\n%s", diff)
	}
}

func TestDeadlineNeverNegative(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var after time.Duration
	e.s.Request(e.rec.cb("a", func(d idle.Deadline) {
		e.clk.Advance(2 * idle.DefaultMaxPeriod)
		after = d.TimeRemaining()
	}), nil)
	e.rec.next(t)
	if after != 0 {
		t.Fatalf("TimeRemaining() past the deadline = %v, want 0", after)
	}
}

func TestHandlesStartAtOneAndIncrease(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc() // nothing runs: only handles matter here
	for want := idle.Handle(1); want <= 5; want++ {
		if got := e.s.Request(func(idle.Deadline) {}, nil); got != want {
			t.Fatalf("handle = %d, want %d", got, want)
		}
	}
	if got := e.s.Request(nil, nil); got != 0 {
		t.Fatalf("Request(nil) = %d, want 0", got)
	}
}

func TestRunsInRequestOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc() // queue all 100 before any runs
	var want []string
	for i := range 100 {
		name := fmt.Sprint(i)
		want = append(want, name)
		e.s.Request(e.rec.cb(name), nil)
	}
	e.load.Dec()
	got := names(e.rec.nextN(t, 100))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
}

func TestRequestsFromCallbacksRunInALaterPeriodInOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	for _, outer := range []string{"a", "b"} {
		e.s.Request(e.rec.cb(outer, func(idle.Deadline) {
			for i := range 3 {
				e.s.Request(e.rec.cb(fmt.Sprint(outer, i)), nil)
			}
		}), nil)
	}
	e.load.Dec()
	calls := e.rec.nextN(t, 8)
	want := []string{"a", "b", "a0", "a1", "a2", "b0", "b1", "b2"}
	if diff := cmp.Diff(want, names(calls)); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
	if calls[0].Period != calls[1].Period {
		t.Fatalf("a and b ran in periods %d and %d, want one", calls[0].Period, calls[1].Period)
	}
	for _, c := range calls[2:] {
		if c.Period <= calls[1].Period {
			t.Fatalf("%s, requested in period %d, ran in period %d", c.Name, calls[1].Period, c.Period)
		}
	}
}

func TestSuccessivePeriodsDeadlinesIncrease(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var deadlines []time.Time
	var f func(n int) func(idle.Deadline)
	f = func(n int) func(idle.Deadline) {
		return func(d idle.Deadline) {
			deadlines = append(deadlines, e.clk.Now().Add(d.TimeRemaining()))
			e.clk.Advance(time.Millisecond) // the callback's work takes time
			if n > 1 {
				e.s.Request(f(n-1), nil)
			} else {
				e.s.Request(e.rec.cb("done"), nil)
			}
		}
	}
	e.s.Request(f(10), nil)
	e.rec.next(t)
	for i := 1; i < len(deadlines); i++ {
		if !deadlines[i].After(deadlines[i-1]) {
			t.Fatalf("deadline %d = %v, not after deadline %d = %v", i, deadlines[i], i-1, deadlines[i-1])
		}
	}
}

func TestLeftoversCarryOver(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	e.s.Request(e.rec.cb("a", func(idle.Deadline) { e.clk.Advance(idle.DefaultMaxPeriod) }), nil)
	e.s.Request(e.rec.cb("b"), nil)
	e.s.Request(e.rec.cb("c"), nil)
	e.load.Dec()
	calls := e.rec.nextN(t, 3)
	if diff := cmp.Diff([]string{"a", "b", "c"}, names(calls)); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
	if calls[1].Period == calls[0].Period {
		t.Fatal("b ran in the period a used up")
	}
	if calls[2].Period != calls[1].Period {
		t.Fatal("b and c, left over together, ran in different periods")
	}
	if calls[1].Remaining != idle.DefaultMaxPeriod {
		t.Fatalf("b's TimeRemaining() = %v, want a fresh %v", calls[1].Remaining, idle.DefaultMaxPeriod)
	}
}

func TestForegroundArrivalDropsDeadlineToZero(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var before, during time.Duration
	e.s.Request(e.rec.cb("a", func(d idle.Deadline) {
		before = d.TimeRemaining()
		e.load.Inc()
		during = d.TimeRemaining()
	}), nil)
	e.s.Request(e.rec.cb("b"), nil)
	e.rec.next(t)
	if before == 0 || during != 0 {
		t.Fatalf("TimeRemaining() before/after foreground work arrived = %v/%v, want >0/0", before, during)
	}
	// b, runnable in the same period, waits for the load to end.
	e.load.Dec()
	if c := e.rec.next(t); c.Name != "b" || c.Period == 1 {
		t.Fatalf("next call = %+v, want b in a later period", c)
	}
}

func TestKnownBusyTimeCapsDeadline(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.SetNextBusy(t0.Add(20 * time.Millisecond))
	e.s.Request(e.rec.cb("a"), nil)
	if c := e.rec.next(t); c.Remaining > 20*time.Millisecond {
		t.Fatalf("TimeRemaining() = %v, want <= 20ms (the announced busy time)", c.Remaining)
	}
}

func TestKnownBusyTimeAnnouncedDuringCallbackCapsDeadline(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var got time.Duration
	e.s.Request(e.rec.cb("a", func(d idle.Deadline) {
		e.load.SetNextBusy(e.clk.Now().Add(10 * time.Millisecond))
		got = d.TimeRemaining()
	}), nil)
	e.rec.next(t)
	if got > 10*time.Millisecond {
		t.Fatalf("TimeRemaining() = %v, want <= 10ms (announced during the callback)", got)
	}
}

func TestStaleBusyTimeDoesNotEndPeriods(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.SetNextBusy(t0.Add(-time.Millisecond)) // announced work never came
	e.s.Request(e.rec.cb("a"), nil)
	if c := e.rec.next(t); c.Remaining != idle.DefaultMaxPeriod {
		t.Fatalf("TimeRemaining() = %v, want %v", c.Remaining, idle.DefaultMaxPeriod)
	}
}

func TestCancelledCallbackNeverRuns(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	h := e.s.Request(e.rec.cb("cancelled"), nil)
	e.s.Request(e.rec.cb("kept"), nil)
	e.s.Cancel(h)
	e.load.Dec()
	e.flush(t)
	if c := e.rec.next(t); c.Name != "kept" {
		t.Fatalf("ran %q, want kept", c.Name)
	}
	e.rec.none(t)
}

func TestCancelRunnableFromCallback(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	var victim idle.Handle
	e.s.Request(e.rec.cb("a", func(idle.Deadline) { e.s.Cancel(victim) }), nil)
	victim = e.s.Request(e.rec.cb("victim"), nil)
	e.load.Dec()
	e.rec.next(t)
	e.flush(t)
	e.rec.none(t)
}

func TestCancelUnknownHandleIsNoOp(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.s.Cancel(0)
	e.s.Cancel(12345)
	e.s.Request(e.rec.cb("a"), nil)
	if c := e.rec.next(t); c.Name != "a" {
		t.Fatalf("ran %q", c.Name)
	}
	e.s.Cancel(1) // already ran
	if got := e.s.Stats().Cancelled; got != 0 {
		t.Fatalf("Stats().Cancelled = %d, want 0", got)
	}
}

func TestCallbackMayCancelItself(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	var self idle.Handle
	self = e.s.Request(e.rec.cb("self", func(idle.Deadline) { e.s.Cancel(self) }), nil)
	e.s.Request(e.rec.cb("next"), nil)
	if diff := cmp.Diff([]string{"self", "next"}, names(e.rec.nextN(t, 2))); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
}

func TestPanicDoesNotStopNextCallback(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var panics []string
	e := setup(t, func(c *idle.Config) {
		c.PanicHandler = func(h idle.Handle, v any, stack []byte) {
			mu.Lock()
			defer mu.Unlock()
			panics = append(panics, fmt.Sprintf("%d:%v:%t", h, v, len(stack) > 0))
		}
	})
	e.load.Inc()
	e.s.Request(func(idle.Deadline) { panic("boom") }, nil)
	e.s.Request(e.rec.cb("after"), nil)
	e.load.Dec()
	if c := e.rec.next(t); c.Name != "after" || c.Period != 1 {
		t.Fatalf("next call = %+v, want after in the same period", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"1:boom:true"}, panics); diff != "" {
		t.Fatalf("panics reported (-want +got):\n%s", diff)
	}
	if got := e.s.Stats().Panicked; got != 1 {
		t.Fatalf("Stats().Panicked = %d, want 1", got)
	}
}

func TestPanicLoggedByDefault(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	e := setup(t, func(c *idle.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	e.s.Request(func(idle.Deadline) { panic("boom") }, nil)
	e.flush(t)
	if got := buf.String(); !strings.Contains(got, "callback panicked") || !strings.Contains(got, "panic=boom") {
		t.Fatalf("log = %q, want the panic", got)
	}
}

func TestFallbackGivesEachCallbackFixedBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *idle.Config) { c.Sources = nil })
	e.s.Request(e.rec.cb("a", func(idle.Deadline) { e.clk.Advance(40 * time.Millisecond) }), nil)
	e.s.Request(e.rec.cb("b"), nil)
	calls := e.rec.nextN(t, 2)
	for _, c := range calls {
		if c.Remaining != idle.DefaultMaxPeriod || c.TimedOut {
			t.Fatalf("%s: TimeRemaining()=%v DidTimeout()=%t, want %v false", c.Name, c.Remaining, c.TimedOut, idle.DefaultMaxPeriod)
		}
	}
	if calls[0].Period == calls[1].Period {
		t.Fatal("fallback ran two callbacks in one period")
	}
}

func TestRequestsBeforeStartRunAfterStart(t *testing.T) {
	t.Parallel()
	s, err := idle.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	s.Request(func(idle.Deadline) { close(ran) }, nil)
	ctx := context.Background()
	for range 2 {
		if err := s.Start(ctx); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	select {
	case <-ran:
	case <-time.After(failsafe):
		t.Fatal("callback did not run after Start")
	}
	for range 2 {
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
}

func TestStopNeverStartedAndRestart(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	if err := e.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e.s.Request(e.rec.cb("queued while stopped"), nil)
	if err := e.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.next(t); c.Name != "queued while stopped" {
		t.Fatalf("ran %q", c.Name)
	}
	s, _ := idle.New(nil)
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop of a never-started scheduler: %v", err)
	}
}

func TestStopWaitsForRunningCallbackUntilContextEnds(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	e.s.Request(func(idle.Deadline) { close(started); <-release }, nil)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.s.Stop(ctx); err != context.Canceled {
		t.Fatalf("Stop with a blocked callback = %v, want context.Canceled", err)
	}
	close(release)
	if err := e.s.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStartContextCancelThenRestart(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	_ = e.s.Stop(ctx)
	cctx, cancel := context.WithCancel(ctx)
	if err := e.s.Start(cctx); err != nil {
		t.Fatal(err)
	}
	cancel() // hard stop
	if err := e.s.Stop(ctx); err != nil {
		t.Fatalf("Stop after a hard stop: %v", err)
	}
	if err := e.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.s.Request(e.rec.cb("after restart"), nil)
	if c := e.rec.next(t); c.Name != "after restart" {
		t.Fatalf("ran %q", c.Name)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  idle.Config
		want string
	}{
		{"negative period", idle.Config{MaxPeriod: -1}, "MaxPeriod"},
		{"nil source", idle.Config{Sources: []idle.LoadSource{nil}}, "Sources[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := idle.New(&tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the scheduler's goroutine to
// write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Stats.Running says whether a callback runs now.
func TestStatsRunning(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	inside := make(chan bool, 1)
	release := make(chan struct{})
	e.s.Request(func(idle.Deadline) {
		inside <- e.s.Stats().Running
		<-release
	}, nil)
	if !<-inside {
		t.Fatal("Stats().Running false inside a callback")
	}
	close(release)
	for range 10_000 { // bounded: the callback has returned or soon will
		if !e.s.Stats().Running {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("Stats().Running still true after the callback returned")
}

package idle_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/idle"
)

func TestTimeoutUnderContinuousLoad(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc() // foreground work for the whole test, until the end
	e.s.Request(e.rec.cb("no timeout"), nil)
	e.s.Request(e.rec.cb("timeout"), &idle.RequestOpts{Timeout: 100 * time.Millisecond})
	e.clk.Advance(99 * time.Millisecond)
	e.clk.Advance(time.Millisecond)
	c := e.rec.next(t)
	want := call{Name: "timeout", Remaining: 0, TimedOut: true, At: 100 * time.Millisecond}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("timed-out call (-want +got):\n%s", diff)
	}
	// The one without a timeout still waits, however long the load lasts.
	e.clk.Advance(time.Hour)
	e.rec.none(t)
	e.load.Dec()
	c = e.rec.next(t)
	if c.Name != "no timeout" || c.TimedOut || c.Remaining == 0 {
		t.Fatalf("call after the load = %+v, want no timeout in an idle period", c)
	}
	// The timed-out one left both lists: it does not run again.
	e.flush(t)
	e.rec.none(t)
}

func TestTimedOutCallbackOvertakesRunnable(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	e.s.Request(e.rec.cb("a", func(idle.Deadline) { e.clk.Advance(10 * time.Millisecond) }), nil)
	e.s.Request(e.rec.cb("b"), nil)
	e.s.Request(e.rec.cb("c"), &idle.RequestOpts{Timeout: 10 * time.Millisecond})
	e.load.Dec() // one period: a, b and c all runnable
	calls := e.rec.nextN(t, 3)
	if diff := cmp.Diff([]string{"a", "c", "b"}, names(calls)); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
	if !calls[1].TimedOut || calls[1].Remaining != 0 {
		t.Fatalf("c = %+v, want DidTimeout and no time remaining", calls[1])
	}
	if calls[2].TimedOut || calls[2].Period != calls[0].Period {
		t.Fatalf("b = %+v, want an idle run in a's period", calls[2])
	}
}

func TestCancelDefusesTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc()
	h := e.s.Request(e.rec.cb("cancelled"), &idle.RequestOpts{Timeout: time.Second})
	if n := e.clk.Timers(); n != 1 {
		t.Fatalf("armed timers = %d, want 1", n)
	}
	e.s.Cancel(h)
	if n := e.clk.Timers(); n != 0 {
		t.Fatalf("armed timers after Cancel = %d, want 0", n)
	}
	e.clk.Advance(2 * time.Second)
	e.load.Dec()
	e.flush(t)
	e.rec.none(t)
}

func TestCancelAfterTimeoutFiredBeforeItRan(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	block, blocked := make(chan struct{}), make(chan struct{})
	e.s.Request(func(idle.Deadline) { close(blocked); <-block }, nil)
	<-blocked // the scheduler is busy running that callback
	h := e.s.Request(e.rec.cb("cancelled"), &idle.RequestOpts{Timeout: time.Millisecond})
	e.clk.Advance(time.Millisecond) // the timeout fires; the callback waits its turn
	e.s.Cancel(h)
	close(block)
	e.flush(t)
	e.rec.none(t)
}

func TestRanCallbackDisarmsTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.s.Request(e.rec.cb("a"), &idle.RequestOpts{Timeout: time.Second})
	if c := e.rec.next(t); c.TimedOut {
		t.Fatal("ran as timed out")
	}
	e.flush(t)
	if n := e.clk.Timers(); n != 0 {
		t.Fatalf("armed timers after the run = %d, want 0", n)
	}
	e.clk.Advance(2 * time.Second)
	e.flush(t)
	e.rec.none(t)
}

// The timeout and the idle run race; exactly one of them calls the
// callback. The fake clock fires the timeout from the test's goroutine
// while the scheduler's goroutine starts an idle period.
func TestTimeoutRacesIdleRunFakeClock(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	outcomes := map[bool]int{}
	for range 500 {
		var calls atomic.Int32
		var timedOut atomic.Bool
		done := make(chan struct{})
		e.s.Request(func(d idle.Deadline) {
			timedOut.Store(d.DidTimeout())
			calls.Add(1)
			close(done) // a second call would panic here
		}, &idle.RequestOpts{Timeout: time.Millisecond})
		e.clk.Advance(time.Millisecond)
		<-done
		e.flush(t) // a duplicate would run before the marker
		if n := calls.Load(); n != 1 {
			t.Fatalf("callback called %d times, want 1", n)
		}
		outcomes[timedOut.Load()]++
	}
	t.Logf("timed out / idle run: %d / %d", outcomes[true], outcomes[false])
}

func TestTimeoutRacesIdleRunRealClock(t *testing.T) {
	t.Parallel()
	s, err := idle.New(&idle.Config{Clock: clock.Real, Sources: []idle.LoadSource{idle.NewCounter(1)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	const n = 300
	var wg sync.WaitGroup
	counts := make([]atomic.Int32, n)
	wg.Add(n)
	for i := range n {
		s.Request(func(idle.Deadline) {
			counts[i].Add(1)
			wg.Done()
		}, &idle.RequestOpts{Timeout: time.Duration(i%5) * time.Microsecond})
	}
	wg.Wait()
	marker := make(chan struct{})
	s.Request(func(idle.Deadline) { close(marker) }, nil)
	<-marker
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Fatalf("callback %d called %d times, want 1", i, c)
		}
	}
}

// Callbacks whose timeouts have expired run in request order, whatever
// order their timeouts expired in: a runs before b although b's shorter
// timeout expired first, because both are due when the scheduler picks.
func TestTimedOutCallbacksRunInRequestOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Inc() // no idle period: only timeouts run callbacks
	release := make(chan struct{})
	e.s.Request(e.rec.cb("blocker", func(idle.Deadline) { <-release }), &idle.RequestOpts{Timeout: time.Millisecond})
	e.clk.Advance(time.Millisecond) // the blocker runs, and holds the scheduler
	e.s.Request(e.rec.cb("a"), &idle.RequestOpts{Timeout: 20 * time.Millisecond})
	e.s.Request(e.rec.cb("b"), &idle.RequestOpts{Timeout: 10 * time.Millisecond})
	e.s.Request(e.rec.cb("c"), &idle.RequestOpts{Timeout: 15 * time.Millisecond})
	e.clk.Advance(20 * time.Millisecond) // b, c, then a expire
	close(release)
	calls := e.rec.nextN(t, 4)
	if diff := cmp.Diff([]string{"blocker", "a", "b", "c"}, names(calls)); diff != "" {
		t.Fatalf("run order (-want +got):\n%s", diff)
	}
	for _, c := range calls {
		if !c.TimedOut {
			t.Fatalf("%s ran in an idle period under load", c.Name)
		}
	}
}

// The same on the real clock, where timeouts that expire together fire
// on goroutines of their own: callbacks with equal timeouts, requested in
// a row under continuous load, run in request order.
func TestTimedOutCallbacksRunInRequestOrderRealClock(t *testing.T) {
	t.Parallel()
	load := idle.NewCounter(1)
	load.Inc()
	s, err := idle.New(&idle.Config{Sources: []idle.LoadSource{load}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	const n = 200
	order := make(chan int, n)
	for i := range n {
		s.Request(func(idle.Deadline) { order <- i }, &idle.RequestOpts{Timeout: time.Millisecond})
	}
	for want := range n {
		select {
		case got := <-order:
			if got != want {
				t.Fatalf("callback %d ran in place %d", got, want)
			}
		case <-time.After(failsafe):
			t.Fatalf("callback %d did not run", want)
		}
	}
}

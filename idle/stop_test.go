package idle_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/idle"
)

// stopRounds repeats the cancellation tests on fresh schedulers: the
// fault they guard against (the context's cancellation reaching the
// scheduler's goroutine late, through a goroutine of its own) shows up as
// a race, most of the time but not always in one round.
const stopRounds = 50

// Cancelling Start's context from inside a callback stops every later
// callback at once: one already runnable in the same period, one the
// callback requests after the cancel, and one whose timeout fired while
// the callback ran. They stay queued and run, in order, after the next
// Start.
func TestStartContextCancelStopsEveryLaterCallback(t *testing.T) {
	t.Parallel()
	for round := range stopRounds {
		clk := clock.NewFake(t0)
		s, err := idle.New(&idle.Config{Clock: clk, Sources: []idle.LoadSource{idle.NewCounter(1)}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan string, 10)
		var remainingAfterCancel time.Duration
		s.Request(func(d idle.Deadline) {
			clk.Advance(time.Millisecond) // "timed out" expires now
			cancel()
			remainingAfterCancel = d.TimeRemaining()
			s.Request(func(idle.Deadline) { ran <- "requested inside" }, nil)
			ran <- "first"
		}, nil)
		s.Request(func(idle.Deadline) { ran <- "runnable" }, nil)
		s.Request(func(idle.Deadline) { ran <- "timed out" }, &idle.RequestOpts{Timeout: time.Millisecond})
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if got := <-ran; got != "first" {
			t.Fatalf("round %d: first callback to run = %q", round, got)
		}
		// Stop waits for the goroutine to exit: whatever it ran has run.
		stopCtx, stopCancel := context.WithTimeout(context.Background(), failsafe)
		if err := s.Stop(stopCtx); err != nil {
			t.Fatalf("round %d: Stop: %v", round, err)
		}
		stopCancel()
		select {
		case got := <-ran:
			t.Fatalf("round %d: %q ran after Start's context was cancelled", round, got)
		default:
		}
		if remainingAfterCancel != 0 {
			t.Fatalf("round %d: TimeRemaining() after the cancel = %v, want 0", round, remainingAfterCancel)
		}
		if q := s.Stats().Queued; q != 3 {
			t.Fatalf("round %d: %d callbacks queued after the hard stop, want 3", round, q)
		}
		// Nothing was lost: a new Start runs them, the timed-out one first.
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := []string{<-ran, <-ran, <-ran}
		if diff := cmp.Diff([]string{"timed out", "runnable", "requested inside"}, got); diff != "" {
			t.Fatalf("round %d: order after restart (-want +got):\n%s", round, diff)
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Stop, like the context, turns the running callback's deadline to 0, so
// that a cooperative callback returns at once and Stop does not wait for
// the rest of the period. The fake clock does not move: only Stop can end
// the callback's loop before the failsafe.
func TestStopEndsRunningCallbacksDeadline(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	started := make(chan struct{})
	gaveUp := make(chan bool, 1)
	e.s.Request(func(d idle.Deadline) {
		close(started)
		limit := time.Now().Add(failsafe)
		for d.TimeRemaining() > 0 && time.Now().Before(limit) {
			runtime.Gosched()
		}
		gaveUp <- d.TimeRemaining() > 0
	}, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 2*failsafe)
	defer cancel()
	if err := e.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if <-gaveUp {
		t.Fatal("TimeRemaining() stayed above 0 while Stop waited for the callback")
	}
}

// Start while a cancelled run still runs its callback is refused rather
// than mistaken for "already running" (which left the scheduler stopped);
// after Stop it starts again.
func TestStartWhileCancelledRunFinishes(t *testing.T) {
	t.Parallel()
	s, err := idle.New(&idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	s.Request(func(idle.Deadline) { close(started); <-release }, nil)
	<-started
	cancel()
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start while the cancelled run's callback runs = nil, want an error")
	}
	close(release)
	bg := context.Background()
	if err := s.Stop(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(bg)
	ran := make(chan struct{})
	s.Request(func(idle.Deadline) { close(ran) }, nil)
	select {
	case <-ran:
	case <-time.After(failsafe):
		t.Fatal("no callback ran after the restart")
	}
}

package clock_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
)

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	f := clock.NewFake(start)
	var got []int
	var at []time.Duration
	for i, d := range []time.Duration{30, 10, 20, 10} {
		f.AfterFunc(d*time.Millisecond, func() {
			got = append(got, i)
			at = append(at, f.Now().Sub(start))
		})
	}
	f.Advance(25 * time.Millisecond)
	if want := []int{1, 3, 2}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if at[2] != 20*time.Millisecond {
		t.Fatalf("third timer saw clock at %v, want 20ms", at[2])
	}
	if f.Now().Sub(start) != 25*time.Millisecond {
		t.Fatalf("clock at %v after Advance, want 25ms", f.Now().Sub(start))
	}
	if f.Timers() != 1 {
		t.Fatalf("Timers() = %d, want 1", f.Timers())
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an active timer reported false")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported true")
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}

func TestFakeWaitTimers(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(time.Unix(0, 0))
	go f.NewTimer(time.Minute)
	if !f.WaitTimers(1, nil) {
		t.Fatal("WaitTimers returned false")
	}
}

func TestSleep(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(context.Background(), f, time.Second) }()
	if !f.WaitTimers(1, nil) {
		t.Fatal("Sleep armed no timer")
	}
	f.Advance(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Sleep returned %v before its duration", err)
	default:
	}
	f.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Sleep after its duration: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- clock.Sleep(ctx, f, time.Hour) }()
	f.WaitTimers(1, nil)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep with a cancelled context: %v, want context.Canceled", err)
	}
	if f.Timers() != 0 {
		t.Fatalf("Sleep left %d timers armed", f.Timers())
	}
	if err := clock.Sleep(ctx, f, 0); err != nil {
		t.Fatalf("Sleep(0): %v, want nil at once", err)
	}
}

package clock_test

import (
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

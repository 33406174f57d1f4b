package idle_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/idle"
)

func TestCounterBusyAtThreshold(t *testing.T) {
	t.Parallel()
	c := idle.NewCounter(2)
	var notified atomic.Int32
	stop := c.Watch(func() { notified.Add(1) })
	steps := []struct {
		delta    int
		busy     bool
		notified int32
	}{
		{+1, false, 0},
		{+1, true, 1}, // reached the threshold
		{+1, true, 1}, // no flip, no notification
		{-1, true, 1},
		{-1, false, 2},
		{-1, false, 2},
	}
	for i, st := range steps {
		c.Add(st.delta)
		if got := c.Busy(); got != st.busy {
			t.Fatalf("step %d: Busy() = %t, want %t", i, got, st.busy)
		}
		if got := notified.Load(); got != st.notified {
			t.Fatalf("step %d: notifications = %d, want %d", i, got, st.notified)
		}
	}
	if got := c.Value(); got != 0 {
		t.Fatalf("Value() = %d, want 0", got)
	}
	stop()
	stop() // idempotent
	c.Inc()
	c.Inc()
	if got := notified.Load(); got != 2 {
		t.Fatalf("notified after stop: %d", got)
	}
}

func TestCounterThresholdBelowOneMeansOne(t *testing.T) {
	t.Parallel()
	c := idle.NewCounter(0)
	if c.Busy() {
		t.Fatal("busy at 0")
	}
	c.Inc()
	if !c.Busy() {
		t.Fatal("not busy at 1")
	}
}

func TestCounterNextBusy(t *testing.T) {
	t.Parallel()
	c := idle.NewCounter(1)
	var notified atomic.Int32
	c.Watch(func() { notified.Add(1) })
	if _, ok := c.NextBusy(); ok {
		t.Fatal("NextBusy set on a new Counter")
	}
	at := t0.Add(time.Minute)
	c.SetNextBusy(at)
	if got, ok := c.NextBusy(); !ok || !got.Equal(at) {
		t.Fatalf("NextBusy() = %v, %t; want %v, true", got, ok, at)
	}
	c.SetNextBusy(time.Time{})
	if _, ok := c.NextBusy(); ok {
		t.Fatal("NextBusy still set after clearing")
	}
	if got := notified.Load(); got != 2 {
		t.Fatalf("notifications = %d, want 2", got)
	}
}

// The scheduler reacts to a source's notification without polling: a
// callback queued while busy runs as soon as the load ends.
func TestSchedulerWakesOnLoadEnd(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.load.Add(3)
	e.s.Request(e.rec.cb("a"), nil)
	e.load.Add(-2)
	e.rec.none(t) // still busy; no clock movement will change that
	e.load.Dec()
	if c := e.rec.next(t); c.Name != "a" {
		t.Fatalf("ran %q", c.Name)
	}
}

func TestSeveralSourcesAnyBusyIsBusy(t *testing.T) {
	t.Parallel()
	other := idle.NewCounter(1)
	e := setup(t, func(c *idle.Config) { c.Sources = append(c.Sources, other) })
	other.Inc()
	e.s.Request(e.rec.cb("a"), &idle.RequestOpts{Timeout: time.Second})
	e.clk.Advance(time.Second)
	if c := e.rec.next(t); !c.TimedOut {
		t.Fatalf("ran %+v while the second source was busy", c)
	}
	other.Dec()
	other.SetNextBusy(e.clk.Now().Add(5 * time.Millisecond))
	e.s.Request(e.rec.cb("b"), nil)
	if c := e.rec.next(t); c.Remaining != 5*time.Millisecond {
		t.Fatalf("TimeRemaining() = %v, want 5ms (the second source's busy time)", c.Remaining)
	}
}

// Package clock abstracts time for bgtask's services so that tests can
// drive heartbeats, leases, timeouts and idle deadlines without sleeping.
// Production code uses Real; tests use a Fake and advance it.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on C() after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d (Real) or from the
	// goroutine that advances the clock past the deadline (Fake). C() of the
	// returned timer is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a time.Timer behind an interface.
type Timer interface {
	// C returns the channel the time is sent on (nil for AfterFunc timers).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset changes the timer to fire after d; it reports whether the timer
	// had been active.
	Reset(d time.Duration) bool
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// OrReal returns c, or Real when c is nil. Config structs use it for their
// zero value.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Sleep waits d on c, or until ctx ends: it returns nil after d, ctx.Err()
// if ctx ended first, and nil at once for d <= 0. Run functions use it
// (with Real) to wait without outliving their context.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

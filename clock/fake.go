package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Timers fire, in deadline
// order, from the goroutine that calls Advance or Set. It is safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers change
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// AfterFunc returns a timer that calls fn when the clock reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing every timer that comes due,
// in deadline order, each with the clock set to its deadline.
func (f *Fake) Advance(d time.Duration) {
	f.Set(f.Now().Add(d))
}

// Set moves the clock to t (never backwards), firing due timers in order.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		if len(f.timers) == 0 || f.timers[0].when.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		ft := f.timers[0]
		f.timers = f.timers[1:]
		ft.active = false
		if ft.when.After(f.now) {
			f.now = ft.when
		}
		now := f.now
		f.notifyLocked()
		f.mu.Unlock()
		ft.fire(now)
	}
}

// Timers returns the number of active timers.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NextDeadline returns the earliest active timer's deadline and true, or
// false if none is active.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	return f.timers[0].when, true
}

// WaitTimers blocks until at least n timers are active or done is closed;
// it reports whether n were reached. Tests use it to know that a goroutine
// has armed its timer before they advance the clock.
func (f *Fake) WaitTimers(n int, done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		if len(f.timers) >= n {
			f.mu.Unlock()
			return true
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) removeLocked(t *fakeTimer) bool {
	if !t.active {
		return false
	}
	i := slices.Index(f.timers, t)
	f.timers = slices.Delete(f.timers, i, i+1)
	t.active = false
	return true
}

func (f *Fake) addLocked(t *fakeTimer) {
	i, _ := slices.BinarySearchFunc(f.timers, t.when, func(x *fakeTimer, w time.Time) int {
		if x.when.After(w) {
			return 1
		}
		return -1 // equal deadlines keep insertion order
	})
	f.timers = slices.Insert(f.timers, i, t)
	t.active = true
}

type fakeTimer struct {
	clock  *Fake
	ch     chan time.Time
	fn     func()
	when   time.Time // guarded by clock.mu
	active bool      // guarded by clock.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	ok := t.clock.removeLocked(t)
	if ok {
		t.clock.notifyLocked()
	}
	return ok
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	was := f.removeLocked(t)
	t.when = f.now.Add(d)
	f.addLocked(t)
	f.notifyLocked()
	f.mu.Unlock()
	if d <= 0 {
		f.Set(f.Now()) // fire at once, like a zero-duration time.Timer
	}
	return was
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		t.fn()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

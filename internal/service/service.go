// Package service gives the manager's background services (claimer, lease
// keeper, completer, event tail, janitor, progress flusher) one start/stop
// shape: a goroutine that calls the service's runOnce on a timer, when
// woken, or back to back, until it is stopped.
//
// Each service is a small type with a runOnce(ctx) that a test can call
// alone; the Loop only decides when it runs.
package service

import (
	"context"
	"sync"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// Loop runs RunOnce in one goroutine from Start until Stop.
//
// RunOnce runs when Wake is called, when Interval has passed since the
// last run (if Interval > 0), and right after Start. With Interval 0 and
// BackToBack set, it runs again as soon as it returns: such a RunOnce
// blocks on its own (a read with a timeout) and returns when its context
// ends.
type Loop struct {
	// Interval between runs; 0: only Wake (or BackToBack) runs it.
	Interval time.Duration
	// BackToBack runs RunOnce again as soon as it returns.
	BackToBack bool
	// Clock drives Interval. Default clock.Real.
	Clock clock.Clock
	// RunOnce does one round of the service's work. Its context ends at
	// Stop.
	RunOnce func(ctx context.Context)

	mu      sync.Mutex // guards started, cancel, done
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	wake    chan struct{}
	once    sync.Once
}

func (l *Loop) init() {
	l.once.Do(func() { l.wake = make(chan struct{}, 1) })
}

// Start starts the loop; later calls do nothing. The loop's context derives
// from ctx: cancelling ctx stops it as Stop does.
func (l *Loop) Start(ctx context.Context) {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go l.run(ctx)
}

// Wake asks for a run soon; wakes that arrive while one is pending merge.
func (l *Loop) Wake() {
	l.init()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Stop stops the loop and waits until the current run returns, or until
// ctx ends (then it returns ctx's error; the loop still stops). It is safe
// to call more than once, and before Start.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	if !l.started {
		l.started = true // a later Start does nothing
		l.mu.Unlock()
		return nil
	}
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Loop) run(ctx context.Context) {
	defer close(l.done)
	clk := clock.OrReal(l.Clock)
	var tick <-chan time.Time
	var timer clock.Timer
	if l.Interval > 0 {
		timer = clk.NewTimer(l.Interval)
		defer timer.Stop()
		tick = timer.C()
	}
	for {
		if ctx.Err() != nil {
			return
		}
		l.RunOnce(ctx)
		if l.BackToBack {
			continue
		}
		select {
		case <-l.wake: // the timer keeps its schedule
		case <-tick:
			timer.Reset(l.Interval)
		case <-ctx.Done():
			return
		}
	}
}

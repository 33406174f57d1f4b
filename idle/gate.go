package idle

import (
	"context"
	"sync"
	"time"
)

// Wait requests a callback with opts and blocks until it runs, then hands
// its idle period to the caller: it returns the callback's Deadline and a
// release function. Until release is called the callback does not return,
// so the scheduler runs nothing else — the caller's goroutine owns the
// period. Call release (it is idempotent) when TimeRemaining reaches 0 or
// the work is done. If ctx ends first, the request is cancelled and Wait
// returns ctx.Err().
//
// Wait is the building block of Gate; most callers want a Gate.
func (s *Scheduler) Wait(ctx context.Context, opts *RequestOpts) (Deadline, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	got := make(chan Deadline)
	release := make(chan struct{})
	abandon := make(chan struct{})
	h := s.Request(func(d Deadline) {
		select {
		case got <- d:
			<-release
		case <-abandon: // the waiter left after the callback started
		}
	}, opts)
	select {
	case d := <-got:
		var once sync.Once
		return d, func() { once.Do(func() { close(release) }) }, nil
	case <-ctx.Done():
		s.Cancel(h)
		close(abandon)
		return nil, nil, ctx.Err()
	}
}

// Gate runs long work from its own goroutine in idle slices: the bridge
// between a task that runs for minutes and callbacks that last at most
// MaxPeriod. The task calls Yield between units of work; Yield returns at
// once while the current slice has time left, and otherwise hands the
// period back and blocks until the next callback runs. With a
// RequestOpts.Timeout every slice is guaranteed to come within the timeout,
// so the work progresses by at least one unit per timeout even under
// continuous foreground load.
//
// A Gate belongs to one goroutine. Close it when the work ends, or the
// scheduler stays blocked in the held callback.
type Gate struct {
	s       *Scheduler
	opts    RequestOpts
	dl      Deadline // the slice held; nil if none
	release func()
}

// NewGate returns a Gate whose slices are requested with opts.
func (s *Scheduler) NewGate(opts *RequestOpts) *Gate {
	g := &Gate{s: s}
	if opts != nil {
		g.opts = *opts
	}
	return g
}

// Yield returns nil at once if the gate holds a slice with time left.
// Otherwise it ends the slice it holds, if any, and waits for the next one;
// it then returns nil even if that slice came from a timeout (TimeRemaining
// 0), so that the caller does one unit of work per slice at least. It
// returns ctx.Err() if ctx ends while it waits.
func (g *Gate) Yield(ctx context.Context) error {
	if g.dl != nil && g.dl.TimeRemaining() > 0 {
		return nil
	}
	g.Close()
	dl, release, err := g.s.Wait(ctx, &g.opts)
	if err != nil {
		return err
	}
	g.dl, g.release = dl, release
	return nil
}

// Deadline returns the deadline of the slice held, or nil if none is held.
func (g *Gate) Deadline() Deadline { return g.dl }

// TimeRemaining returns the time left in the slice held, or 0 if none is
// held.
func (g *Gate) TimeRemaining() time.Duration {
	if g.dl == nil {
		return 0
	}
	return g.dl.TimeRemaining()
}

// Close ends the slice held, if any, letting the scheduler go on. The Gate
// may be used again afterwards.
func (g *Gate) Close() {
	if g.release != nil {
		g.release()
	}
	g.dl, g.release = nil, nil
}

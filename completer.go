package bgtask

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/service"
	"github.com/bgtask/bgtask/store"
)

// Backoff of the completer's retries.
const (
	completerMinBackoff = 50 * time.Millisecond
	completerMaxBackoff = 5 * time.Second
	// completerBatch caps the outcomes written in one store call.
	completerBatch = 1000
	// completerWriters is how many store calls the completer has in
	// flight at once. Two keep the store's group commit fed: while one
	// batch is being committed, the outcomes that arrive meanwhile are
	// already queued behind it (with the claim that refills the freed
	// slots), instead of waiting for the commit's answer and then going
	// to the store alone.
	completerWriters = 2
)

// completer writes the outcomes of runs (terminal states and hand-backs)
// in batches: every outcome waiting when a writer is free goes to the
// store in one Finish and one Release call (River's completer batches
// alike), with up to completerWriters calls in flight. A write
// that fails (disk full, store unreachable) is kept and retried with
// backoff until the store takes it; the run keeps its lease (renewed by
// the lease keeper) meanwhile, and a write under a lease that is no longer
// current is refused by the store, so a retry never overwrites another
// server's work. Only Stop's deadline, a hard stop or a lost lease drops
// an outcome, and never silently.
type completer struct {
	m       *Manager
	writers [completerWriters]completerWriter

	mu      sync.Mutex // guards pending and closed
	pending []*pendingWrite
	closed  bool
	// fails bounds the log lines of a store outage (all writers).
	fails *failureLog
}

// completerWriter is one of the completer's loops; each has at most one
// store call in flight.
type completerWriter struct {
	c    *completer
	loop service.Loop
	// backoff is the wait before the next retry; owned by the loop.
	backoff time.Duration
}

// pendingWrite is one outcome waiting to be written.
type pendingWrite struct {
	r          *running
	completion *store.Completion // set for a finish
	release    *store.Patch      // set for a hand-back
	// at is when the outcome was decided (the manager's clock): a finish
	// written late is dated back to it (store.Completion.Age).
	at       time.Time
	done     func(written bool)
	settled  bool // done was called; guarded by completer.mu
	inflight bool // a writer has it in a store call; guarded by completer.mu
}

func newCompleter(m *Manager) *completer {
	c := &completer{m: m, fails: newFailureLog("cannot write task outcomes; retrying", "writing task outcomes works again")}
	for i := range c.writers {
		w := &c.writers[i]
		w.c = c
		w.loop = service.Loop{Clock: m.clock, RunOnce: w.runOnce}
	}
	return c
}

// start starts the writers; they stop when ctx ends or at stop.
func (c *completer) start(ctx context.Context) {
	for i := range c.writers {
		c.writers[i].loop.Start(ctx)
	}
}

// stop stops the writers, waiting for the calls in flight until ctx ends.
func (c *completer) stop(ctx context.Context) {
	for i := range c.writers {
		_ = c.writers[i].loop.Stop(ctx)
	}
}

// wake wakes every writer: a busy one runs again when its call returns.
func (c *completer) wake() {
	for i := range c.writers {
		c.writers[i].loop.Wake()
	}
}

// finish queues the terminal state of r; done is called once it is
// written (true) or dropped (false).
func (c *completer) finish(r *running, comp store.Completion, done func(bool)) {
	c.add(&pendingWrite{r: r, completion: &comp, done: done, at: c.m.clock.Now()})
}

// release queues the hand-back of r.
func (c *completer) release(r *running, p store.Patch, done func(bool)) {
	c.add(&pendingWrite{r: r, release: &p, done: done})
}

func (c *completer) add(w *pendingWrite) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.dropped(w, "the manager stopped")
		return
	}
	c.pending = append(c.pending, w)
	c.mu.Unlock()
	c.wake()
}

// abandon refuses every further write and drops the pending ones, with an
// error log for each: Stop's time is up, or the manager was hard-stopped.
func (c *completer) abandon() {
	c.mu.Lock()
	c.closed = true
	ws := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, w := range ws {
		c.dropped(w, "the manager stopped before the store took it")
	}
}

func (c *completer) dropped(w *pendingWrite, why string) {
	c.mu.Lock()
	settle := !w.settled
	w.settled = true
	c.mu.Unlock()
	if !settle {
		return
	}
	what, state := "hand-back", ""
	if w.completion != nil {
		what, state = "outcome", string(w.completion.State)
	}
	w.r.task.Logger().Error("task "+what+" not written: "+why+"; the record stays ONGOING and is recovered at the next start or taken over", "state", state)
	w.done(false)
}

// runOnce writes a batch of the pending outcomes that no other writer
// has in flight; on a store failure it waits (backoff) and wakes itself
// to retry.
func (cw *completerWriter) runOnce(ctx context.Context) {
	c := cw.c
	c.mu.Lock()
	var fins, rels []*pendingWrite
	more := false
	for _, w := range c.pending {
		switch {
		case w.inflight:
		case w.completion != nil && len(fins) < completerBatch:
			fins = append(fins, w)
			w.inflight = true
		case w.release != nil && len(rels) < completerBatch:
			rels = append(rels, w)
			w.inflight = true
		default:
			more = true
		}
	}
	c.mu.Unlock()
	if len(fins)+len(rels) == 0 {
		return
	}
	err := c.writeIsolating(ctx, fins, c.writeFinishes)
	if err == nil {
		err = c.writeIsolating(ctx, rels, c.writeReleases)
	}
	if errors.Is(err, store.ErrClosed) {
		// The store was closed under the manager: no retry can succeed.
		c.mu.Lock()
		c.pending = slices.DeleteFunc(c.pending, func(w *pendingWrite) bool {
			return slices.Contains(fins, w) || slices.Contains(rels, w)
		})
		c.mu.Unlock()
		for _, w := range append(fins, rels...) {
			c.dropped(w, "the store is closed")
		}
		return
	}
	if err != nil {
		// Hand the batch back to the queue (a finish that was written
		// before a release failed is settled already).
		c.mu.Lock()
		for _, w := range fins {
			w.inflight = false
		}
		for _, w := range rels {
			w.inflight = false
		}
		c.mu.Unlock()
		cw.backoff = min(max(2*cw.backoff, completerMinBackoff), completerMaxBackoff)
		c.fails.failed(c.m.logger, c.m.clock, "outcomes", len(fins)+len(rels), "retry_in", cw.backoff, "err", err)
		if clock.Sleep(ctx, c.m.clock, cw.backoff) != nil {
			return
		}
		cw.loop.Wake()
		return
	}
	cw.backoff = 0
	c.fails.ok(c.m.logger, c.m.clock)
	if more {
		cw.loop.Wake()
	}
}

// writeIsolating writes ws with write. When the store refuses the whole
// call (an error other than ErrUnavailable, ErrClosed or the context's:
// something in the batch it cannot take), it writes the two halves apart,
// and so on down to single writes: one outcome the store refuses does not
// hold back the others, which are written and settled; the refused ones
// stay pending and are retried with backoff. Bounded: at most about
// 2 × len(ws) calls. It returns the last error of a write that failed.
func (c *completer) writeIsolating(ctx context.Context, ws []*pendingWrite, write func(context.Context, []*pendingWrite) error) error {
	err := write(ctx, ws)
	if err == nil || len(ws) < 2 || ctx.Err() != nil ||
		errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	half := len(ws) / 2
	errA := c.writeIsolating(ctx, ws[:half], write)
	errB := c.writeIsolating(ctx, ws[half:], write)
	if errB != nil {
		return errB
	}
	return errA
}

func (c *completer) writeFinishes(ctx context.Context, ws []*pendingWrite) error {
	if len(ws) == 0 {
		return nil
	}
	cs := make([]store.Completion, len(ws))
	now := c.m.clock.Now()
	for i, w := range ws {
		cs[i] = *w.completion
		cs[i].Age = max(now.Sub(w.at), 0)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.m.cfg.StoreTimeout)
	res, err := c.m.store.Finish(sctx, cs)
	cancel()
	if err != nil {
		return err
	}
	errs := make([]error, len(ws))
	for i := range ws {
		errs[i] = res[i].Err
	}
	c.settle(ws, errs)
	return nil
}

func (c *completer) writeReleases(ctx context.Context, ws []*pendingWrite) error {
	if len(ws) == 0 {
		return nil
	}
	ps := make([]store.Patch, len(ws))
	for i, w := range ws {
		ps[i] = *w.release
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.m.cfg.StoreTimeout)
	lost, err := c.m.store.Release(sctx, ps)
	cancel()
	if err != nil {
		return err
	}
	gone := make(map[store.Lease]bool, len(lost))
	for _, l := range lost {
		gone[l] = true
	}
	errs := make([]error, len(ws))
	for i, w := range ws {
		if gone[w.release.Lease] {
			errs[i] = store.ErrNotOwner
		} else {
			w.r.task.Logger().Info("task handed back for another run")
		}
	}
	c.settle(ws, errs)
	return nil
}

// settle removes written (or refused) outcomes from the queue and calls
// their done functions; errs[i] is the store's answer for ws[i].
func (c *completer) settle(ws []*pendingWrite, errs []error) {
	c.mu.Lock()
	now := make(map[*pendingWrite]bool, len(ws))
	for _, w := range ws {
		if !w.settled {
			w.settled = true
			now[w] = true
		}
	}
	kept := c.pending[:0]
	for _, p := range c.pending {
		if !now[p] {
			kept = append(kept, p)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	c.mu.Unlock()
	for i, w := range ws {
		if !now[w] {
			continue
		}
		if err := errs[i]; err != nil {
			msg := "outcome not written: the lease is not current (the task was taken over or ended elsewhere)"
			if errors.Is(err, store.ErrNotFound) {
				msg = "outcome not written: the record is gone"
			}
			w.r.task.Logger().Warn(msg, "err", err)
		}
		w.done(errs[i] == nil)
	}
}

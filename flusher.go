package bgtask

import (
	"context"
	"sync"
	"time"

	"github.com/bgtask/bgtask/internal/service"
	"github.com/bgtask/bgtask/store"
)

// flusher coalesces progress changes: the first change after a quiet
// period is written at once, later ones at most once per
// Config.ProgressInterval per task, latest state winning; the store
// appends an updated event with each write. All due runs go to the store
// in one Update call. mu guards dirty and every running's nextFlush.
type flusher struct {
	m     *Manager
	loop  service.Loop
	wake  chan struct{}
	mu    sync.Mutex
	dirty map[*running]struct{}
	// fails bounds the log lines of a store outage.
	fails *failureLog
}

func newFlusher(m *Manager) *flusher {
	f := &flusher{m: m, dirty: make(map[*running]struct{}), wake: make(chan struct{}, 1),
		fails: newFailureLog("cannot write progress; will retry", "progress writes work again")}
	f.loop = service.Loop{BackToBack: true, Clock: m.clock, RunOnce: f.runOnce}
	return f
}

// mark records that r changed.
func (f *flusher) mark(r *running) {
	if !r.mayWrite() {
		return // a run given up on, or lost, writes nothing more
	}
	now := f.m.clock.Now()
	f.mu.Lock()
	if _, ok := f.dirty[r]; ok {
		f.mu.Unlock()
		return
	}
	f.dirty[r] = struct{}{}
	due := !r.nextFlush.After(now)
	f.mu.Unlock()
	if due {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// forget drops r (it is finishing and writes its final state itself).
func (f *flusher) forget(r *running) {
	f.mu.Lock()
	delete(f.dirty, r)
	f.mu.Unlock()
}

// runOnce writes every dirty run whose interval has passed, then waits
// until the next one comes due or a change is due at once.
func (f *flusher) runOnce(ctx context.Context) {
	next, ok := f.flushDue(ctx)
	var due <-chan time.Time
	if ok {
		t := f.m.clock.NewTimer(max(next.Sub(f.m.clock.Now()), time.Millisecond))
		defer t.Stop()
		due = t.C()
	}
	select {
	case <-f.wake:
	case <-due:
	case <-ctx.Done():
	}
}

// flushDue writes the due runs and returns when the next one comes due.
func (f *flusher) flushDue(ctx context.Context) (time.Time, bool) {
	now := f.m.clock.Now()
	var due []*running
	var next time.Time
	f.mu.Lock()
	for r := range f.dirty {
		if r.nextFlush.After(now) {
			if next.IsZero() || r.nextFlush.Before(next) {
				next = r.nextFlush
			}
			continue
		}
		delete(f.dirty, r)
		r.nextFlush = now.Add(f.m.cfg.ProgressInterval)
		due = append(due, r)
	}
	f.mu.Unlock()
	if len(due) > 0 {
		f.write(ctx, due)
		// A change to the runs just written comes due one interval from
		// now, without a wake: look again then.
		if soonest := now.Add(f.m.cfg.ProgressInterval); next.IsZero() || soonest.Before(next) {
			next = soonest
		}
	}
	return next, !next.IsZero()
}

func (f *flusher) write(ctx context.Context, due []*running) {
	patches := make([]store.Patch, 0, len(due))
	runs := make([]*running, 0, len(due))
	for _, r := range due {
		if !r.mayWrite() {
			continue
		}
		// A progress that changed and came back to what was written last
		// is not written (nor announced) again.
		if p := r.patch(); !r.wrote(p) {
			patches = append(patches, p)
			runs = append(runs, r)
		}
	}
	if len(patches) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.m.cfg.StoreTimeout)
	lost, err := f.m.store.Update(sctx, patches)
	cancel()
	if err != nil {
		f.fails.failed(f.m.logger, f.m.clock, "tasks", len(due), "err", err)
		for _, r := range due {
			f.mark(r)
		}
		return
	}
	f.fails.ok(f.m.logger, f.m.clock)
	for i, r := range runs {
		r.written = &patches[i]
	}
	for _, l := range lost {
		if r := f.m.runs.get(l.ID); r != nil && r.lease == l {
			f.m.runs.leaseLost(r)
		}
	}
}

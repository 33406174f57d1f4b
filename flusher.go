package bgtask

import (
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
)

// flusher coalesces progress changes: the first change after a quiet
// period is written and announced at once, later ones at most once per
// Config.ProgressInterval per task, latest state winning. Its loop runs in
// one goroutine; mu guards dirty and every running's nextFlush.
type flusher struct {
	m     *Manager
	wake  chan struct{}
	mu    sync.Mutex
	dirty map[*running]struct{}
}

func newFlusher(m *Manager) *flusher {
	return &flusher{m: m, wake: make(chan struct{}, 1), dirty: make(map[*running]struct{})}
}

// mark records that r changed.
func (f *flusher) mark(r *running) {
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

func (f *flusher) loop() {
	timer := f.m.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-f.wake:
		case <-timer.C():
		case <-f.m.loopStop:
			return
		case <-f.m.work.Done():
			return
		}
		if next, ok := f.flushDue(); ok {
			timer.Reset(max(next.Sub(f.m.clock.Now()), time.Millisecond))
		}
	}
}

// flushDue writes and announces every dirty run whose interval has passed
// and returns when the next one comes due.
func (f *flusher) flushDue() (time.Time, bool) {
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
		f.write(due)
		soonest := now.Add(f.m.cfg.ProgressInterval)
		if next.IsZero() || soonest.Before(next) {
			next = soonest
		}
	}
	return next, !next.IsZero()
}

func (f *flusher) write(due []*running) {
	patches := make([]store.Patch, len(due))
	for i, r := range due {
		patches[i] = r.patch()
	}
	ctx, cancel := f.m.storeCtx()
	lost, err := f.m.store.Update(ctx, f.m.cfg.ServerID, patches)
	cancel()
	if err != nil {
		f.m.logger.Warn("cannot write progress; will retry", "tasks", len(due), "err", err)
		for _, r := range due {
			f.mark(r)
		}
		return
	}
	gone := make(map[string]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	for _, r := range due {
		if gone[r.rec.ID] {
			r.stop(errLost)
			continue
		}
		f.m.emitUpdated(r)
	}
}

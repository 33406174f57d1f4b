package bgtask

import (
	"fmt"
	"time"

	"github.com/bgtask/bgtask/store"
)

// claimLoop claims queued tasks whenever worker slots are free and queued
// work may be waiting (woken by enqueue notifications and freed slots, no
// polling), and looks for orphans every HeartbeatInterval. With an
// exclusive store every other owner is dead, so it takes over their
// records at once.
func (m *Manager) claimLoop() {
	orphanTimer := m.clock.NewTimer(m.cfg.HeartbeatInterval)
	defer orphanTimer.Stop()
	// staleBefore is non-zero while an orphan sweep is due; owned by this
	// goroutine, mirrored in m.sweepPending for releaseSlot.
	var staleBefore time.Time
	if m.exclusive {
		staleBefore = farFuture
		m.sweepPending.Store(true)
	}
	m.noteEnqueued() // whatever was queued before we started
	for {
		var ok bool
		if staleBefore, ok = m.claimOnce(staleBefore); !ok {
			return
		}
		select {
		case <-m.claimWake:
		case <-orphanTimer.C():
			orphanTimer.Reset(m.cfg.HeartbeatInterval)
			if !m.exclusive {
				staleBefore = m.clock.Now().Add(-m.cfg.StaleAfter)
				m.sweepPending.Store(true)
			}
		case <-m.loopStop:
			return
		case <-m.work.Done():
			return
		}
	}
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// claimOnce claims as many records as there are free slots, again and
// again while it fills them all. It returns the orphan cut-off still due
// (zero once a claim came back short: nothing queued or orphaned is left)
// and false when the manager is stopping.
func (m *Manager) claimOnce(staleBefore time.Time) (time.Time, bool) {
	for range 1000 { // bounded: each round fills every free slot
		if !m.isRunning() {
			return staleBefore, false
		}
		if staleBefore.IsZero() && m.enqueueGen.Load() == m.drainedGen.Load() {
			return staleBefore, true
		}
		n := m.takeSlots()
		if n == 0 {
			return staleBefore, true
		}
		gen := m.enqueueGen.Load()
		claimed, err := m.claim(n, staleBefore)
		for range n - len(claimed) {
			<-m.slots
		}
		if err != nil {
			m.logger.Warn("cannot claim tasks", "err", err)
			return staleBefore, true
		}
		if len(claimed) < n {
			m.drainedGen.Store(gen)
			m.sweepPending.Store(false)
			return time.Time{}, true
		}
	}
	return staleBefore, true
}

func (m *Manager) isRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acceptingLocked()
}

// takeSlots takes every free slot and returns how many it took.
func (m *Manager) takeSlots() int {
	n := 0
	for {
		select {
		case m.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
}

// claim claims up to n records (n slots are held) and launches them.
func (m *Manager) claim(n int, staleBefore time.Time) ([]store.Claimed, error) {
	ctx, cancel := m.storeCtx()
	defer cancel()
	claimed, err := m.store.Claim(ctx, store.ClaimParams{
		Owner:       m.cfg.ServerID,
		Names:       m.names(),
		Tags:        m.cfg.Tags,
		Limit:       n,
		Now:         m.clock.Now(),
		StaleBefore: staleBefore,
	})
	if err != nil {
		return nil, err
	}
	for _, c := range claimed {
		m.start(c)
	}
	return claimed, nil
}

// start launches a claimed record, or fails it when it is an orphan that
// has used up its attempts.
func (m *Manager) start(c store.Claimed) {
	rec := c.Record
	def, ok := m.cfg.Registry.Lookup(rec.Name)
	if !ok { // the store filters by name; a registry changed under us
		m.handBack(rec)
		return
	}
	if c.PrevOwner != "" {
		m.logger.Info("taking over orphaned task", "task_id", rec.ID, "task", rec.Name, "prev_owner", c.PrevOwner, "attempt", rec.Attempt)
		if rec.Attempt > def.Attempts() {
			m.failOrphan(rec, rec.Attempt-1)
			return
		}
	}
	m.mu.Lock()
	if !m.acceptingLocked() {
		m.mu.Unlock()
		m.handBack(rec)
		return
	}
	m.tasks.Add(1)
	m.mu.Unlock()
	m.launch(m.newRunning(rec, def, true))
}

// handBack releases a claimed record that will not run here.
func (m *Manager) handBack(rec *store.Record) {
	ctx, cancel := m.storeCtx()
	defer cancel()
	if err := m.store.Release(ctx, m.cfg.ServerID, []string{rec.ID}); err != nil {
		m.logger.Warn("cannot hand back task", "task_id", rec.ID, "err", err)
	}
	m.releaseSlot()
}

// failOrphan ends an orphan that has no attempts left.
func (m *Manager) failOrphan(rec *store.Record, attempts int) {
	ctx, cancel := m.storeCtx()
	defer cancel()
	fin, err := m.store.Finish(ctx, m.cfg.ServerID, rec.ID, store.Completion{
		State:      store.Failure,
		Error:      fmt.Sprintf("orphaned after %d attempts", attempts),
		ExitCode:   ExitFailure,
		FinishedAt: m.clock.Now(),
	})
	m.releaseSlot()
	if err != nil {
		m.logger.Warn("cannot fail orphaned task", "task_id", rec.ID, "err", err)
		return
	}
	m.emitRecord(fin, EventFailed)
}

// names lists the task names this server can run, recomputed only when
// the registry changed. Only the claimer calls it.
func (m *Manager) names() []string {
	gen := m.cfg.Registry.generation()
	if m.claimNames == nil || gen != m.claimNamesGen {
		defs := m.cfg.Registry.Definitions()
		m.claimNames = make([]string, len(defs))
		for i, d := range defs {
			m.claimNames[i] = d.Name
		}
		m.claimNamesGen = gen
	}
	return m.claimNames
}

// releaseSlot frees a worker slot and wakes the claimer if queued work may
// be waiting.
func (m *Manager) releaseSlot() {
	<-m.slots
	if m.enqueueGen.Load() != m.drainedGen.Load() || m.sweepPending.Load() {
		m.wakeClaimer()
	}
}

// noteEnqueued records that queued work may be waiting and wakes the
// claimer.
func (m *Manager) noteEnqueued() {
	m.enqueueGen.Add(1)
	m.wakeClaimer()
}

func (m *Manager) wakeClaimer() {
	select {
	case m.claimWake <- struct{}{}:
	default:
	}
}

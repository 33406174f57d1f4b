package bgtask

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/internal/service"
	"github.com/bgtask/bgtask/store"
)

// claimer fills this server's free slots. It runs when woken (work was
// enqueued, a slot was freed) and every HeartbeatInterval; each interval
// it also recovers the records this server holds under no lease it knows
// of (an earlier life's, or claims whose answer was lost) and takes over
// orphans whose lease went stale. Without a wake it never polls for queued
// work.
type claimer struct {
	m    *Manager
	loop service.Loop
	// fails bounds the log lines of a store outage.
	fails *failureLog

	// enqueueGen counts enqueue notifications; drainedGen is the value
	// seen by the last claim that found nothing queued. They differ while
	// queued work may be waiting, so a freed slot wakes the claimer only
	// then.
	enqueueGen atomic.Uint64
	drainedGen atomic.Uint64
	// sweepDue is set when a sweep (recover and orphans) is due; owned by
	// the loop goroutine together with lastSweep.
	sweepDue  atomic.Bool
	lastSweep time.Time
	names     []string
	namesGen  uint64
	// sameIDAt is when reportSameID last logged; sameIDCount counts the
	// records taken since (loop goroutine only).
	sameIDAt    time.Time
	sameIDCount int
}

func newClaimer(m *Manager) *claimer {
	c := &claimer{m: m, fails: newFailureLog("cannot claim or recover tasks; retrying at the next heartbeat", "claiming tasks works again")}
	c.loop = service.Loop{Interval: m.cfg.HeartbeatInterval, Clock: m.clock, RunOnce: c.runOnce}
	c.sweepDue.Store(true) // at start: recover an earlier life at once
	c.enqueueGen.Store(1)  // and look at the queue
	return c
}

// enqueued notes that queued work may be waiting and wakes the claimer.
func (c *claimer) enqueued() {
	c.enqueueGen.Add(1)
	c.loop.Wake()
}

// slotFreed wakes the claimer if queued work may be waiting.
func (c *claimer) slotFreed() {
	if c.enqueueGen.Load() != c.drainedGen.Load() || c.sweepDue.Load() {
		c.loop.Wake()
	}
}

// runOnce recovers and sweeps when due, then claims until the slots are
// full or nothing is left.
func (c *claimer) runOnce(ctx context.Context) {
	m := c.m
	if !m.accepting() {
		return
	}
	now := m.clock.Now()
	if now.Sub(c.lastSweep) >= m.cfg.HeartbeatInterval {
		c.sweepDue.Store(true)
	}
	if c.sweepDue.Load() {
		c.lastSweep = now
		if !c.recover(ctx) {
			return
		}
	}
	sweep := c.sweepDue.Load()
	for range 1000 { // bounded: each round fills every free slot
		if !m.accepting() {
			return
		}
		if !sweep && c.enqueueGen.Load() == c.drainedGen.Load() {
			return
		}
		gen := c.enqueueGen.Load()
		n, ni := m.slots.takeAll(false), m.slots.takeAll(true)
		if n+ni == 0 {
			return
		}
		p := c.params(n, ni)
		if sweep {
			p.StaleAfter = m.cfg.StaleAfter
		}
		at := m.clock.Now() // the leases are at least this old
		claimed, ok := c.call("claim", func(ctx context.Context) ([]store.Claimed, error) {
			return m.store.Claim(ctx, p)
		})
		got, gotIdle := countByPriority(claimed)
		c.launch(claimed, n, ni, at)
		if !ok {
			return
		}
		fullNormal, fullIdle := n > 0 && got == n, ni > 0 && gotIdle == ni
		if fullNormal || fullIdle {
			continue // that queue may hold more: claim again
		}
		if n > 0 && ni > 0 {
			// Both queues came back short: nothing claimable is left.
			c.drainedGen.Store(gen)
		}
		// Otherwise a kind had no free slot: its queue is looked at again
		// when one of its slots frees (enqueueGen still differs).
		c.sweepDue.Store(false)
		return
	}
}

// countByPriority counts the claimed records of normal and idle priority.
func countByPriority(cs []store.Claimed) (normal, idle int) {
	for _, c := range cs {
		if c.Record.Idle() {
			idle++
		} else {
			normal++
		}
	}
	return normal, idle
}

// recover claims the records this server holds under no lease it knows of.
// It reports false when the store failed.
func (c *claimer) recover(ctx context.Context) bool {
	m := c.m
	m.claimGate.Lock()
	defer m.claimGate.Unlock()
	n, ni := m.slots.takeAll(false), m.slots.takeAll(true)
	held := m.runs.leases()
	p := c.params(n, ni)
	p.Abandoned = m.runs.abandonedLeases()
	at := m.clock.Now()
	recovered, ok := c.call("recover", func(ctx context.Context) ([]store.Claimed, error) {
		return m.store.Recover(ctx, p, held)
	})
	c.reportSameID(m.runs.sameIDTaken(recovered, m.cfg.ServerID))
	m.runs.recovered(recovered)
	for _, cl := range recovered {
		if !cl.Exhausted {
			m.logger.Info("recovered task", "task_id", cl.Record.ID, "task", cl.Record.Name, "prev_owner", cl.PrevOwner, "attempt", cl.Record.Attempt)
		}
	}
	c.launch(recovered, n, ni, at)
	return ok
}

// reportSameID logs an error when Recover took back records that another
// live server with this server's ID had taken from this one (taken, see
// runSet.sameIDTaken): the two take each other's tasks as records of an
// earlier life, each run restarting until its attempts run out. At most
// once a minute, with the count since the last line.
func (c *claimer) reportSameID(taken []string) {
	if len(taken) == 0 {
		return
	}
	c.sameIDCount += len(taken)
	now := c.m.clock.Now()
	if !c.sameIDAt.IsZero() && now.Sub(c.sameIDAt) < time.Minute {
		return
	}
	c.m.logger.Error("another live server uses this server ID: the two take each other's tasks, and each run restarts until its attempts run out; give each server its own ID",
		"task_id", taken[0], "tasks_taken", c.sameIDCount)
	c.sameIDAt, c.sameIDCount = now, 0
}

// call makes one store call bounded by StoreTimeout and Stop's own bound
// (storeCtx), logging a failure.
func (c *claimer) call(what string, f func(context.Context) ([]store.Claimed, error)) ([]store.Claimed, bool) {
	ctx, cancel := c.m.storeCtx()
	defer cancel()
	out, err := f(ctx)
	if err != nil {
		c.fails.failed(c.m.logger, c.m.clock, "call", what, "err", err)
		return nil, false
	}
	c.fails.ok(c.m.logger, c.m.clock)
	return out, true
}

func (c *claimer) params(limit, idleLimit int) store.ClaimParams {
	return store.ClaimParams{
		Owner:       c.m.cfg.ServerID,
		Incarnation: c.m.incarnation,
		Names:       c.nameList(),
		Tags:        c.m.cfg.Tags,
		Limit:       limit,
		IdleLimit:   idleLimit,
	}
}

// launch starts the claimed records; n and ni slots were taken for them,
// and the ones not used are freed.
func (c *claimer) launch(claimed []store.Claimed, n, ni int, at time.Time) {
	m := c.m
	leases := make([]store.Lease, 0, len(claimed))
	for _, cl := range claimed {
		if !cl.Exhausted {
			leases = append(leases, cl.Lease)
		}
	}
	at, lost := m.confirmLeases(at, leases)
	for _, cl := range claimed {
		idle := cl.Record.Idle()
		if idle {
			ni--
		} else {
			n--
		}
		if cl.Exhausted {
			m.logger.Info("task out of attempts ended", "task_id", cl.Record.ID, "task", cl.Record.Name, "prev_owner", cl.PrevOwner, "error", cl.Record.Error)
			m.slots.free(idle, 1)
			continue
		}
		if lost[cl.Lease.ID] {
			m.logger.Info("claimed task lost before it started (the claim's answer came late)", "task_id", cl.Record.ID, "task", cl.Record.Name)
			m.slots.free(idle, 1)
			continue
		}
		m.launch(cl.Record, cl.Lease, at)
	}
	m.slots.free(false, max(n, 0))
	m.slots.free(true, max(ni, 0))
}

// nameList lists the task names this server can run, recomputed only when
// the registry changed. Only the loop goroutine calls it.
func (c *claimer) nameList() []string {
	gen := c.m.cfg.Registry.generation()
	if c.names == nil || gen != c.namesGen {
		c.names = registryNames(c.m.cfg.Registry)
		c.namesGen = gen
	}
	return c.names
}

// registryNames lists the names of every definition reg can look up that
// a manager may run (not TaskModeOnly).
func registryNames(reg *Registry) []string {
	defs := reg.Definitions()
	names := make([]string, 0, len(defs))
	for _, d := range defs {
		if d.submittable() {
			names = append(names, d.Name)
		}
	}
	return names
}

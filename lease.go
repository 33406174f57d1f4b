package bgtask

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/bgtask/bgtask/internal/service"
	"github.com/bgtask/bgtask/store"
)

// leaseKeeper renews, every HeartbeatInterval and in one store call, the
// leases of every run this server holds (running, or with an outcome not
// yet written) and this server's announcement. What the store reports
// back is applied: a lease that is no longer current stops its run without
// a write; a pending cancel cancels it. A run whose lease could not be
// renewed for StaleAfter - HeartbeatInterval is stopped too (cause: lease
// lost), so that it never runs on while another server may have taken it
// over. That deadline is kept by a watch on its own timer, not by the
// renewal's answer: a store that stops answering without refusing (a
// connection that hangs) holds a renewal for up to StoreTimeout, twice
// that with the announcement, long enough for another server to take the
// task over meanwhile.
type leaseKeeper struct {
	m    *Manager
	loop service.Loop
	// watch stops overdue runs every watchInterval (stopOverdue).
	watch service.Loop
	// fails bounds the log lines of a store outage.
	fails *failureLog
}

func newLeaseKeeper(m *Manager) *leaseKeeper {
	k := &leaseKeeper{m: m, fails: newFailureLog("cannot renew leases", "lease renewals work again")}
	k.loop = service.Loop{Interval: m.cfg.HeartbeatInterval, Clock: m.clock, RunOnce: k.runOnce}
	k.watch = service.Loop{Interval: watchInterval(m.cfg.HeartbeatInterval), Clock: m.clock, RunOnce: k.watchOnce}
	return k
}

// watchInterval is how often the watch looks for overdue runs: a quarter
// of the heartbeat interval, so that a run stops within that of its
// deadline, well before another server may take it over (a heartbeat
// interval after the deadline).
func watchInterval(heartbeat time.Duration) time.Duration {
	return max(heartbeat/4, time.Millisecond)
}

// errRenewalUnanswered is the watch's reason for stopping a run: no
// renewal of its lease has succeeded in time, whatever the store is doing.
var errRenewalUnanswered = errors.New("no renewal of the lease has succeeded in time")

// watchOnce stops the runs whose lease is overdue.
func (k *leaseKeeper) watchOnce(context.Context) {
	k.stopOverdue(k.m.runs.all(), errRenewalUnanswered)
}

func (k *leaseKeeper) runOnce(ctx context.Context) {
	m := k.m
	// The leases first: an announcement that hangs must not delay them.
	defer k.announce(ctx)
	rs := m.runs.all()
	if len(rs) == 0 {
		return
	}
	leases := make([]store.Lease, len(rs))
	for i, r := range rs {
		leases[i] = r.lease
	}
	started := m.clock.Now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
	res, err := m.store.Renew(sctx, leases)
	cancel()
	if err != nil {
		k.expire(rs, err)
		return
	}
	k.fails.ok(m.logger, m.clock)
	lost := make(map[string]bool, len(res.Lost))
	for _, l := range res.Lost {
		lost[l.ID] = true
	}
	for _, r := range rs {
		if lost[r.rec.ID] {
			m.runs.leaseLost(r)
			continue
		}
		r.renewed(started)
	}
	m.runs.stopRuns(res.CancelRequested, errCancelRequested)
}

// expire acts on a renewal that failed with err: it stops the overdue
// runs (the watch would, a moment later) and logs the failure.
func (k *leaseKeeper) expire(rs []*running, err error) {
	k.stopOverdue(rs, err)
	k.fails.failed(k.m.logger, k.m.clock, "tasks", len(rs), "err", err)
}

// stopOverdue stops the runs of rs whose lease has not been renewed for
// StaleAfter - HeartbeatInterval (by then another server may take them
// over soon) and that may still write, with a warning giving why (err).
func (k *leaseKeeper) stopOverdue(rs []*running, err error) {
	m := k.m
	limit := m.cfg.StaleAfter - m.cfg.HeartbeatInterval
	cutoff := m.clock.Now().Add(-limit)
	stopped := 0
	for _, r := range rs {
		if r.renewedBefore(cutoff) && r.mayWrite() {
			// Its record, once the run is gone, is taken back by Recover
			// as a new attempt: the run did start.
			m.runs.abandon(r.lease)
			r.endWrites()
			r.stop(errLeaseExpired)
			stopped++
		}
	}
	if stopped > 0 {
		// Not rate-bounded: each run is stopped once.
		m.logger.Warn("leases not renewed for too long: stopping tasks (cause: lease lost)", "stopped", stopped, "err", err)
	}
}

// announce renews this server's entry in the store's list of live servers.
func (k *leaseKeeper) announce(ctx context.Context) {
	m := k.m
	info := store.ServerInfo{
		ID:                m.cfg.ServerID,
		Incarnation:       m.incarnation,
		Host:              hostname(),
		PID:               os.Getpid(),
		StartedAt:         m.startedAt,
		Tags:              m.cfg.Tags,
		Names:             registryNames(m.cfg.Registry),
		MaxWorkers:        m.cfg.MaxWorkers,
		HeartbeatInterval: m.cfg.HeartbeatInterval,
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
	defer cancel()
	if err := m.store.Announce(sctx, info, m.cfg.StaleAfter); err != nil {
		m.logger.Debug("cannot announce this server", "err", err)
		return
	}
	// The store answers again, also when no lease needed renewing.
	k.fails.ok(m.logger, m.clock)
}

// confirmLeases renews leases that a call started at at took (a claim, a
// recovery, an insert of an owned record) when its answer came more than
// one HeartbeatInterval later. The store dated the leases when it ran the
// call, which this server cannot tell from its own clock; counted from
// at, as they otherwise are, a call that waited on a stalled store
// (Redis paused, a slow disk) would hand out runs that the lease watch
// stops at once, each using up an attempt without running. It returns the
// time to count the leases from (when the renewal started; at when none
// was needed or it failed, and the watch then judges as before) and the
// IDs of the leases the store no longer holds for this server (taken over
// meanwhile, or cancelled): those must not run.
func (m *Manager) confirmLeases(at time.Time, leases []store.Lease) (time.Time, map[string]bool) {
	if len(leases) == 0 || m.clock.Now().Sub(at) <= m.cfg.HeartbeatInterval {
		return at, nil
	}
	started := m.clock.Now()
	ctx, cancel := m.storeCtx()
	defer cancel()
	res, err := m.store.Renew(ctx, leases)
	if err != nil {
		return at, nil
	}
	lost := make(map[string]bool, len(res.Lost))
	for _, l := range res.Lost {
		lost[l.ID] = true
	}
	m.logger.Debug("renewed the leases of a late answer before running", "leases", len(leases), "lost", len(lost), "late_by", started.Sub(at))
	return started, lost
}

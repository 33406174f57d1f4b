package bgtask

import (
	"context"
	"os"

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
// over.
type leaseKeeper struct {
	m    *Manager
	loop service.Loop
	// fails bounds the log lines of a store outage.
	fails *failureLog
}

func newLeaseKeeper(m *Manager) *leaseKeeper {
	k := &leaseKeeper{m: m, fails: newFailureLog("cannot renew leases", "lease renewals work again")}
	k.loop = service.Loop{Interval: m.cfg.HeartbeatInterval, Clock: m.clock, RunOnce: k.runOnce}
	return k
}

func (k *leaseKeeper) runOnce(ctx context.Context) {
	m := k.m
	k.announce(ctx)
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
			r.leaseLost()
			continue
		}
		r.renewed(started)
	}
	m.runs.stopRuns(res.CancelRequested, errCancelRequested)
}

// expire stops the runs whose lease has not been renewed for StaleAfter -
// HeartbeatInterval: by then another server may take them over.
func (k *leaseKeeper) expire(rs []*running, err error) {
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
	k.fails.failed(m.logger, m.clock, "tasks", len(rs), "err", err)
}

// announce renews this server's entry in the store's list of live servers.
func (k *leaseKeeper) announce(ctx context.Context) {
	m := k.m
	info := store.ServerInfo{
		ID:          m.cfg.ServerID,
		Incarnation: m.incarnation,
		Host:        hostname(),
		PID:         os.Getpid(),
		StartedAt:   m.startedAt,
		Tags:        m.cfg.Tags,
		Names:       registryNames(m.cfg.Registry),
		MaxWorkers:  m.cfg.MaxWorkers,
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

package bgtask

import (
	"time"

	"github.com/bgtask/bgtask/store"
)

// every runs fn every interval until the manager stops: the loop shape of
// the heartbeat and janitor services, on the injected clock.
func (m *Manager) every(interval time.Duration, fn func()) {
	t := m.clock.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-m.loopStop:
			return
		case <-m.work.Done():
			return
		}
		fn()
		t.Reset(interval)
	}
}

// heartbeatLoop renews the leases of this server's runs every
// HeartbeatInterval and applies what the store reports: runs taken over
// elsewhere stop without writing, runs with a pending cancel are cancelled.
func (m *Manager) heartbeatLoop() { m.every(m.cfg.HeartbeatInterval, m.heartbeatOnce) }

func (m *Manager) heartbeatOnce() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.running))
	for id := range m.running {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := m.storeCtx()
	res, err := m.store.Heartbeat(ctx, m.cfg.ServerID, ids, m.clock.Now())
	cancel()
	if err != nil {
		m.logger.Warn("cannot renew leases", "tasks", len(ids), "err", err)
		return
	}
	m.stopRuns(res.Lost, errLost)
	m.stopRuns(res.CancelRequested, errCancelRequested)
}

func (m *Manager) stopRuns(ids []string, cause error) {
	for _, id := range ids {
		m.mu.Lock()
		r := m.running[id]
		m.mu.Unlock()
		if r != nil {
			r.stop(cause)
		}
	}
}

// janitorLoop deletes finished records older than Retention every
// JanitorInterval, in bounded batches.
func (m *Manager) janitorLoop() { m.every(m.cfg.JanitorInterval, func() { m.janitorOnce() }) }

const janitorBatch = 1000

func (m *Manager) janitorOnce() int {
	before := m.clock.Now().Add(-m.cfg.Retention)
	total := 0
	for range 1000 { // at most a million records per round
		ctx, cancel := m.storeCtx()
		n, err := m.store.DeleteFinished(ctx, before, janitorBatch)
		cancel()
		total += n
		if err != nil {
			m.logger.Warn("cannot delete expired records", "err", err)
			break
		}
		if n < janitorBatch {
			break
		}
	}
	if total > 0 {
		m.logger.Debug("deleted expired records", "count", total)
	}
	return total
}

// messageLoop handles what other servers (and the store) publish.
func (m *Manager) messageLoop(msgs <-chan store.Message, unsubscribe func()) {
	defer unsubscribe()
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			m.handleMessage(msg)
		case <-m.loopStop:
			return
		case <-m.work.Done():
			return
		}
	}
}

func (m *Manager) handleMessage(msg store.Message) {
	switch msg.Kind {
	case store.MsgEnqueued:
		m.noteEnqueued()
	case store.MsgCancel:
		if msg.Owner == m.cfg.ServerID {
			m.stopRuns([]string{msg.TaskID}, errCancelRequested)
		}
	case store.MsgEvent:
		if msg.Origin != m.cfg.ServerID {
			m.deliverRemote(msg)
		}
	}
}

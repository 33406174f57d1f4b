package bgtask

import (
	"context"
	"fmt"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// ServerIDInUseError is returned by Manager.Start when another live server
// announces the same Config.ServerID in the store. Two live servers with
// one ID would each take the other's tasks as records of its own earlier
// life, over and over. errors.Is(err, ErrServerIDInUse) holds.
type ServerIDInUseError struct {
	// ServerID is the ID in use.
	ServerID string
	// Other is the other server's announcement.
	Other store.ServerInfo
}

// Error names the other server.
func (e *ServerIDInUseError) Error() string {
	return fmt.Sprintf("bgtask: server ID %q is in use by another live server (host %s, pid %d, started %s, incarnation %s): give each server its own ID",
		e.ServerID, e.Other.Host, e.Other.PID, e.Other.StartedAt.Format(time.RFC3339), e.Other.Incarnation)
}

// Unwrap returns ErrServerIDInUse.
func (e *ServerIDInUseError) Unwrap() error { return ErrServerIDInUse }

// idInUseWait is how long, in heartbeat intervals (this server's or the
// other's, the longer), Start watches another incarnation's announcement
// of this server's ID for a renewal.
const idInUseWait = 2

// CheckServerIDFree returns a *ServerIDInUseError when another live
// server announces this server's ID in the store, as Start does (see
// Start); ctx bounds the wait, which can take two heartbeat intervals
// (the other server's, when it announced a longer one). Start makes the
// check unless CheckServerIDFree returned nil before: a program that wants
// to stop during the wait (on a signal) calls it first with a context of
// its own. A store that cannot answer counts as no other server.
func (m *Manager) CheckServerIDFree(ctx context.Context) error {
	if m.idChecked.Load() {
		return nil
	}
	if err := m.checkServerID(ctx); err != nil {
		return err
	}
	m.idChecked.Store(true)
	return nil
}

// checkServerID returns a *ServerIDInUseError when another live server
// announces this server's ID. An announcement by another incarnation that
// is not renewed within idInUseWait heartbeat intervals is an earlier life
// of this server that ended without withdrawing it (kill -9, a crash)
// before it expired: Start then goes on, and recovers that life's records.
// A store that cannot answer does not hold the start up: the manager rides
// out store outages, and the check is made again at the next start.
func (m *Manager) checkServerID(ctx context.Context) error {
	other, ok := m.otherAnnouncement(ctx)
	if !ok {
		return nil
	}
	// The other server's own interval when it says it: one that renews
	// less often than this one must not be taken for dead.
	interval := max(m.cfg.HeartbeatInterval, other.HeartbeatInterval)
	wait := idInUseWait * interval
	m.logger.Info("another incarnation of this server ID is announced: waiting to tell whether it is alive",
		"other_incarnation", other.Incarnation, "other_host", other.Host, "other_pid", other.PID, "wait", wait)
	deadline := m.clock.Now().Add(wait)
	step := max(interval/4, time.Millisecond)
	for range 4*idInUseWait + 8 { // bounded: each round sleeps a step
		if err := clock.Sleep(ctx, m.clock, min(step, max(deadline.Sub(m.clock.Now()), 0))); err != nil {
			return err
		}
		cur, ok := m.otherAnnouncement(ctx)
		switch {
		case !ok:
			return nil // withdrawn or expired
		case cur.Incarnation != other.Incarnation || cur.SeenAt.After(other.SeenAt):
			return &ServerIDInUseError{ServerID: m.cfg.ServerID, Other: cur}
		case !m.clock.Now().Before(deadline):
			m.logger.Info("the other incarnation of this server ID is not alive: recovering its tasks",
				"other_incarnation", other.Incarnation)
			return nil
		}
	}
	return nil
}

// otherAnnouncement returns the live announcement of this server's ID by
// another incarnation, if the store has one and can say so.
func (m *Manager) otherAnnouncement(ctx context.Context) (store.ServerInfo, bool) {
	sctx, cancel := context.WithTimeout(ctx, m.cfg.StoreTimeout)
	defer cancel()
	servers, err := m.store.Servers(sctx)
	if err != nil {
		m.logger.Debug("cannot list the servers to check this server's ID", "err", err)
		return store.ServerInfo{}, false
	}
	for _, s := range servers {
		if s.ID == m.cfg.ServerID && s.Incarnation != m.incarnation {
			return s, true
		}
	}
	return store.ServerInfo{}, false
}

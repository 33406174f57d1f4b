package bgtask

import (
	"fmt"
	"time"
)

// Lease timing limits (Config.HeartbeatInterval, Config.StaleAfter).
const (
	// MinHeartbeatInterval is the shortest HeartbeatInterval: each beat is
	// a store call per server (renewals, the orphan sweep, the server's
	// announcement), and a 1 ns interval made an idle server spin.
	MinHeartbeatInterval = 10 * time.Millisecond
	// MinStaleAfterBeats is the least StaleAfter in heartbeat intervals.
	// A server stops a run whose lease it has not renewed for StaleAfter -
	// HeartbeatInterval, and renews once per interval: with StaleAfter
	// under 2 intervals every healthy run was stopped between two
	// renewals ("orphaned after 1 attempt"), and at 2 a renewal a moment
	// late stopped it. At 3 a run survives one renewal that fails or comes
	// late.
	MinStaleAfterBeats = 3
)

// CheckLeaseTiming reports why heartbeat and staleAfter (the values of
// Config.HeartbeatInterval and Config.StaleAfter after defaults) cannot be
// used, or nil: heartbeat is at least MinHeartbeatInterval and staleAfter
// at least MinStaleAfterBeats heartbeat intervals. The error names the
// Config field ("HeartbeatInterval (5ms) must be at least 10ms").
func CheckLeaseTiming(heartbeat, staleAfter time.Duration) error {
	if heartbeat < MinHeartbeatInterval {
		return fmt.Errorf("HeartbeatInterval (%v) must be at least %v", heartbeat, MinHeartbeatInterval)
	}
	// staleAfter/beats < heartbeat, not staleAfter < beats*heartbeat: the
	// product overflows for a heartbeat above a third of the largest
	// Duration, and a negative product let any staleAfter pass.
	if staleAfter/MinStaleAfterBeats < heartbeat {
		return fmt.Errorf("StaleAfter (%v) must be at least %d times HeartbeatInterval (%v): a run whose lease is not renewed for StaleAfter - HeartbeatInterval is stopped, and leases are renewed once per HeartbeatInterval", staleAfter, MinStaleAfterBeats, heartbeat)
	}
	return nil
}

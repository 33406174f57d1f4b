package bgtask

import (
	"context"

	"github.com/bgtask/bgtask/internal/service"
)

// janitorBatch is how many records one DeleteFinished call may delete.
const janitorBatch = 1000

// janitor deletes finished records older than Config.Retention every
// Config.JanitorInterval, in bounded batches (the store also trims its
// event log's aged entries then).
type janitor struct {
	m    *Manager
	loop service.Loop
	// fails bounds the log lines of a store outage.
	fails *failureLog
}

func newJanitor(m *Manager) *janitor {
	j := &janitor{m: m, fails: newFailureLog("cannot delete expired records", "deleting expired records works again")}
	j.loop = service.Loop{Interval: m.cfg.JanitorInterval, Clock: m.clock, RunOnce: func(ctx context.Context) { j.runOnce(ctx) }}
	return j
}

// runOnce deletes expired records (at most a million) and returns how many.
func (j *janitor) runOnce(ctx context.Context) int {
	m := j.m
	total := 0
	for range 1000 {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
		n, err := m.store.DeleteFinished(sctx, m.cfg.Retention, janitorBatch)
		cancel()
		total += n
		if err != nil {
			j.fails.failed(m.logger, m.clock, "err", err)
			break
		}
		j.fails.ok(m.logger, m.clock)
		if n < janitorBatch || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		m.logger.Debug("deleted expired records", "count", total)
	}
	return total
}

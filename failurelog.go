package bgtask

import (
	"log/slog"
	"sync"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// Bounds of failureLog's summary interval: the first summary comes
// failureLogFirst after the first failure, each later one twice as late,
// at most failureLogMax apart.
const (
	failureLogFirst = 5 * time.Second
	failureLogMax   = time.Minute
)

// failureLog bounds how often a service logs a store call that keeps
// failing (a store outage would otherwise log one line per attempt: ten a
// second per task for progress writes). The first failure is logged at
// once (Warn, msg); while failures continue, at most one summary line per
// interval (Warn, msg + " (still failing)", with the failures since the
// last line and the latest error), the interval doubling from
// failureLogFirst to failureLogMax; the first success after failures
// logs one line (Info, recovered). A failure more than failureLogMax after
// the previous one starts a new outage (a service that stopped calling
// the store never saw it recover). Retrying is the caller's business.
// Safe for concurrent use.
type failureLog struct {
	msg, recovered string

	mu       sync.Mutex
	failing  bool
	since    time.Time     // first failure of the current outage
	last     time.Time     // latest failure
	total    int           // failures of the current outage
	unlogged int           // failures since the last line
	every    time.Duration // current summary interval
	next     time.Time     // earliest time of the next summary
}

func newFailureLog(msg, recovered string) *failureLog {
	return &failureLog{msg: msg, recovered: recovered}
}

// failed records a failure and logs it if due; args are the failure's
// attributes (the error among them).
func (l *failureLog) failed(logger *slog.Logger, c clock.Clock, args ...any) {
	now := c.Now()
	l.mu.Lock()
	if l.failing && now.Sub(l.last) > failureLogMax {
		l.failing, l.total = false, 0
	}
	l.total++
	l.last = now
	if !l.failing {
		l.failing, l.since, l.unlogged = true, now, 0
		l.every, l.next = failureLogFirst, now.Add(failureLogFirst)
		l.mu.Unlock()
		logger.Warn(l.msg, args...)
		return
	}
	l.unlogged++
	if now.Before(l.next) {
		l.mu.Unlock()
		return
	}
	n, since := l.unlogged, l.since
	l.unlogged = 0
	l.every = min(2*l.every, failureLogMax)
	l.next = now.Add(l.every)
	l.mu.Unlock()
	logger.Warn(l.msg+" (still failing)", append([]any{"failures", n, "failing_for", now.Sub(since).Round(time.Millisecond)}, args...)...)
}

// ok records a success: after failures, it logs that the calls work
// again.
func (l *failureLog) ok(logger *slog.Logger, c clock.Clock) {
	l.mu.Lock()
	if !l.failing {
		l.mu.Unlock()
		return
	}
	total, since := l.total, l.since
	l.failing, l.total, l.unlogged = false, 0, 0
	l.mu.Unlock()
	logger.Info(l.recovered, "failures", total, "failed_for", c.Now().Sub(since).Round(time.Millisecond))
}

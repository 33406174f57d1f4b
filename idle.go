package bgtask

import (
	"context"
	"fmt"
	"time"

	"github.com/bgtask/bgtask/idle"
)

// DefaultIdleBusyThreshold is the number of running normal-priority tasks
// at which the process counts as busy for idle-priority tasks.
const DefaultIdleBusyThreshold = 1

// IdleConfig configures how a Manager runs idle-priority tasks: through an
// idle.Scheduler whose load sources are the manager's own normal-priority
// tasks plus Sources.
type IdleConfig struct {
	// Sources are further load sources, e.g. the idle.InFlight middleware
	// of the process's HTTP server or an idle.CPU source.
	Sources []idle.LoadSource
	// BusyThreshold is the number of running normal-priority tasks at
	// which the process is busy. Default DefaultIdleBusyThreshold.
	BusyThreshold int
	// MaxPeriod caps one idle period (one slice of an idle task). Default
	// idle.DefaultMaxPeriod (50 ms).
	MaxPeriod time.Duration
	// LowPriority runs idle slices on an OS thread with the SCHED_IDLE
	// policy (see idle.Config.LowPriority).
	LowPriority bool
	// MaxTasks bounds the idle-priority tasks this server holds at once
	// (waiting for idle time or running a slice). They hold no worker
	// slot, so they never keep normal-priority tasks from starting.
	// Default: Config.MaxWorkers; at most MaxMaxWorkers.
	MaxTasks int
}

// idleRunner owns the manager's idle scheduler and its foreground counter.
type idleRunner struct {
	fg       *idle.Counter
	sched    *idle.Scheduler
	maxTasks int
}

func newIdleRunner(m *Manager, c IdleConfig) (*idleRunner, error) {
	if c.BusyThreshold < 0 || c.MaxPeriod < 0 || c.MaxTasks < 0 {
		return nil, fmt.Errorf("bgtask: Config.Idle.BusyThreshold, MaxPeriod and MaxTasks must not be negative")
	}
	if c.MaxTasks > MaxMaxWorkers {
		return nil, fmt.Errorf("bgtask: Config.Idle.MaxTasks %d: at most %d", c.MaxTasks, MaxMaxWorkers)
	}
	if c.MaxTasks == 0 {
		c.MaxTasks = m.cfg.MaxWorkers
	}
	if c.BusyThreshold == 0 {
		c.BusyThreshold = DefaultIdleBusyThreshold
	}
	fg := idle.NewCounter(c.BusyThreshold)
	sched, err := idle.New(&idle.Config{
		MaxPeriod:   c.MaxPeriod,
		Clock:       m.clock,
		Sources:     append([]idle.LoadSource{fg}, c.Sources...),
		Logger:      m.logger,
		LowPriority: c.LowPriority,
	})
	if err != nil {
		return nil, fmt.Errorf("bgtask: Config.Idle: %w", err)
	}
	return &idleRunner{fg: fg, sched: sched, maxTasks: c.MaxTasks}, nil
}

// gate connects one goroutine of an idle-priority run to the scheduler.
type gate struct{ g *idle.Gate }

func (g gate) yield(ctx context.Context) error { return g.g.Yield(ctx) }

func (g gate) deadline() idle.Deadline { return g.g.Deadline() }

func (g gate) close() { g.g.Close() }

// newGate returns the gate of one goroutine of an idle-priority run.
func (ir *idleRunner) newGate(r *running) idleGate {
	return gate{ir.sched.NewGate(&idle.RequestOpts{Timeout: r.rec.IdleTimeout})}
}

// Yield lets an idle-priority task give way to foreground work. It returns
// nil at once while the task's current idle slice has time left; otherwise
// it ends the slice and blocks until the next idle period (or until the
// submission's IdleTimeout forces one). The first call waits for the first
// slice. For a normal-priority task Yield only reports ctx.Err(). Call it
// between small units of work; its error is the context's.
func (t *Task) Yield(ctx context.Context) error {
	if t.idle == nil {
		return ctx.Err()
	}
	return t.idle.yield(ctx)
}

// IdleDeadline returns the deadline of the idle slice an idle-priority task
// holds (TimeRemaining drops to 0 as soon as foreground work arrives), or
// nil when it holds none or is not idle-priority.
func (t *Task) IdleDeadline() idle.Deadline {
	if t.idle == nil {
		return nil
	}
	return t.idle.deadline()
}

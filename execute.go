package bgtask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/bgtask/bgtask/store"
)

// newRunning prepares a run of a claimed record; leasedAt is when the
// call that took the lease started (the store's heartbeat of the lease is
// no older), the run's first renewal for the lease keeper.
func (m *Manager) newRunning(rec *store.Record, lease store.Lease, def *Definition, leasedAt time.Time) *running {
	r := &running{rec: rec, lease: lease, def: def, idle: rec.Idle(), timeout: m.timeoutOf(rec, def), renewedAt: leasedAt}
	r.task = &Task{
		id:         rec.ID,
		name:       rec.Name,
		args:       rec.Args,
		attempt:    rec.Attempt,
		baseLogger: m.logger,
	}
	// Every attempt starts its progress from zero (the store reset it at
	// the claim): a task that resumes keeps its own checkpoints, in its
	// data or as subtasks.
	r.task.progress = newProgress(func() { m.flusher.mark(r) })
	if r.idle && !def.Parallel() {
		r.task.idle = m.idle.newGate(r)
	}
	if len(rec.Subtasks) > 0 {
		r.subtasks = append([]store.Subtask(nil), rec.Subtasks...)
	}
	return r
}

func (m *Manager) timeoutOf(rec *store.Record, def *Definition) time.Duration {
	switch {
	case rec.Timeout > 0:
		return rec.Timeout
	case def.Timeout > 0:
		return def.Timeout
	}
	return m.cfg.DefaultTimeout
}

// launch starts a claimed record that holds a slot of its kind; leasedAt
// is when the call that took its lease started.
func (m *Manager) launch(rec *store.Record, lease store.Lease, leasedAt time.Time) {
	def, ok := m.cfg.Registry.Lookup(rec.Name)
	if !ok || !def.submittable() { // the store filters by name; a registry changed under us
		m.handBack(rec, lease)
		return
	}
	r := m.newRunning(rec, lease, def, leasedAt)
	m.runs.add(r)
	if rec.CancelRequested {
		r.stop(errCancelRequested)
	}
	go m.execute(r)
}

// handBack releases a claimed record that will not run here and frees its
// slot.
func (m *Manager) handBack(rec *store.Record, lease store.Lease) {
	m.freeSlot(rec.Idle())
	ctx, cancel := m.storeCtx()
	defer cancel()
	if _, err := m.store.Release(ctx, []store.Patch{{Lease: lease}}); err != nil {
		m.logger.Warn("cannot hand back task; it is recovered later", "task_id", rec.ID, "err", err)
	}
}

// execute runs one attempt from start to finalize.
func (m *Manager) execute(r *running) {
	ctx, cancel := context.WithCancelCause(m.work)
	defer cancel(nil)
	r.setCancel(cancel)
	if !r.idle {
		r.armTimeout(m.clock)
	}
	info := m.attemptInfo(r)
	for _, h := range m.hooks {
		h.BeforeRun(ctx, info)
	}
	stopWatch := context.AfterFunc(ctx, func() {
		grace := m.cfg.TimeoutGrace
		if errors.Is(context.Cause(ctx), errShutdown) {
			// Stop returns TimeoutGrace after its deadline: keep a quarter
			// of it to write the outcome of a run given up on.
			grace = grace * 3 / 4
		}
		r.armGrace(m.clock.AfterFunc(grace, func() {
			m.finalize(ctx, r, errAbandoned)
		}))
	})
	err := m.runBody(ctx, r)
	stopWatch()
	m.finalize(ctx, r, err)
}

func (m *Manager) runBody(ctx context.Context, r *running) error {
	if r.def.Parallel() {
		return m.runParallel(ctx, r)
	}
	return m.runGated(ctx, r, r.task, r.def.Run)
}

// runGated calls fn for t. A normal-priority run counts as foreground load
// while it runs; an idle-priority run starts only in an idle slice, which
// it holds until it yields or returns, and its timeout starts with that
// first slice.
func (m *Manager) runGated(ctx context.Context, r *running, t *Task, fn RunFunc) error {
	if t.idle == nil {
		m.idle.fg.Inc()
		defer m.idle.fg.Dec()
		return callSafe(ctx, fn, t)
	}
	defer t.idle.close()
	if err := t.idle.yield(ctx); err != nil {
		return err
	}
	r.armTimeout(m.clock)
	return callSafe(ctx, fn, t)
}

// callSafe calls fn, turning a panic into a *panicError.
func callSafe(ctx context.Context, fn RunFunc, t *Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return fn(ctx, t)
}

// action is what finalize does with a run's record.
type action int

const (
	actFinish  action = iota // write the terminal state
	actRelease               // hand the record back for another run
	actNothing               // leave the record alone (lease lost, hard stop)
)

// outcome is how a run ended.
type outcome struct {
	action   action
	state    State
	err      string
	exitCode int
}

// decide maps a run's result and its context's cause to an outcome.
func (m *Manager) decide(ctx context.Context, r *running, err error) outcome {
	cause := context.Cause(ctx)
	abandoned := errors.Is(err, errAbandoned)
	var sub *subtaskError
	switch {
	case errors.Is(cause, errLost), errors.Is(cause, errLeaseExpired), errors.Is(cause, errHardStop):
		return outcome{action: actNothing}
	case errors.As(err, &sub):
		if sub.partial {
			return outcome{state: StateSuccess}
		}
		return outcome{state: StateFailure, err: capText(err.Error()), exitCode: ExitCode(err)}
	case !abandoned && ExitCode(err) == ExitSuccess && !isPanic(err):
		return outcome{state: StateSuccess}
	case errors.Is(cause, errShutdown):
		if r.def.Retriable {
			return outcome{action: actRelease}
		}
		return outcome{state: StateCancelled, err: "server shutdown", exitCode: ExitFailure}
	case errors.Is(cause, errCancelRequested):
		return outcome{state: StateCancelled, err: "cancelled", exitCode: ExitFailure}
	case errors.Is(cause, errTimeout):
		msg := fmt.Sprintf("timeout after %s", r.timeout)
		if abandoned {
			msg += " (the run function did not return)"
		}
		return outcome{state: StateFailure, err: msg, exitCode: ExitTimeout}
	case m.work.Err() != nil:
		return outcome{action: actNothing} // hard stop: the record is recovered later
	}
	return outcome{state: StateFailure, err: capText(err.Error()), exitCode: ExitCode(err)}
}

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// finalize decides a run's outcome exactly once (the run's own goroutine
// and the grace timer race for it), frees its slot at once and hands the
// outcome to the completer; the run leaves the run set once the outcome
// is written.
func (m *Manager) finalize(ctx context.Context, r *running, err error) {
	if !r.claimFinalize() {
		return
	}
	var p *panicError
	if errors.As(err, &p) {
		r.task.Logger().Error("task panicked", "panic", fmt.Sprint(p.value), "stack", string(p.stack))
	}
	if errors.Is(err, errAbandoned) {
		r.task.Logger().Warn("task did not return after its context was cancelled; giving up on it", "grace", m.cfg.TimeoutGrace)
	}
	// The run function has returned (or been given up on): the slot is
	// free while the outcome is written, so that the claimer's next claim
	// can share a commit with these finishes.
	m.freeSlot(r.idle)
	o := m.decide(ctx, r, err)
	m.flusher.forget(r)
	res := &AttemptResult{State: StateOngoing, Error: o.err, Duration: m.clock.Now().Sub(r.rec.StartedAt)}
	done := func(written bool) {
		if o.action == actFinish && written {
			res.State, res.ExitCode = o.state, o.exitCode
		}
		res.HandedBack = o.action == actRelease && written
		m.afterRun(ctx, r, res)
	}
	switch o.action {
	case actFinish:
		m.completer.finish(r, store.Completion{
			Lease:    r.lease,
			State:    store.State(o.state),
			Error:    o.err,
			ExitCode: o.exitCode,
			Progress: progressPtr(r.task.progress.Snapshot()),
			Subtasks: m.finalSubtasks(r, o),
		}, done)
	case actRelease:
		m.completer.release(r, r.patch(), done)
	default:
		r.task.Logger().Debug("run ended without a write", "cause", context.Cause(ctx))
		done(false)
	}
}

func progressPtr(p ProgressInfo) *store.Progress {
	sp := store.Progress(p)
	return &sp
}

// afterRun runs the AfterRun hooks and removes r from the run set.
func (m *Manager) afterRun(ctx context.Context, r *running, res *AttemptResult) {
	info := m.attemptInfo(r)
	for i := len(m.hooks) - 1; i >= 0; i-- {
		m.hooks[i].AfterRun(ctx, info, res)
	}
	if res.State.Terminal() && m.logger.Enabled(context.Background(), slog.LevelDebug) {
		r.task.Logger().Debug("task finished", "state", res.State, "exit_code", res.ExitCode)
	}
	m.runs.remove(r)
}

// freeSlot frees a slot of the kind and wakes the claimer if queued work
// may be waiting.
func (m *Manager) freeSlot(idle bool) {
	m.slots.free(idle, 1)
	m.claimer.slotFreed()
}

func (m *Manager) attemptInfo(r *running) *AttemptInfo {
	return &AttemptInfo{
		ID:        r.rec.ID,
		Name:      r.rec.Name,
		Args:      r.rec.Args,
		Attempt:   r.rec.Attempt,
		Priority:  Priority(r.rec.Priority),
		StartedAt: r.rec.StartedAt,
	}
}

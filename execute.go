package bgtask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bgtask/bgtask/store"
)

// newRunning prepares a run of rec.
func (m *Manager) newRunning(rec *store.Record, def *Definition, slot bool) *running {
	r := &running{rec: rec, def: def, slot: slot, timeout: m.timeoutOf(rec, def)}
	r.task = &Task{
		id:         rec.ID,
		name:       rec.Name,
		args:       rec.Args,
		attempt:    rec.Attempt,
		baseLogger: m.logger,
	}
	// Every attempt starts its progress from zero: a task that resumes
	// keeps its own checkpoints (in its data, or as subtasks).
	r.task.progress = newProgress(func() { m.flusher.mark(r) })
	if Priority(rec.Priority) == PriorityIdle && !def.Parallel() {
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

// launch starts a run that was already counted in m.tasks.
func (m *Manager) launch(r *running) {
	m.mu.Lock()
	m.running[r.rec.ID] = r
	m.mu.Unlock()
	if r.rec.CancelRequested {
		r.stop(errCancelRequested)
	}
	go m.execute(r)
}

// execute runs one attempt from start to finalize.
func (m *Manager) execute(r *running) {
	ctx, cancel := context.WithCancelCause(m.work)
	defer cancel(nil)
	r.setCancel(cancel)
	timeout := m.clock.AfterFunc(r.timeout, func() { r.stop(errTimeout) })
	defer timeout.Stop()

	m.emitFor(r, EventStarted, func(ev *Event) { ev.Message = r.task.progress.Snapshot().Message })
	info := m.attemptInfo(r)
	for _, h := range m.hooks {
		h.BeforeRun(ctx, info)
	}
	stopWatch := context.AfterFunc(ctx, func() {
		r.armGrace(m.clock.AfterFunc(m.cfg.TimeoutGrace, func() {
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
	return m.runGated(ctx, r.task, r.def.Run)
}

// runGated calls fn for t. A normal-priority run counts as foreground load
// while it runs; an idle-priority run starts only in an idle slice, which
// it holds until it yields or returns.
func (m *Manager) runGated(ctx context.Context, t *Task, fn RunFunc) error {
	if t.idle == nil {
		m.idle.fg.Inc()
		defer m.idle.fg.Dec()
		return callSafe(ctx, fn, t)
	}
	defer t.idle.close()
	if err := t.idle.yield(ctx); err != nil {
		return err
	}
	return callSafe(ctx, fn, t)
}

// callSafe calls fn, turning a panic into a *panicError.
func callSafe(ctx context.Context, fn RunFunc, t *Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: stack()}
		}
	}()
	return fn(ctx, t)
}

// action is what finalize does with a run's record.
type action int

const (
	actFinish  action = iota // write the terminal state
	actRelease               // hand the record back for takeover
	actNothing               // leave the record alone (lost, hard stop)
)

// outcome is how a run ended.
type outcome struct {
	action   action
	state    State
	kind     EventKind
	err      string
	exitCode int
	subErrs  map[string]string
}

// decide maps a run's result and its context's cause to an outcome.
func (m *Manager) decide(ctx context.Context, r *running, err error) outcome {
	cause := context.Cause(ctx)
	var sub *subtaskError
	if errors.As(err, &sub) {
		if sub.partial {
			return outcome{state: StateSuccess, kind: EventPartialSuccess, subErrs: sub.errs}
		}
	}
	abandoned := errors.Is(err, errAbandoned)
	switch {
	case errors.Is(cause, errLost):
		return outcome{action: actNothing}
	case !abandoned && ExitCode(err) == ExitSuccess && !isPanic(err):
		return outcome{state: StateSuccess, kind: EventDone}
	case errors.Is(cause, errShutdown):
		if r.def.Retriable {
			return outcome{action: actRelease}
		}
		return outcome{state: StateCancelled, kind: EventCancelled, err: "server shutdown", exitCode: ExitFailure}
	case errors.Is(cause, errCancelRequested):
		return outcome{state: StateCancelled, kind: EventCancelled, err: "cancelled", exitCode: ExitFailure}
	case errors.Is(cause, errTimeout):
		msg := fmt.Sprintf("timeout after %s", r.timeout)
		if abandoned {
			msg += " (the run function did not return)"
		}
		return outcome{state: StateFailure, kind: EventFailed, err: msg, exitCode: ExitTimeout}
	case m.work.Err() != nil:
		return outcome{action: actNothing} // hard stop: the record becomes an orphan
	}
	o := outcome{state: StateFailure, kind: EventFailed, err: err.Error(), exitCode: ExitCode(err)}
	if sub != nil {
		o.subErrs = sub.errs
	}
	return o
}

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// finalize records a run's outcome exactly once (the run's own goroutine
// and the grace timer race for it), then frees its slot.
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
	if r.slot {
		// The run function has returned (or been given up on): the slot is
		// free while the outcome is written, so that the claimer's next
		// claim shares a commit with these finishes.
		m.releaseSlot()
	}
	o := m.decide(ctx, r, err)
	m.flusher.forget(r)
	res := &AttemptResult{State: StateOngoing, Error: o.err, Duration: m.clock.Now().Sub(r.rec.StartedAt)}
	switch o.action {
	case actFinish:
		m.finish(r, o)
		res.State, res.ExitCode = o.state, o.exitCode
	case actRelease:
		m.release(r)
		res.HandedBack = true
	case actNothing:
		m.endEvents(r)
		r.task.Logger().Debug("run ended without a write", "cause", context.Cause(ctx))
	}
	info := m.attemptInfo(r)
	for i := len(m.hooks) - 1; i >= 0; i-- {
		m.hooks[i].AfterRun(ctx, info, res)
	}
	m.mu.Lock()
	delete(m.running, r.rec.ID)
	m.mu.Unlock()
	m.tasks.Done()
}

// finish writes the terminal state, then emits the last progress and the
// terminal event.
func (m *Manager) finish(r *running, o outcome) {
	prog := store.Progress(r.task.progress.Snapshot())
	c := store.Completion{
		State:      store.State(o.state),
		Error:      o.err,
		ExitCode:   o.exitCode,
		FinishedAt: m.clock.Now(),
		Progress:   &prog,
		Subtasks:   m.finalSubtasks(r, o),
	}
	ctx, cancel := m.storeCtx()
	defer cancel()
	if _, err := m.store.Finish(ctx, m.cfg.ServerID, r.rec.ID, c); err != nil {
		// Not owned any more (taken over) or the store is gone: the record
		// stays as it is and another server, or a restart, takes it over.
		m.endEvents(r)
		r.task.Logger().Error("cannot record the end of the task", "state", o.state, "err", err)
		return
	}
	m.emitFinal(r, func(ev *Event) {
		ev.Kind, ev.State, ev.Error, ev.SubtaskErrors = o.kind, o.state, o.err, o.subErrs
		code := o.exitCode
		ev.ExitCode = &code
		ev.Message = prog.Message
	})
	if m.logger.Enabled(context.Background(), slog.LevelDebug) { // spares the task's logger on the hot path
		r.task.Logger().Debug("task finished", "state", o.state, "exit_code", o.exitCode)
	}
}

// release hands a retriable record back at shutdown.
func (m *Manager) release(r *running) {
	m.flushNow(r)
	m.endEvents(r)
	ctx, cancel := m.storeCtx()
	defer cancel()
	if err := m.store.Release(ctx, m.cfg.ServerID, []string{r.rec.ID}); err != nil {
		r.task.Logger().Error("cannot hand the task back; it will be taken over when its lease expires", "err", err)
		return
	}
	r.task.Logger().Info("task handed back for takeover")
}

// flushNow writes a handed-back run's latest progress so that the next
// owner continues from it.
func (m *Manager) flushNow(r *running) {
	ctx, cancel := m.storeCtx()
	defer cancel()
	if _, err := m.store.Update(ctx, m.cfg.ServerID, []store.Patch{r.patch()}); err != nil {
		r.task.Logger().Warn("cannot save progress before hand-back", "err", err)
	}
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

package bgtask

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bgtask/bgtask/internal/parallel"
	"github.com/bgtask/bgtask/store"
)

// subtaskError is the result of a parallel run in which subtasks failed.
type subtaskError struct {
	partial bool // at least one subtask succeeded
	total   int
	errs    map[string]string
}

func (e *subtaskError) Error() string {
	keys := make([]string, 0, len(e.errs))
	for k := range e.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.errs[k]
	}
	return fmt.Sprintf("%d of %d subtasks failed (%s)", len(e.errs), e.total, strings.Join(parts, "; "))
}

// runParallel runs every subtask of r that has not succeeded yet, at most
// Definition.Concurrency at a time. The parent's progress counts finished
// subtasks.
func (m *Manager) runParallel(ctx context.Context, r *running) error {
	if err := m.listSubtasks(ctx, r); err != nil {
		return err
	}
	r.subMu.Lock()
	n := len(r.subtasks)
	r.subTasks = make([]*Task, n)
	var todo []int
	for i, s := range r.subtasks {
		if s.State != store.Success {
			todo = append(todo, i)
		}
	}
	r.subMu.Unlock()
	r.task.progress.SetTotal(float64(n))
	r.task.progress.Set(float64(n-len(todo)), fmt.Sprintf("%d of %d subtasks to run", len(todo), n))

	parallel.Run(ctx, todo, r.def.subtaskConcurrency(), func(ctx context.Context, i int) {
		m.runSubtask(ctx, r, i)
	})
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	errs := make(map[string]string)
	r.subMu.Lock()
	for _, s := range r.subtasks {
		if s.State == store.Failure {
			errs[s.Key] = s.Error
		}
	}
	r.subMu.Unlock()
	if len(errs) == 0 {
		return nil
	}
	return &subtaskError{partial: len(errs) < n, total: n, errs: errs}
}

// listSubtasks asks the definition for the subtask keys on a first run and
// stores them, so that a takeover re-runs only unfinished subtasks. A
// takeover or a retry finds them in the record.
func (m *Manager) listSubtasks(ctx context.Context, r *running) error {
	r.subMu.Lock()
	have := r.subtasks != nil
	r.subMu.Unlock()
	if have {
		return nil
	}
	var keys []string
	err := callSafe(ctx, func(ctx context.Context, t *Task) error {
		var err error
		keys, err = r.def.Subtasks(ctx, t)
		return err
	}, r.task)
	if err != nil {
		return err
	}
	if err := parallel.CheckKeys(keys); err != nil {
		return fmt.Errorf("bgtask: %w", err)
	}
	subs := make([]store.Subtask, len(keys))
	for i, k := range keys {
		subs[i] = store.Subtask{Key: k, State: store.SubtaskPending}
	}
	sctx, cancel := m.storeCtx()
	defer cancel()
	lost, err := m.store.Update(sctx, []store.Patch{{Lease: r.lease, Subtasks: subs}})
	switch {
	case err != nil:
		return fmt.Errorf("bgtask: cannot store subtask keys: %w", err)
	case len(lost) > 0:
		r.endWrites()
		r.stop(errLost)
		return errLost
	}
	r.subMu.Lock()
	r.subtasks = subs
	r.subMu.Unlock()
	return nil
}

func (m *Manager) runSubtask(ctx context.Context, r *running, i int) {
	r.subMu.Lock()
	key := r.subtasks[i].Key
	st := &Task{
		id:         r.rec.ID,
		name:       r.rec.Name,
		args:       r.rec.Args,
		attempt:    r.rec.Attempt,
		subtaskKey: key,
		logger:     r.task.Logger().With("subtask", key),
	}
	st.progress = newProgress(func() { m.flusher.mark(r) })
	if r.idle {
		st.idle = m.idle.newGate(r)
	}
	r.subTasks[i] = st
	r.subtasks[i].State, r.subtasks[i].Error = store.Ongoing, ""
	r.subMu.Unlock()
	m.flusher.mark(r)

	err := m.runGated(ctx, r, st, r.def.RunSubtask)
	verb := "succeeded"
	r.subMu.Lock()
	switch {
	case err == nil || (ExitCode(err) == ExitSuccess && !isPanic(err)):
		r.subtasks[i].State = store.Success
	case ctx.Err() != nil:
		verb = "interrupted" // not finished: a later attempt runs it again
	default:
		r.subtasks[i].State, r.subtasks[i].Error = store.Failure, capText(err.Error())
		verb = "failed"
	}
	r.subMu.Unlock()
	if p, ok := err.(*panicError); ok {
		st.Logger().Error("subtask panicked", "panic", fmt.Sprint(p.value), "stack", string(p.stack))
	}
	if verb != "interrupted" {
		r.task.progress.Add(1, "subtask "+key+" "+verb)
	} else {
		m.flusher.mark(r)
	}
}

// finalSubtasks returns the subtask list to store with a terminal state:
// subtasks that never finished take the parent's state.
func (m *Manager) finalSubtasks(r *running, o outcome) []store.Subtask {
	subs := r.subtaskSnapshot()
	store.EndSubtasks(subs, store.State(o.state), o.err)
	return subs
}

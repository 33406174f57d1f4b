package bgtask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// Causes with which a run's context is cancelled.
var (
	errCancelRequested = errors.New("bgtask: task cancelled")
	errShutdown        = errors.New("bgtask: server shutdown")
	errLost            = errors.New("bgtask: task taken over by another server")
	errTimeout         = errors.New("bgtask: task timed out")
	// errAbandoned is the result of a run that did not return within
	// TimeoutGrace after its context was cancelled.
	errAbandoned = errors.New("bgtask: task did not return after cancellation")
)

// panicError is the result of a run function that panicked.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// running is one run of a task on this server. It lives from launch to
// finalize.
type running struct {
	rec  *store.Record // as claimed or inserted; read-only
	def  *Definition
	task *Task
	slot bool // holds a worker slot
	// timeout of this run
	timeout time.Duration

	mu         sync.Mutex // guards the fields below
	cancel     context.CancelCauseFunc
	cause      error // first stop cause, also before cancel is set
	finalized  bool
	graceTimer clock.Timer

	// evMu serializes this task's events; it guards the fields below.
	evMu     sync.Mutex
	ended    bool
	lastSent ProgressInfo
	sent     bool
	subDirty bool // subtask state changed since the last updated event

	// nextFlush is guarded by the flusher's mu.
	nextFlush time.Time

	// parallel tasks: subMu guards subtasks and subTasks.
	subMu    sync.Mutex
	subtasks []store.Subtask
	subTasks []*Task
}

// setCancel installs the run's cancel function and applies a stop that
// arrived before it.
func (r *running) setCancel(cancel context.CancelCauseFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel = cancel
	if r.cause != nil {
		cancel(r.cause)
	}
}

// stop cancels the run with cause; the first cause wins.
func (r *running) stop(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cause == nil {
		r.cause = cause
	}
	if r.cancel != nil {
		r.cancel(cause)
	}
}

// claimFinalize reports whether the caller is the one to finalize the run.
func (r *running) claimFinalize() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finalized {
		return false
	}
	r.finalized = true
	if r.graceTimer != nil {
		r.graceTimer.Stop()
	}
	return true
}

func (r *running) armGrace(t clock.Timer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finalized {
		t.Stop()
		return
	}
	r.graceTimer = t
}

// patch returns the store patch of the run's current progress and subtasks.
func (r *running) patch() store.Patch {
	p := store.Progress(r.task.progress.Snapshot())
	return store.Patch{ID: r.rec.ID, Progress: &p, Subtasks: r.subtaskSnapshot()}
}

// subtaskSnapshot copies the subtask list with each subtask's progress; nil
// for a task that is not parallel.
func (r *running) subtaskSnapshot() []store.Subtask {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.subtasks == nil {
		return nil
	}
	out := make([]store.Subtask, len(r.subtasks))
	copy(out, r.subtasks)
	for i, t := range r.subTasks {
		if t != nil {
			out[i].Progress = store.Progress(t.progress.Snapshot())
		}
	}
	return out
}

func (r *running) markSubtasksChanged() {
	r.evMu.Lock()
	r.subDirty = true
	r.evMu.Unlock()
}

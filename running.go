package bgtask

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// Causes with which a run's context is cancelled.
var (
	errCancelRequested = errors.New("bgtask: task cancelled")
	errShutdown        = errors.New("bgtask: server shutdown")
	errHardStop        = errors.New("bgtask: manager context cancelled")
	errLost            = errors.New("bgtask: lease lost: task taken over or finished elsewhere")
	errLeaseExpired    = errors.New("bgtask: lease lost: could not renew it in time")
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

// running is one run (one attempt) of a task on this server. It lives from
// launch until its outcome is written.
type running struct {
	rec   *store.Record // as claimed; read-only
	lease store.Lease   // read-only
	def   *Definition
	task  *Task
	// idle runs hold an idle slot, others a worker slot.
	idle    bool
	timeout time.Duration

	mu           sync.Mutex // guards the fields below
	cancel       context.CancelCauseFunc
	cause        error // first stop cause, also before cancel is set
	finalized    bool
	graceTimer   clock.Timer
	timeoutTimer clock.Timer
	timeoutArmed bool
	// renewedAt is when this server last renewed the lease (its own
	// clock); the lease keeper stops a run it could not renew in time.
	renewedAt time.Time
	// writesEnded is set once the run may write nothing more (finalized
	// or lost): late progress of an abandoned run function is ignored.
	writesEnded bool

	// nextFlush is guarded by the flusher's mu.
	nextFlush time.Time
	// written is the last progress and subtask list the flusher wrote
	// (nil: what was claimed, rec's); only the flusher's goroutine uses it.
	written *store.Patch

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

// armTimeout starts the run's timeout once (for an idle-priority run, at
// its first slice).
func (r *running) armTimeout(c clock.Clock) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timeoutArmed || r.finalized {
		return
	}
	r.timeoutArmed = true
	r.timeoutTimer = c.AfterFunc(r.timeout, func() { r.stop(errTimeout) })
}

// claimFinalize reports whether the caller is the one to finalize the run,
// and ends its writes.
func (r *running) claimFinalize() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finalized {
		return false
	}
	r.finalized, r.writesEnded = true, true
	if r.graceTimer != nil {
		r.graceTimer.Stop()
	}
	if r.timeoutTimer != nil {
		r.timeoutTimer.Stop()
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

// leaseLost acts on the store's word that r's lease is no longer current
// (a Renew or an Update found it lost): the run writes nothing more and
// stops, with a warning. A run that has already handed its outcome to the
// completer is left alone: its own Finish may have ended the lease before
// that call, and a refused outcome is reported by the completer.
func (r *running) leaseLost() {
	r.mu.Lock()
	finalized := r.finalized
	r.mu.Unlock()
	if finalized {
		return
	}
	r.task.Logger().Warn("lease lost: the task was taken over or ended elsewhere; stopping it without writing")
	// A pending outcome of r is refused by the store now.
	r.endWrites()
	r.stop(errLost)
}

// mayWrite reports whether the run may still write progress.
func (r *running) mayWrite() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.writesEnded
}

// endWrites stops every further write of the run (its lease is lost).
func (r *running) endWrites() {
	r.mu.Lock()
	r.writesEnded = true
	r.mu.Unlock()
}

func (r *running) renewed(at time.Time) {
	r.mu.Lock()
	r.renewedAt = at
	r.mu.Unlock()
}

// renewedBefore reports whether the lease was last renewed before t.
func (r *running) renewedBefore(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.renewedAt.Before(t)
}

// patch returns the store patch of the run's current progress and subtasks.
func (r *running) patch() store.Patch {
	p := store.Progress(r.task.progress.Snapshot())
	return store.Patch{Lease: r.lease, Progress: &p, Subtasks: r.subtaskSnapshot()}
}

// wrote reports whether p's progress and subtasks are what the flusher
// wrote last (or, before its first write, what was claimed).
func (r *running) wrote(p store.Patch) bool {
	prog, subs := r.rec.Progress, r.rec.Subtasks
	if r.written != nil {
		prog, subs = *r.written.Progress, r.written.Subtasks
	}
	return *p.Progress == prog && slices.Equal(p.Subtasks, subs)
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

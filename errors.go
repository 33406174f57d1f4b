package bgtask

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is; messages that carry more
// detail wrap them.
var (
	// ErrUnknownTask: no definition with that name is registered.
	ErrUnknownTask = errors.New("bgtask: unknown task")
	// ErrDuplicateTask: a definition with that name is already registered.
	ErrDuplicateTask = errors.New("bgtask: duplicate task")
	// ErrInvalidDefinition: a definition fails validation (name, run
	// function, options).
	ErrInvalidDefinition = errors.New("bgtask: invalid definition")
	// ErrNotFound: no task with that ID.
	ErrNotFound = errors.New("bgtask: task not found")
	// ErrFinished: the task has already reached a terminal state.
	ErrFinished = errors.New("bgtask: task already finished")
	// ErrNothingToRetry: the task has no failed subtasks to re-run.
	ErrNothingToRetry = errors.New("bgtask: nothing to retry")
	// ErrStopped: the manager is stopping or stopped and accepts nothing new.
	ErrStopped = errors.New("bgtask: manager stopped")
	// ErrInvalidArgument: a per-call option or argument is out of range.
	ErrInvalidArgument = errors.New("bgtask: invalid argument")
	// ErrNotSubmittable: the definition is TaskModeOnly; a manager neither
	// accepts nor runs it.
	ErrNotSubmittable = errors.New("bgtask: task runs in task mode only")
	// ErrArgsTooLarge: a submission's arguments exceed MaxArgsBytes. Errors
	// wrapping it also wrap ErrInvalidArgument.
	ErrArgsTooLarge = errors.New("bgtask: arguments too large")
	// ErrIdempotencyConflict: the idempotency key of a submission belongs
	// to a stored task of another name, other arguments or other options
	// (priority, timeout, idle timeout). The error is an
	// *IdempotencyConflictError, which names that task.
	ErrIdempotencyConflict = errors.New("bgtask: idempotency key used by another task")
	// ErrServerIDInUse: Manager.Start found another live server announcing
	// the same Config.ServerID in the store. The error is a
	// *ServerIDInUseError, which names that server.
	ErrServerIDInUse = errors.New("bgtask: server ID in use")
)

// IdempotencyConflictError is returned by Submit and SubmitMany when the
// submission's IdempotencyKey is already held by a stored task whose name,
// arguments, priority, timeout or idle timeout differ. errors.Is(err, ErrIdempotencyConflict) holds.
type IdempotencyConflictError struct {
	// Key is the idempotency key.
	Key string
	// TaskID and Name identify the stored task that holds the key.
	TaskID string
	Name   string
}

// Error says which task holds the key.
func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("bgtask: idempotency key %q is held by task %s (%s) with another name, other arguments or other options", e.Key, e.TaskID, e.Name)
}

// Unwrap returns ErrIdempotencyConflict.
func (e *IdempotencyConflictError) Unwrap() error { return ErrIdempotencyConflict }

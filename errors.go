package bgtask

import "errors"

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
)

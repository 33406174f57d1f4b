// Package bgtask runs background work for Go programs.
//
// One [Registry] of task definitions, compiled into the binary, serves three
// ways of running them:
//
//   - Task mode: `bgtask run NAME [ARG...]` runs one task headless in its own
//     short-lived process, in a throw-away workspace, and exits with a frozen
//     exit-code contract (see [ExitSuccess] and friends). Cron, systemd
//     timers, Kubernetes CronJobs and shutdown hooks call it. The entry point
//     lives in package cli so that a program can pass its own registry.
//   - Task manager: a [Manager] accepts long-running tasks, stores them
//     durably before anything runs, returns an ID at once, reports progress
//     and events, cancels, retries failed subtasks of parallel tasks and
//     takes over the tasks of a server that died.
//   - Idle scheduling: tasks submitted with [PriorityIdle] run only when the
//     process is idle, in slices of at most 50 ms, through package idle.
//
// A run function has the signature
//
//	func(ctx context.Context, t *bgtask.Task) error
//
// and ends by returning nil (success), [Exit] with a task-specific code, any
// other error (an exception) or by panicking (an exception too, recovered).
// Its context is cancelled on timeout, on cancellation and on shutdown.
package bgtask

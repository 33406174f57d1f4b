package bgtask

import (
	"context"
	"fmt"
	"time"
)

// RunFunc is the body of a task. See the package documentation for how its
// result maps to states and exit codes.
type RunFunc func(ctx context.Context, t *Task) error

// SubtasksFunc lists the subtask keys of a parallel task. Keys must be
// unique and non-empty.
type SubtasksFunc func(ctx context.Context, t *Task) ([]string, error)

// WorkspaceKind selects where a task-mode run keeps its files.
type WorkspaceKind int

const (
	// WorkspaceEphemeral (the default) is a fresh private directory, removed
	// when the run ends.
	WorkspaceEphemeral WorkspaceKind = iota
	// WorkspacePersistent is <state-dir>/workspaces/<name>, reused by every
	// run and never removed; runs of one persistent task exclude each other.
	WorkspacePersistent
)

// String returns "ephemeral" or "persistent".
func (k WorkspaceKind) String() string {
	switch k {
	case WorkspaceEphemeral:
		return "ephemeral"
	case WorkspacePersistent:
		return "persistent"
	}
	return fmt.Sprintf("WorkspaceKind(%d)", int(k))
}

// Priority says when the manager runs a task.
type Priority string

const (
	// PriorityNormal tasks run as soon as a worker slot is free.
	PriorityNormal Priority = "normal"
	// PriorityIdle tasks run only in idle periods (package idle), in slices.
	PriorityIdle Priority = "idle"
)

// Defaults for Definition fields left at their zero value.
const (
	// DefaultMaxAttempts is the attempt limit of a retriable definition
	// whose MaxAttempts is 0.
	DefaultMaxAttempts = 3
	// DefaultSubtaskConcurrency bounds the subtasks of a parallel task that
	// run at once when Concurrency is 0.
	DefaultSubtaskConcurrency = 8
)

// Definition describes a task: its name, its run function and its options.
// The zero value of every option means its documented default.
type Definition struct {
	// Name identifies the task: ^[A-Za-z][A-Za-z0-9_.-]{0,63}$.
	Name string
	// Description is a one-line summary shown by `bgtask tasks`.
	Description string
	// Run is the body of the task. Required unless the task is parallel
	// (Subtasks and RunSubtask set), where it is not used.
	Run RunFunc
	// CheckArgs, if set, checks the arguments before anything else runs:
	// in task mode before the workspace is opened and before a no-output
	// task's output is silenced, so its usage errors always reach stderr.
	// A non-nil error ends the run as if Run had returned it (exit 3, or
	// the code of a bgtask.Exit it wraps), and the task does not run.
	// nil: no check.
	CheckArgs func(args []string) error

	// Timeout bounds one run. 0: the caller decides (task mode: --timeout,
	// else BGTASK_DEFAULT_TIMEOUT, else 10 minutes; manager: SubmitOpts, else
	// Config.DefaultTimeout).
	Timeout time.Duration
	// MinRuntime makes an early finisher in task mode wait out the rest.
	// 0: --min-runtime, else no minimum. A run that ends in an exception does
	// not wait.
	MinRuntime time.Duration
	// NoOutput sends the task's stdout and stderr to /dev/null in task mode
	// unless --attach-console or BGTASK_IGNORE_NO_OUTPUT is given.
	NoOutput bool
	// Workspace selects ephemeral (default) or persistent workspaces in task
	// mode.
	Workspace WorkspaceKind

	// Retriable lets another server run the task again (attempt + 1) after
	// the server running it died or handed it back at shutdown.
	Retriable bool
	// MaxAttempts bounds the runs of a retriable task. 0: DefaultMaxAttempts.
	MaxAttempts int
	// Tags restrict takeover: a task with tags is claimed only by a server
	// that shares at least one of them.
	Tags []string
	// Priority is the default priority of submissions. "": PriorityNormal.
	Priority Priority
	// ProgressUnit says what the progress counts, for displays (the
	// dashboard's labels): "" (default) steps or items, shown as
	// "Task N of M"; "bytes", shown as sizes ("1.2 MB of 4.5 MB, 27 %");
	// "percent" (Total 100), shown as "27 %"; any other word, shown as
	// "N of M word".
	ProgressUnit string

	// Subtasks, with RunSubtask, makes the task parallel: one subtask per
	// key, run concurrently, each with its own state and error.
	Subtasks SubtasksFunc
	// RunSubtask runs one subtask; Task.SubtaskKey says which.
	RunSubtask RunFunc
	// Concurrency bounds the subtasks that run at once.
	// 0: DefaultSubtaskConcurrency.
	Concurrency int

	// TaskModeOnly keeps the task out of managers: it runs in task mode
	// (`bgtask run`) only. Manager.Submit and SubmitMany refuse it with an
	// error wrapping ErrNotSubmittable, a manager never claims it, and the
	// HTTP API neither lists nor accepts it. The built-in tasks of package
	// tasks set it: a server must not run, say, removeDirectory on the
	// word of any client. An application that wants a manager to run one
	// opts in for that definition by registering its own copy with the
	// field cleared (d := tasks.RemoveDirectory(); d.TaskModeOnly = false).
	// Default false: a definition is submittable.
	TaskModeOnly bool
}

// namePattern is the syntax of task names. ValidName checks it by hand:
// compiling the regexp at package init cost about 0.3 ms and 860
// allocations in every process, a tenth of a task-mode run.
const namePattern = `^[A-Za-z][A-Za-z0-9_.-]{0,63}$`

// ValidName reports whether name is a valid task name.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !('0' <= c && c <= '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// Parallel reports whether the definition runs subtasks.
func (d *Definition) Parallel() bool {
	return d.Subtasks != nil
}

// submittable reports whether a manager may accept and run the task.
func (d *Definition) submittable() bool {
	return !d.TaskModeOnly
}

// Attempts returns the effective attempt limit: 1 for a non-retriable task,
// MaxAttempts or DefaultMaxAttempts for a retriable one.
func (d *Definition) Attempts() int {
	switch {
	case !d.Retriable:
		return 1
	case d.MaxAttempts > 0:
		return d.MaxAttempts
	}
	return DefaultMaxAttempts
}

// EffectivePriority returns Priority, or PriorityNormal when unset.
func (d *Definition) EffectivePriority() Priority {
	if d.Priority == "" {
		return PriorityNormal
	}
	return d.Priority
}

func (d *Definition) subtaskConcurrency() int {
	if d.Concurrency > 0 {
		return d.Concurrency
	}
	return DefaultSubtaskConcurrency
}

func (d *Definition) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidDefinition, d.Name, fmt.Sprintf(format, a...))
	}
	switch {
	case !ValidName(d.Name):
		return bad("Name must match %s", namePattern)
	case (d.Subtasks == nil) != (d.RunSubtask == nil):
		return bad("Subtasks and RunSubtask must be set together")
	case d.Run == nil && d.Subtasks == nil:
		return bad("Run is required")
	case d.Timeout < 0, d.MinRuntime < 0:
		return bad("Timeout and MinRuntime must not be negative")
	case d.MaxAttempts < 0, d.Concurrency < 0:
		return bad("MaxAttempts and Concurrency must not be negative")
	case d.Workspace != WorkspaceEphemeral && d.Workspace != WorkspacePersistent:
		return bad("Workspace must be WorkspaceEphemeral or WorkspacePersistent")
	case d.Priority != "" && d.Priority != PriorityNormal && d.Priority != PriorityIdle:
		return bad("Priority must be %q or %q", PriorityNormal, PriorityIdle)
	}
	return nil
}

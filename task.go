package bgtask

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/bgtask/bgtask/idle"
)

// Task is the handle a run function receives: who it is, what it was asked
// to do, where it may write, and how it reports progress.
type Task struct {
	id         string
	name       string
	args       []string
	attempt    int
	workspace  string
	subtaskKey string
	progress   *Progress

	// loggerOnce builds logger from baseLogger on first use: most runs
	// never log, and slog.Logger.With costs allocations.
	loggerOnce sync.Once
	baseLogger *slog.Logger
	logger     *slog.Logger
	// idle is set for idle-priority tasks run by a Manager.
	idle idleGate
}

// TaskConfig describes a Task built with NewTask. Runners (task mode, the
// manager) and tests of run functions use it.
type TaskConfig struct {
	// ID of the run; task mode uses a fresh UUID.
	ID string
	// Name of the definition.
	Name string
	// Args are exactly the arguments that followed the task name.
	Args []string
	// Attempt is the 1-based attempt number. 0 means 1.
	Attempt int
	// Workspace is the directory the task may use for files.
	Workspace string
	// SubtaskKey is the key of the subtask being run, if any.
	SubtaskKey string
	// Logger receives the task's log records. nil: discard.
	Logger *slog.Logger
	// OnProgress, if set, is called after every progress change; read the
	// new state with Task.Progress().Snapshot().
	OnProgress func()
}

// NewTask returns a task handle for cfg. It is meant for runners and for
// unit tests of run functions.
func NewTask(cfg TaskConfig) *Task {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	attempt := cfg.Attempt
	if attempt == 0 {
		attempt = 1
	}
	return &Task{
		id:         cfg.ID,
		name:       cfg.Name,
		args:       slices.Clone(cfg.Args),
		attempt:    attempt,
		workspace:  cfg.Workspace,
		subtaskKey: cfg.SubtaskKey,
		logger:     logger,
		progress:   newProgress(cfg.OnProgress),
	}
}

// ID returns the task's ID.
func (t *Task) ID() string { return t.id }

// Name returns the definition's name.
func (t *Task) Name() string { return t.name }

// Args returns the arguments, exactly what followed the name. The caller
// may modify the returned slice.
func (t *Task) Args() []string { return slices.Clone(t.args) }

// Attempt returns the 1-based attempt number.
func (t *Task) Attempt() int { return t.attempt }

// Workspace returns the task's workspace directory ("" if it has none).
func (t *Task) Workspace() string { return t.workspace }

// SubtaskKey returns the key of the subtask being run ("" outside a
// subtask).
func (t *Task) SubtaskKey() string { return t.subtaskKey }

// Logger returns the task's logger, with the task's ID, name and attempt
// as attributes. For a no-output definition in task mode it writes nowhere
// unless output is attached.
func (t *Task) Logger() *slog.Logger {
	t.loggerOnce.Do(func() {
		if t.logger == nil {
			t.logger = t.baseLogger.With("task_id", t.id, "task", t.name, "attempt", t.attempt)
		}
	})
	return t.logger
}

// Progress returns the task's progress reporter.
func (t *Task) Progress() *Progress { return t.progress }

// idleGate connects an idle-priority task's goroutine to the idle
// scheduler.
type idleGate interface {
	yield(ctx context.Context) error
	deadline() idle.Deadline
	close()
}

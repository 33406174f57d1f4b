package bgtask

import (
	"fmt"
	"time"

	"github.com/bgtask/bgtask/internal/quote"
	"github.com/bgtask/bgtask/store"
)

// State is the state of a task managed by a Manager. A task is ONGOING from
// the moment it is accepted (there is no pending state; a task waiting for a
// worker slot is ONGOING with progress 0) and then ends in exactly one of
// SUCCESS, FAILURE or CANCELLED. Terminal states are final, except that
// Retry re-opens a parallel task to re-run its failed subtasks.
type State string

// Task states.
const (
	StateOngoing   State = "ONGOING"
	StateSuccess   State = "SUCCESS"
	StateFailure   State = "FAILURE"
	StateCancelled State = "CANCELLED"
	// StatePending is used for subtasks only: not started in this run.
	StatePending State = "PENDING"
)

// Terminal reports whether s is SUCCESS, FAILURE or CANCELLED.
func (s State) Terminal() bool {
	return store.State(s).Terminal()
}

// ParseState returns the task state named s (case-sensitive, as in the API).
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case StateOngoing, StateSuccess, StateFailure, StateCancelled:
		return st, nil
	}
	return "", fmt.Errorf("%w: unknown state %s (want ONGOING, SUCCESS, FAILURE or CANCELLED)", ErrInvalidArgument, quote.Q(s))
}

// SubtaskInfo is the state of one subtask of a parallel task.
type SubtaskInfo struct {
	Key      string       `json:"key"`
	State    State        `json:"state"`
	Error    string       `json:"error,omitempty"`
	Progress ProgressInfo `json:"progress"`
}

// TaskInfo is the stored record of a task, as Get, List and the HTTP API
// return it.
type TaskInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Args     []string `json:"args"`
	State    State    `json:"state"`
	Priority Priority `json:"priority"`
	// Attempt counts the runs started so far (0 while waiting for its
	// first worker slot); a run handed back at shutdown does not count.
	Attempt int `json:"attempt"`
	// MaxAttempts is the attempt budget (0: unlimited).
	MaxAttempts int `json:"max_attempts"`
	// Owner is the ID of the server running the task ("" when none).
	Owner       string        `json:"owner,omitempty"`
	HeartbeatAt *time.Time    `json:"heartbeat_at"`
	Progress    ProgressInfo  `json:"progress"`
	CreatedAt   time.Time     `json:"created_at"`
	StartedAt   *time.Time    `json:"started_at"`
	FinishedAt  *time.Time    `json:"finished_at"`
	Error       string        `json:"error"`
	ExitCode    *int          `json:"exit_code"`
	Subtasks    []SubtaskInfo `json:"subtasks"`
	// CancelRequested is true between Cancel and the task's end.
	CancelRequested bool   `json:"cancel_requested,omitempty"`
	IdempotencyKey  string `json:"idempotency_key,omitempty"`
	// Timeout is the run timeout (0: the default); JSON: a Go duration
	// string ("1m30s").
	Timeout time.Duration `json:"timeout,omitempty"`
	Tags    []string      `json:"tags,omitempty"`
	// EventSeq is the Seq of the newest event about the task: a stream
	// that resumes after it has missed nothing.
	EventSeq uint64 `json:"event_seq"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func infoFromRecord(r *store.Record) *TaskInfo {
	info := &TaskInfo{
		ID:              r.ID,
		Name:            r.Name,
		Args:            r.Args,
		State:           State(r.State),
		Priority:        Priority(r.Priority),
		Attempt:         r.Attempt,
		MaxAttempts:     r.MaxAttempts,
		EventSeq:        r.EventSeq,
		Owner:           r.Owner,
		HeartbeatAt:     timePtr(r.HeartbeatAt),
		Progress:        finiteInfo(ProgressInfo(r.Progress)),
		CreatedAt:       r.CreatedAt,
		StartedAt:       timePtr(r.StartedAt),
		FinishedAt:      timePtr(r.FinishedAt),
		Error:           r.Error,
		ExitCode:        r.ExitCode,
		CancelRequested: r.CancelRequested,
		IdempotencyKey:  r.IdempotencyKey,
		Timeout:         r.Timeout,
		Tags:            r.Tags,
		Subtasks:        make([]SubtaskInfo, len(r.Subtasks)),
	}
	if info.Args == nil {
		info.Args = []string{}
	}
	if info.Priority == "" {
		info.Priority = PriorityNormal
	}
	for i, s := range r.Subtasks {
		info.Subtasks[i] = SubtaskInfo{Key: s.Key, State: State(s.State), Error: s.Error, Progress: finiteInfo(ProgressInfo(s.Progress))}
	}
	return info
}

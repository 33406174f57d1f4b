package bgtask

import "time"

// EventKind names what happened to a task.
type EventKind string

// Event kinds. Exactly one terminal event (done, failed, cancelled or
// partial_success) ends every run.
const (
	// EventStarted: a run began (first run, takeover or retry).
	EventStarted EventKind = "started"
	// EventUpdated: progress or subtask state changed (coalesced).
	EventUpdated EventKind = "updated"
	// EventDone: the task ended SUCCESS.
	EventDone EventKind = "done"
	// EventFailed: the task ended FAILURE.
	EventFailed EventKind = "failed"
	// EventCancelled: the task ended CANCELLED.
	EventCancelled EventKind = "cancelled"
	// EventPartialSuccess: a parallel task ended SUCCESS although some
	// subtasks failed; SubtaskErrors lists them. It replaces EventDone.
	EventPartialSuccess EventKind = "partial_success"
)

// Terminal reports whether k ends a run.
func (k EventKind) Terminal() bool {
	switch k {
	case EventDone, EventFailed, EventCancelled, EventPartialSuccess:
		return true
	}
	return false
}

// Event is one thing that happened to a task. Seq increases across all
// events a manager delivers (also across restarts), so that a client can
// resume a stream after the last Seq it saw.
type Event struct {
	Seq      uint64       `json:"seq"`
	Kind     EventKind    `json:"kind"`
	TaskID   string       `json:"task_id"`
	Name     string       `json:"name"`
	State    State        `json:"state"`
	Progress ProgressInfo `json:"progress"`
	// Message is the progress message, or the terminal message.
	Message string    `json:"message"`
	Attempt int       `json:"attempt"`
	Time    time.Time `json:"time"`
	// Error is set for failed (and cancelled) events.
	Error string `json:"error,omitempty"`
	// ExitCode is set on terminal events.
	ExitCode *int `json:"exit_code,omitempty"`
	// SubtaskErrors maps failed subtask keys to their errors.
	SubtaskErrors map[string]string `json:"subtask_errors,omitempty"`
}

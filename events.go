package bgtask

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/bgtask/bgtask/internal/sse"
	"github.com/bgtask/bgtask/store"
)

// EventKind names what happened to a task.
type EventKind string

// Event kinds. A run that reaches a terminal state ends with exactly one
// terminal event (done, failed, cancelled or partial_success), written by
// the store in the same step as the state. A run that is handed back at
// shutdown, or that loses its lease, ends without one: the next attempt's
// events follow under the same task ID.
const (
	// EventStarted: a run began (first run, takeover, recovery or retry).
	EventStarted = EventKind(store.EventStarted)
	// EventUpdated: progress or subtask state changed (coalesced).
	EventUpdated = EventKind(store.EventUpdated)
	// EventDone: the task ended SUCCESS.
	EventDone = EventKind(store.EventDone)
	// EventFailed: the task ended FAILURE.
	EventFailed = EventKind(store.EventFailed)
	// EventCancelled: the task ended CANCELLED.
	EventCancelled = EventKind(store.EventCancelled)
	// EventPartialSuccess: a parallel task ended SUCCESS although some
	// subtasks failed; SubtaskErrors lists them. It replaces EventDone.
	EventPartialSuccess = EventKind(store.EventPartialSuccess)
	// EventReset is not about a task: the reader fell behind the window of
	// events the store keeps (or resumed from a position the log never
	// had), so events were missed. Re-read the state (Get, List); events
	// after Seq follow. TaskID is set on a reader of one task.
	EventReset EventKind = "reset"
)

// Terminal reports whether k ends a run.
func (k EventKind) Terminal() bool { return store.EventKind(k).Terminal() }

// Event is one thing that happened to a task. Seq is assigned by the
// store: it increases strictly across all events, also across restarts and
// clock steps, so that a client resumes a stream after the last Seq it saw.
type Event struct {
	Seq      uint64       `json:"seq"`
	Kind     EventKind    `json:"kind"`
	TaskID   string       `json:"task_id"`
	Name     string       `json:"name"`
	State    State        `json:"state"`
	Progress ProgressInfo `json:"progress"`
	// Message is the progress message.
	Message string `json:"message"`
	Attempt int    `json:"attempt"`
	// Time is when the store recorded the event, by its clock.
	Time time.Time `json:"time"`
	// Error is set for failed (and cancelled) events.
	Error string `json:"error,omitempty"`
	// ExitCode is set on terminal events.
	ExitCode *int `json:"exit_code,omitempty"`
	// SubtaskErrors maps failed subtask keys to their errors.
	SubtaskErrors map[string]string `json:"subtask_errors,omitempty"`

	// enc, if set, is the encoding shared by every reader of this log
	// entry.
	enc *encoded
}

// encoded caches one event's encodings, computed on first use: its JSON,
// and its frame in the /v1/events stream (the JSON is part of the frame).
type encoded struct {
	once  sync.Once
	raw   []byte
	frame []byte
}

// eventJSON is Event without methods, for encoding.
type eventJSON Event

// JSON returns the event's JSON encoding (as encoding/json writes it). For
// an event read from the log it is computed once and shared by every
// reader: an event stream with many clients encodes each event once. The
// caller must not modify the result.
func (e Event) JSON() []byte {
	if e.enc == nil {
		b, _ := json.Marshal(eventJSON(e))
		return b
	}
	return e.enc.get(&e).raw
}

// frame returns the event's server-sent event frame: its kind as the
// name, its Seq as the ID, its JSON as the data.
func (e *Event) frame() []byte {
	if e.enc == nil {
		return sse.AppendFrame(nil, string(e.Kind), e.Seq, e.JSON())
	}
	return e.enc.get(e).frame
}

// get encodes e into enc once.
func (enc *encoded) get(e *Event) *encoded {
	enc.once.Do(func() {
		c := *e
		c.enc = nil
		raw, _ := json.Marshal(eventJSON(c))
		f := sse.AppendFrame(make([]byte, 0, len(raw)+len(c.Kind)+40), string(c.Kind), c.Seq, raw)
		// The JSON within the frame: one copy of the bytes for both.
		at := len(f) - len(raw) - 2
		enc.raw, enc.frame = f[at:at+len(raw):at+len(raw)], f
	})
	return enc
}

// EventFromLog converts an entry of the store's event log into an Event,
// as the manager's readers deliver it (progress amounts that are not
// finite become 0). For code that reads the store's log itself.
func EventFromLog(e *store.Event) Event { return eventOf(e) }

// eventOf converts a log entry into an Event.
func eventOf(e *store.Event) Event {
	return Event{
		Seq:           e.Seq,
		Kind:          EventKind(e.Kind),
		TaskID:        e.TaskID,
		Name:          e.Name,
		State:         State(e.State),
		Progress:      finiteInfo(ProgressInfo(e.Progress)),
		Message:       e.Progress.Message,
		Attempt:       e.Attempt,
		Time:          e.Time,
		Error:         e.Error,
		ExitCode:      e.ExitCode,
		SubtaskErrors: e.SubtaskErrors,
	}
}

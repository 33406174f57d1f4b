// Package store defines the storage interface of the bgtask task manager.
// Every backend (boltstore, the embedded default; others later) implements
// Store and passes the conformance suite in package storetest.
//
// A Store holds task records and carries messages between servers. It knows
// nothing about run functions: the manager decides what to run, the store
// makes every state change atomic so that several servers sharing one store
// never race (exactly one winner per claim, terminal states final).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every backend. Test with errors.Is.
var (
	// ErrNotFound: no record with that ID.
	ErrNotFound = errors.New("store: record not found")
	// ErrFinished: the record is already in a terminal state.
	ErrFinished = errors.New("store: record already finished")
	// ErrNotOwner: the record is ONGOING but owned by another server (or by
	// none), so this server may not change it.
	ErrNotOwner = errors.New("store: record owned by another server")
	// ErrNothingToRetry: Retry found no failed subtask.
	ErrNothingToRetry = errors.New("store: nothing to retry")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// State of a task or subtask.
type State string

// States. A record is ONGOING from the moment it is inserted; it then ends
// in exactly one terminal state. Subtasks use the same values, plus
// SubtaskPending for one that has not started in the current run.
const (
	Ongoing   State = "ONGOING"
	Success   State = "SUCCESS"
	Failure   State = "FAILURE"
	Cancelled State = "CANCELLED"
	// SubtaskPending is the state of a subtask that has not started.
	SubtaskPending State = "PENDING"
)

// Terminal reports whether s is SUCCESS, FAILURE or CANCELLED.
func (s State) Terminal() bool {
	return s == Success || s == Failure || s == Cancelled
}

// Progress of a task or subtask.
type Progress struct {
	Current float64 `json:"current"`
	Total   float64 `json:"total"`
	Message string  `json:"message"`
}

// Subtask is the state of one subtask of a parallel task.
type Subtask struct {
	Key      string   `json:"key"`
	State    State    `json:"state"`
	Error    string   `json:"error,omitempty"`
	Progress Progress `json:"progress"`
}

// Record is everything stored about one task.
type Record struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Args []string `json:"args"`

	State State `json:"state"`
	// Attempt counts the runs started so far: 0 while queued, 1 once first
	// claimed, +1 on every later claim (takeover, hand-back, retry).
	Attempt int `json:"attempt"`
	// Owner is the ID of the server running the task; "" while queued or
	// after a hand-back. Cleared when the record becomes terminal.
	Owner string `json:"owner,omitempty"`
	// HeartbeatAt is the owner's last lease renewal.
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	// CancelRequested is set by RequestCancel on an owned record; the owner
	// sees it through a MsgCancel message or its next Heartbeat.
	CancelRequested bool `json:"cancel_requested,omitempty"`

	Progress Progress  `json:"progress"`
	Subtasks []Subtask `json:"subtasks,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
	// ExitCode is set with the terminal state (nil while ONGOING).
	ExitCode *int `json:"exit_code,omitempty"`

	// IdempotencyKey, if set, is unique among stored records.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Priority is "normal" or "idle".
	Priority string `json:"priority,omitempty"`
	// Timeout of one run, 0 for the manager's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// IdleTimeout, for idle-priority tasks, bounds how long each idle slice
	// may be waited for before it runs anyway; 0 for none.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// Tags restrict which servers may claim the record.
	Tags []string `json:"tags,omitempty"`
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Args = append([]string(nil), r.Args...)
	c.Subtasks = append([]Subtask(nil), r.Subtasks...)
	c.Tags = append([]string(nil), r.Tags...)
	if r.ExitCode != nil {
		v := *r.ExitCode
		c.ExitCode = &v
	}
	return &c
}

// InsertResult reports what Insert did with one record.
type InsertResult struct {
	// ID is the stored record's ID: the new one, or the existing record's
	// when Existing is true.
	ID string
	// Existing is true when a record with the same IdempotencyKey was
	// already stored; nothing new was stored for this input.
	Existing bool
}

// ListParams filters and pages List. Records come newest first (by ID,
// descending; IDs are UUIDv7 so that is creation order).
type ListParams struct {
	// State, if set, keeps only records in that state.
	State State
	// Name, if set, keeps only records of that task name.
	Name string
	// Limit caps the page size; 0 means 100; values above 1000 mean 1000.
	Limit int
	// Cursor continues after the last record of a previous page ("" = from
	// the newest).
	Cursor string
}

// ListPage is one page of List.
type ListPage struct {
	Records []*Record
	// NextCursor is "" when there are no more records.
	NextCursor string
}

// ClaimParams selects the records a server claims.
type ClaimParams struct {
	// Owner is the claiming server's ID. Required.
	Owner string
	// Names lists the task names the server can run. Required.
	Names []string
	// Tags are the server's tags. A record with tags is claimed only if it
	// shares at least one with Tags.
	Tags []string
	// Limit caps the number of records claimed. Required (> 0).
	Limit int
	// Now is the claim time: HeartbeatAt and StartedAt are set to it.
	Now time.Time
	// StaleBefore, if non-zero, also claims orphans: ONGOING records owned
	// by a server other than Owner whose HeartbeatAt is before StaleBefore.
	// Queued records (no owner) are claimed first, oldest first, then
	// orphans, oldest heartbeat first.
	StaleBefore time.Time
	// OnlyOrphans skips queued records.
	OnlyOrphans bool
}

// Claimed is one record won by Claim.
type Claimed struct {
	// Record as stored after the claim: Owner, HeartbeatAt and StartedAt
	// set, Attempt incremented. A pending CancelRequested survives the
	// claim, so the new owner cancels at once.
	Record *Record
	// PrevOwner is the stale owner the record was taken from; "" for a
	// queued or handed-back record.
	PrevOwner string
}

// HeartbeatResult tells an owner what changed behind its back.
type HeartbeatResult struct {
	// Lost lists IDs the owner no longer owns (taken over, finished or
	// deleted); it must stop running them without writing.
	Lost []string
	// CancelRequested lists owned IDs with a pending cancel request.
	CancelRequested []string
}

// Patch changes a running record. Nil fields are left alone.
type Patch struct {
	ID       string
	Progress *Progress
	// Subtasks, if non-nil, replaces the subtask list.
	Subtasks  []Subtask
	StartedAt *time.Time
}

// Completion is the terminal state an owner writes with Finish.
type Completion struct {
	State      State // Success, Failure or Cancelled
	Error      string
	ExitCode   int
	FinishedAt time.Time
	// Progress, if non-nil, is stored as the final progress.
	Progress *Progress
	// Subtasks, if non-nil, replaces the subtask list.
	Subtasks []Subtask
}

// MessageKind says what a Message carries.
type MessageKind string

// Message kinds.
const (
	// MsgEvent carries a task event (Data is its JSON).
	MsgEvent MessageKind = "event"
	// MsgEnqueued says queued records are waiting to be claimed.
	MsgEnqueued MessageKind = "enqueued"
	// MsgCancel asks Owner to cancel TaskID.
	MsgCancel MessageKind = "cancel"
)

// Message travels between servers through the store.
type Message struct {
	// Seq is assigned by Publish; it increases across all messages of a
	// store, also across restarts of an embedded store.
	Seq    uint64
	Kind   MessageKind
	TaskID string
	// Origin is the publishing server's ID.
	Origin string
	// Owner is the addressee of MsgCancel.
	Owner string
	// Lossy marks a message a slow subscriber may lose (progress updates).
	Lossy bool
	Data  []byte
}

// Counts holds the number of records per state.
type Counts map[State]int

// Store is the storage interface of the task manager. All methods are safe
// for concurrent use. Every method that changes a record is atomic: under
// any interleaving of servers, a record is claimed by exactly one of them
// and a terminal state is never overwritten (except by Retry).
//
// Durability: when a method that changes records returns nil, the change
// survives a crash of the process (embedded backends fsync; group commit
// lets concurrent calls share one sync).
type Store interface {
	// Insert stores new ONGOING records. A record with Owner set is stored as
	// already claimed (Attempt as given, normally 1); one without is queued
	// (Attempt 0). IDs must be unique. A record whose IdempotencyKey is
	// already used stores nothing and reports the existing ID. Insert
	// publishes nothing: the caller publishes MsgEnqueued for queued
	// records.
	Insert(ctx context.Context, recs []*Record) ([]InsertResult, error)
	// Get returns a copy of the record, or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// List returns one page of records, newest first.
	List(ctx context.Context, p ListParams) (*ListPage, error)
	// Counts returns the number of records per state.
	Counts(ctx context.Context) (Counts, error)

	// Claim takes queued (and, with StaleBefore, orphaned) records for
	// Owner: Owner, HeartbeatAt and StartedAt are set and Attempt is
	// incremented. Each record goes to exactly one claimer.
	Claim(ctx context.Context, p ClaimParams) ([]Claimed, error)
	// Heartbeat renews Owner's lease on ids (HeartbeatAt = now) and reports
	// which it lost and which have a pending cancel.
	Heartbeat(ctx context.Context, owner string, ids []string, now time.Time) (HeartbeatResult, error)
	// Update applies patches to ONGOING records owned by owner. It returns
	// the IDs it skipped because owner no longer owns them.
	Update(ctx context.Context, owner string, patches []Patch) (lost []string, err error)
	// Finish writes the terminal state of a record owned by owner and
	// clears Owner. owner "" finishes a queued (unowned) record. Errors:
	// ErrNotFound, ErrFinished, ErrNotOwner. Returns the stored record.
	Finish(ctx context.Context, owner, id string, c Completion) (*Record, error)
	// Release hands records owned by owner back for takeover at once:
	// Owner is cleared, so the next Claim takes them as queued records.
	Release(ctx context.Context, owner string, ids []string) error
	// RequestCancel cancels a record. A queued record ends CANCELLED at once
	// (returned with that state, FinishedAt now); an owned one gets
	// CancelRequested and a MsgCancel is published to its owner (returned
	// still ONGOING). Errors: ErrNotFound, ErrFinished.
	RequestCancel(ctx context.Context, id string, now time.Time) (*Record, error)
	// Retry re-queues a terminal record whose subtasks include failures:
	// failed subtasks become SubtaskPending, the record ONGOING and queued
	// (FinishedAt, Error, ExitCode cleared; Attempt kept). A MsgEnqueued is
	// published. Errors: ErrNotFound, ErrNothingToRetry (not terminal, or no
	// failed subtask).
	Retry(ctx context.Context, id string, now time.Time) (*Record, error)
	// DeleteFinished deletes up to limit terminal records whose FinishedAt
	// is before before, oldest first, and returns how many it deleted
	// (0 if limit <= 0). Their idempotency keys become free again.
	DeleteFinished(ctx context.Context, before time.Time, limit int) (int, error)

	// Publish sends m to every subscriber (of every server sharing the
	// store) and returns its sequence number.
	Publish(ctx context.Context, m Message) (uint64, error)
	// Subscribe returns a channel of messages published after it returns,
	// in publish order, and a function that stops the subscription and
	// closes the channel. The channel is buffered; a subscriber that falls
	// far behind loses Lossy messages and never others.
	Subscribe(ctx context.Context) (<-chan Message, func())

	// Exclusive reports whether this store is open in one process only
	// (an embedded file). Then every owner but the current process is dead
	// and the manager treats their records as orphans at start.
	Exclusive() bool
	// Close releases the store. Further calls return ErrClosed.
	Close() error
}

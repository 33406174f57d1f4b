// Package store defines the storage interface of the bgtask task manager.
// Every backend (boltstore, the embedded default; redisstore, for several
// servers) implements Store and passes the conformance suite in package
// storetest.
//
// A Store holds task records and an ordered log of events. It knows nothing
// about run functions: the manager decides what to run, the store makes
// every state change atomic so that several servers sharing one store
// never race (exactly one winner per claim, terminal states final, a stale
// lease refused).
//
// The rules every backend follows:
//
//   - Leases, not owner names, guard every write an owner makes. A claim
//     returns a Lease (server, incarnation, attempt and a fence that grows
//     with every claim of the record); Renew, Update, Finish and Release
//     carry it, and the store refuses a lease that is not the record's
//     current one with ErrNotOwner.
//   - The store's clock judges lease age. Callers pass durations (how old
//     a lease may be), never a time read from their own clock, so servers
//     whose clocks disagree still agree on which lease is stale. Every
//     time the store writes (HeartbeatAt, StartedAt, FinishedAt, event
//     times) is its own; an outcome written late (after an outage) is
//     dated back by a duration the caller measured, Completion.Age.
//   - The store publishes. Every change appends the events that follow
//     from it to the log in the same atomic step; callers never publish.
//     Event sequence numbers are assigned by the store and increase
//     strictly, across restarts and clock steps, with no gaps (a reader
//     detects a trimmed log by a jump).
//   - Claims, renewals, finishes and releases are batches, so that a
//     backend can make each one round trip.
//   - Finish is idempotent by lease: repeating a finish that was applied
//     (a call that timed out, say) returns the stored record, not an error.
//     A record this server claimed but never started is found by Recover.
package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Errors returned by every backend. Test with errors.Is.
var (
	// ErrNotFound: no record with that ID.
	ErrNotFound = errors.New("store: record not found")
	// ErrFinished: the record is already in a terminal state.
	ErrFinished = errors.New("store: record already finished")
	// ErrNotOwner: the lease presented is not the record's current lease
	// (the record was claimed again, released, finished under another
	// lease, or never held by the caller). The caller must stop writing
	// for that run.
	ErrNotOwner = errors.New("store: lease is not current")
	// ErrNothingToRetry: Retry found no failed subtask.
	ErrNothingToRetry = errors.New("store: nothing to retry")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the store cannot serve the call now (disk full, I/O
	// error, server unreachable). The call may or may not have been
	// applied; every mutating call is safe to repeat.
	ErrUnavailable = errors.New("store: unavailable")
)

// State of a task or subtask.
type State string

// States. A record is ONGOING from the moment it is inserted; it then ends
// in exactly one terminal state. Subtasks use the same values, plus
// SubtaskPending for one that has not started in the current attempt.
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

// Priorities of a record.
const (
	PriorityNormal = "normal"
	PriorityIdle   = "idle"
)

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
	// Attempt is the number of runs started: 0 while queued for the first
	// time, +1 on every claim that starts a run (first run, takeover of an
	// orphan, retry). A hand-back (Release) gives its attempt back.
	Attempt int `json:"attempt"`
	// MaxAttempts bounds Attempt: a claim that would exceed it ends the
	// record FAILURE instead of running it. 0 means no limit.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Owner is the server ID of the lease holder; "" while queued, after a
	// hand-back and once terminal.
	Owner string `json:"owner,omitempty"`
	// Incarnation identifies the life of the owner that holds (or, on a
	// terminal record, last held) the lease.
	Incarnation string `json:"incarnation,omitempty"`
	// Fence counts the claims of the record; the current lease carries it.
	Fence uint64 `json:"fence,omitempty"`
	// HeartbeatAt is the last lease renewal, by the store's clock.
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	// CancelRequested is set by RequestCancel on an owned record; the owner
	// learns it from the cancel event in the log or its next Renew.
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
	// Priority is PriorityNormal or PriorityIdle ("" reads as normal).
	Priority string `json:"priority,omitempty"`
	// Timeout of one run, 0 for the manager's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// IdleTimeout, for idle-priority tasks, bounds how long each idle slice
	// may be waited for before it runs anyway; 0 for none.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// Tags restrict which servers may claim the record.
	Tags []string `json:"tags,omitempty"`
	// EventSeq is the Seq of the newest task event (not a control entry)
	// about this record, set in the same step that appends it. A reader
	// whose position is at or past it has seen every event of the record
	// so far; one behind it finds the rest in the log (or learns that the
	// log was trimmed).
	EventSeq uint64 `json:"event_seq,omitempty"`
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

// Idle reports whether r has idle priority.
func (r *Record) Idle() bool { return r.Priority == PriorityIdle }

// Lease returns the lease r is held under (zero when r has no owner).
func (r *Record) Lease() Lease {
	if r.Owner == "" {
		return Lease{}
	}
	return Lease{ID: r.ID, Owner: r.Owner, Incarnation: r.Incarnation, Attempt: r.Attempt, Fence: r.Fence}
}

// Lease is the right to write one record, granted by a claim (Claim,
// Recover, or Insert of an owned record). It names the record, the server
// (Owner), the life of that server (Incarnation: a server restarted with
// the same ID is a new incarnation), the attempt and the fence, which grows
// with every claim of the record so that a lease is never granted twice.
type Lease struct {
	ID          string `json:"id"`
	Owner       string `json:"owner"`
	Incarnation string `json:"incarnation"`
	Attempt     int    `json:"attempt"`
	Fence       uint64 `json:"fence"`
}

// IsZero reports whether l is the zero lease.
func (l Lease) IsZero() bool { return l == Lease{} }

// String formats l for logs: "ID@owner/incarnation#attempt.fence".
func (l Lease) String() string {
	return l.ID + "@" + l.Owner + "/" + l.Incarnation + "#" + strconv.Itoa(l.Attempt) + "." + strconv.FormatUint(l.Fence, 10)
}

// Holds reports whether l is r's current lease: r is ONGOING and owned
// under exactly this claim.
func (l Lease) Holds(r *Record) bool {
	return r.State == Ongoing && r.Owner != "" && l.ID == r.ID && l.Owner == r.Owner &&
		l.Incarnation == r.Incarnation && l.Fence == r.Fence
}

// Ended reports whether r was ended under l: r is terminal and its last
// lease was l. A repeated Finish under l is then a no-op.
func (l Lease) Ended(r *Record) bool {
	return r.State.Terminal() && l.ID == r.ID && l.Incarnation == r.Incarnation && l.Fence == r.Fence
}

// InsertResult reports what Insert did with one record.
type InsertResult struct {
	// ID is the stored record's ID: the new one, or the existing record's
	// when Existing is true.
	ID string
	// Existing is true when a record with the same IdempotencyKey was
	// already stored; nothing new was stored for this input.
	Existing bool
	// Lease is the lease of a record inserted already owned (zero
	// otherwise).
	Lease Lease
}

// ListParams filters and pages List. Records come newest first (by ID,
// descending; IDs are UUIDv7 so that is creation order).
type ListParams struct {
	// State, if set, keeps only records in that state.
	State State
	// Name, if set, keeps only records of that task name.
	Name string
	// IDPrefix, if set, keeps only records whose ID starts with it. With
	// or without the other filters, a backend reads only the index
	// entries that match (IDs sort by creation, so a prefix is a range).
	IDPrefix string
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

// ClaimParams selects the records a server claims (Claim) or recovers
// (Recover).
type ClaimParams struct {
	// Owner is the claiming server's ID. Required.
	Owner string
	// Incarnation identifies this life of the server: unique per start.
	// Required.
	Incarnation string
	// Names lists the task names the server can run. Required: with none,
	// nothing is claimed.
	Names []string
	// Tags are the server's tags. A record with tags is claimed only if it
	// shares at least one with Tags.
	Tags []string
	// Limit caps the normal-priority records claimed.
	Limit int
	// IdleLimit caps the idle-priority records claimed.
	IdleLimit int
	// StaleAfter, if positive, makes Claim take orphans too: ONGOING
	// records whose lease was last renewed more than StaleAfter ago by the
	// store's clock, except those held by Incarnation itself (Recover
	// deals with those). Queued records are claimed first (oldest first),
	// then orphans (oldest renewal first).
	StaleAfter time.Duration
	// Abandoned (Recover only) lists leases of this very incarnation whose
	// runs started and were stopped without an outcome (the lease could
	// not be renewed in time). Recover takes such a record, when it
	// still holds that lease, as it takes an earlier life's: a new run is
	// a new attempt (Attempt + 1), and a record out of attempts ends
	// FAILURE "orphaned after N attempts". Without it a record of this
	// incarnation is taken as a claim whose answer was lost, with the
	// same Attempt.
	Abandoned []Lease
}

// Claimed is one record won by Claim or Recover.
type Claimed struct {
	// Record as stored after the claim. For a run: Owner, Incarnation,
	// Fence, HeartbeatAt and StartedAt set, Attempt incremented (not for a
	// record recovered from this very incarnation, which never started),
	// progress reset and every subtask that had not succeeded back to
	// SubtaskPending. A pending CancelRequested survives, so the new owner
	// cancels at once.
	Record *Record
	// Lease is the new lease (zero when Exhausted).
	Lease Lease
	// PrevOwner is the server the record was taken from; "" for a queued
	// record.
	PrevOwner string
	// Exhausted is true when the record had used up its attempts
	// (MaxAttempts): the claim ended it FAILURE ("orphaned after N
	// attempts", Attempt unchanged) and appended its failed event. It must
	// not run. It counts against the limits like a claimed record.
	Exhausted bool
}

// RenewResult tells an owner what changed behind its back.
type RenewResult struct {
	// Lost lists the leases that are no longer current (taken over,
	// finished, deleted); the owner must stop those runs without writing.
	Lost []Lease
	// CancelRequested lists the IDs of renewed records with a pending
	// cancel request.
	CancelRequested []string
}

// Patch changes a running record under its lease. Nil fields are left
// alone.
type Patch struct {
	Lease    Lease
	Progress *Progress
	// Subtasks, if non-nil, replaces the subtask list.
	Subtasks []Subtask
}

// Completion is the terminal state an owner writes with Finish.
type Completion struct {
	Lease Lease
	State State // Success, Failure or Cancelled
	Error string
	// ExitCode is stored with the terminal state.
	ExitCode int
	// Progress, if non-nil, is stored as the final progress.
	Progress *Progress
	// Subtasks, if non-nil, replaces the subtask list.
	Subtasks []Subtask
	// Age is how long before the call the outcome was decided (the run
	// ended), by the caller's monotonic clock. The store writes FinishedAt
	// as its own time minus Age, and never before StartedAt, so that an
	// outcome that reaches the store late (the store was away, the disk
	// full) records when the run ended, not when the store came back,
	// without comparing clocks. 0 (or negative): the store's time now.
	Age time.Duration
}

// FinishResult is the outcome of one Completion. It carries no record:
// the owner knows what it wrote, and sending back every finished record
// was most of what a batch of finishes cost a networked store (read it
// with Get when it is needed).
type FinishResult struct {
	// Err is nil (written, or written already by an earlier call under
	// the same lease), ErrNotOwner (the lease is not current: nothing was
	// written) or ErrNotFound.
	Err error
}

// RetryParams configure Retry.
type RetryParams struct {
	// Attempts is the number of further attempts the retry grants: the
	// record's MaxAttempts becomes Attempt + Attempts (0: MaxAttempts is
	// left alone).
	Attempts int
}

// EventKind says what a log entry records.
type EventKind string

// Event kinds. The first six are task events that clients see; the last two
// are messages between servers.
const (
	// EventStarted: a run began (Claim, Recover, Insert of an owned
	// record).
	EventStarted EventKind = "started"
	// EventUpdated: progress or subtasks changed (Update).
	EventUpdated EventKind = "updated"
	// EventDone: the record ended SUCCESS with no failed subtask.
	EventDone EventKind = "done"
	// EventPartialSuccess: the record ended SUCCESS with failed subtasks.
	EventPartialSuccess EventKind = "partial_success"
	// EventFailed: the record ended FAILURE.
	EventFailed EventKind = "failed"
	// EventCancelled: the record ended CANCELLED.
	EventCancelled EventKind = "cancelled"
	// EventEnqueued: queued records are waiting to be claimed (Insert of
	// queued records, Release, Retry). TaskID is one of them.
	EventEnqueued EventKind = "enqueued"
	// EventCancel: the owner (Event.Owner) is asked to cancel TaskID
	// (RequestCancel on an owned record).
	EventCancel EventKind = "cancel"
)

// Terminal reports whether k ends a record.
func (k EventKind) Terminal() bool {
	switch k {
	case EventDone, EventPartialSuccess, EventFailed, EventCancelled:
		return true
	}
	return false
}

// Control reports whether k is a message between servers rather than a
// task event.
func (k EventKind) Control() bool { return k == EventEnqueued || k == EventCancel }

// Event is one entry of the store's log.
type Event struct {
	// Seq is assigned by the store: 1 for the first entry, then +1 for
	// every entry, across restarts.
	Seq      uint64    `json:"seq"`
	Kind     EventKind `json:"kind"`
	TaskID   string    `json:"task_id"`
	Name     string    `json:"name"`
	State    State     `json:"state"`
	Progress Progress  `json:"progress"`
	Attempt  int       `json:"attempt"`
	// Time is when the store appended the entry, by its clock.
	Time     time.Time `json:"time"`
	Error    string    `json:"error,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
	// SubtaskErrors maps failed subtask keys to their errors.
	SubtaskErrors map[string]string `json:"subtask_errors,omitempty"`
	// Owner is the server addressed by an EventCancel.
	Owner string `json:"owner,omitempty"`
}

// EventOf returns the event of kind k describing r as it is now (Seq and
// Time are left for the store to set). Backends build every task event
// with it so that they all describe a change alike.
func EventOf(r *Record, k EventKind) Event {
	ev := Event{Kind: k, TaskID: r.ID, Name: r.Name, State: r.State, Progress: r.Progress, Attempt: r.Attempt}
	if k.Terminal() {
		ev.Error = r.Error
		if r.ExitCode != nil {
			code := *r.ExitCode
			ev.ExitCode = &code
		}
		for _, s := range r.Subtasks {
			if s.State == Failure {
				if ev.SubtaskErrors == nil {
					ev.SubtaskErrors = make(map[string]string)
				}
				ev.SubtaskErrors[s.Key] = s.Error
			}
		}
	}
	if k == EventCancel {
		ev.Owner = r.Owner
	}
	return ev
}

// EndSubtasks gives the subtasks of subs that never finished (ONGOING
// or PENDING) state st and error err when a record ends FAILURE or
// CANCELLED (no change for another st), so that a retry re-runs them.
// It changes subs in place.
func EndSubtasks(subs []Subtask, st State, err string) {
	if st != Failure && st != Cancelled {
		return
	}
	for i := range subs {
		if subs[i].State == Ongoing || subs[i].State == SubtaskPending {
			subs[i].State, subs[i].Error = st, err
		}
	}
}

// ExhaustedError is the error stored on a record that a claim ended
// because it had used up its attempts: "orphaned after N attempt(s)".
func ExhaustedError(attempts int) string {
	if attempts == 1 {
		return "orphaned after 1 attempt"
	}
	return "orphaned after " + strconv.Itoa(attempts) + " attempts"
}

// FailureExitCode is the exit code a store writes with a terminal state it
// decides itself: a record out of attempts, a queued record cancelled.
const FailureExitCode = 1

// TerminalKind returns the event kind of r's terminal state.
func TerminalKind(r *Record) EventKind {
	switch r.State {
	case Success:
		for _, s := range r.Subtasks {
			if s.State == Failure {
				return EventPartialSuccess
			}
		}
		return EventDone
	case Cancelled:
		return EventCancelled
	}
	return EventFailed
}

// LogPage is one read of the event log.
type LogPage struct {
	// Events are the entries after the position read from, in Seq order.
	Events []Event
	// Truncated is true when the log no longer holds every entry after the
	// position read from (they were trimmed, or the position is past the
	// log's head, e.g. from before the store was replaced): the reader
	// missed entries and must re-read the records it follows. Events then
	// starts at the oldest entry kept.
	Truncated bool
	// Head is the Seq of the newest entry (0 for an empty log).
	Head uint64
}

// Counts holds the number of records per state.
type Counts map[State]int

// NameCounts holds the number of records per task name and state. A name
// with no record is absent.
type NameCounts map[string]Counts

// ServerInfo describes one live server, as Announce stores it.
type ServerInfo struct {
	// ID is the server's ID; Incarnation its current life.
	ID          string `json:"id"`
	Incarnation string `json:"incarnation"`
	Host        string `json:"host"`
	PID         int    `json:"pid"`
	// StartedAt is when this incarnation started (the server's clock).
	StartedAt time.Time `json:"started_at"`
	Tags      []string  `json:"tags,omitempty"`
	// Names lists the task names the server can run.
	Names []string `json:"names"`
	// MaxWorkers is the server's worker-slot limit.
	MaxWorkers int `json:"max_workers"`
	// HeartbeatInterval is how often the server announces itself (0: not
	// said), so that another server can tell when it stopped.
	HeartbeatInterval time.Duration `json:"heartbeat_interval,omitempty"`
	// Running lists the IDs of the records the server holds leases on
	// (filled in by Servers from the records, not by Announce).
	Running []string `json:"running"`
	// SeenAt is the last Announce, by the store's clock (set by the store).
	SeenAt time.Time `json:"seen_at"`
}

// Store is the storage interface of the task manager. All methods are safe
// for concurrent use. Every method that changes records is atomic, appends
// its events in the same step, and is durable when it returns nil: the
// change survives a crash of the process (and, for a server store, of the
// client).
type Store interface {
	// Insert stores new ONGOING records. A record with Owner (and
	// Incarnation) set is stored as already claimed: Attempt 1, Fence 1,
	// HeartbeatAt and StartedAt now, a started event, its lease in the
	// result. One without is queued (Attempt 0) and an enqueued event is
	// appended. IDs must be unique. A record whose IdempotencyKey is
	// already used stores nothing and reports the existing ID.
	Insert(ctx context.Context, recs []*Record) ([]InsertResult, error)
	// Get returns a copy of the record, or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// List returns one page of records, newest first.
	List(ctx context.Context, p ListParams) (*ListPage, error)
	// Counts returns the number of records per state.
	Counts(ctx context.Context) (Counts, error)
	// CountsByName returns the number of records per task name and state
	// (only the states a name has records in). Its cost is the backend's
	// to document: it may read one index entry per record.
	CountsByName(ctx context.Context) (NameCounts, error)

	// Claim takes queued (and, with StaleAfter, orphaned) records for the
	// caller; see Claimed for what each becomes. Each record goes to
	// exactly one claimer. A started event is appended per run, a failed
	// event per exhausted record.
	Claim(ctx context.Context, p ClaimParams) ([]Claimed, error)
	// Recover claims, regardless of lease age, the records that p.Owner
	// holds under no lease in held: records from an earlier life of this
	// server (another Incarnation; taken over as orphans, Attempt + 1) and
	// records this very incarnation claimed but never started (a claim
	// whose answer was lost; re-leased with the same Attempt) or started
	// and abandoned (p.Abandoned; Attempt + 1). A backend
	// that knows which incarnations are dead (an embedded store opened by
	// one process knows every incarnation not seen since it opened) also
	// recovers their records whatever their Owner. Limits and names apply
	// as in Claim. The manager calls it at start and periodically.
	Recover(ctx context.Context, p ClaimParams, held []Lease) ([]Claimed, error)
	// Renew renews the leases (HeartbeatAt = now) and reports the ones
	// that are no longer current and the records with a pending cancel.
	Renew(ctx context.Context, leases []Lease) (RenewResult, error)
	// Update applies patches to the records their leases hold, appending
	// an updated event per applied patch, and returns the leases of the
	// patches it skipped because the lease is not current.
	Update(ctx context.Context, patches []Patch) (lost []Lease, err error)
	// Finish writes terminal states under their leases, clears Owner and
	// appends each terminal event, preceded by an updated event when the
	// completion's Progress differs from the stored one (so that the final
	// progress is always delivered before the end). A completion whose lease already ended
	// the record (a repeated call) succeeds again with no error and writes
	// nothing.
	// The error is for the call as a whole; per-record outcomes are in the
	// results, in order.
	Finish(ctx context.Context, cs []Completion) ([]FinishResult, error)
	// Release hands records back for another server to run at once
	// (graceful shutdown): each patch is applied, then Owner is cleared,
	// the attempt is given back (Attempt - 1) and an enqueued event is
	// appended. It returns the leases that were not current (nothing
	// written for them).
	Release(ctx context.Context, patches []Patch) (lost []Lease, err error)
	// RequestCancel cancels a record. A queued record ends CANCELLED at once
	// (returned with that state, a cancelled event appended); an owned one
	// gets CancelRequested and a cancel event addressed to its owner
	// (returned still ONGOING). Errors: ErrNotFound, ErrFinished.
	RequestCancel(ctx context.Context, id string) (*Record, error)
	// Retry re-queues a terminal record whose subtasks include failures:
	// failed subtasks become SubtaskPending, the record ONGOING and queued
	// (FinishedAt, Error, ExitCode cleared; Attempt kept, MaxAttempts as
	// p says) with an enqueued event. Errors: ErrNotFound,
	// ErrNothingToRetry (not terminal, or no failed subtask).
	Retry(ctx context.Context, id string, p RetryParams) (*Record, error)
	// DeleteFinished deletes up to limit terminal records that finished
	// more than olderThan ago by the store's clock, oldest first, and
	// returns how many it deleted (0 if limit <= 0). Their idempotency
	// keys become free again.
	DeleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error)

	// ReadLog returns up to limit log entries with Seq > after, oldest
	// first. When there are none and wait is positive, it waits up to wait
	// (or until ctx ends) for the next entry. The log keeps a bounded
	// window of entries (by count and by age, per backend config); see
	// LogPage.Truncated.
	ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (LogPage, error)

	// Announce records info as a live server for ttl (by the store's
	// clock); a server calls it at start and on every heartbeat. A second
	// Announce replaces the first.
	Announce(ctx context.Context, info ServerInfo, ttl time.Duration) error
	// Withdraw removes the server's announcement (graceful stop) if it is
	// still the one made by incarnation.
	Withdraw(ctx context.Context, id, incarnation string) error
	// Servers lists the servers whose announcement has not expired, by ID,
	// each with the records it holds leases on. A backend that knows an
	// incarnation is dead (an embedded store opened by one process) leaves
	// its announcement out. Manager.Start reads it to refuse a server ID
	// that another live server announces.
	Servers(ctx context.Context) ([]ServerInfo, error)

	// Close releases the store. Further calls return ErrClosed.
	Close() error
}

package bgtask

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bgtask/bgtask/internal/quote"
	"github.com/bgtask/bgtask/store"
)

// SubmitOpts are per-call options of Submit. nil means all defaults.
type SubmitOpts struct {
	// IdempotencyKey, if set, makes Submit return the ID of the task
	// already submitted with the same key (while its record is retained)
	// instead of submitting a new one.
	IdempotencyKey string
	// Priority overrides the definition's priority.
	Priority Priority
	// Timeout bounds one run; 0: the definition's, else
	// Config.DefaultTimeout.
	Timeout time.Duration
	// IdleTimeout, for idle-priority tasks, bounds how long the task waits
	// for each idle period before it runs anyway (requestIdleCallback's
	// timeout); 0: it waits for the process to be idle. Given for a task
	// of normal priority it is an error (ErrInvalidArgument), not ignored.
	IdleTimeout time.Duration
}

// MaxArgsBytes bounds the arguments of one submission (1 MiB): the sum
// of their lengths in bytes plus one per argument (its separator, as in
// argv). It is the HTTP API's request body limit, so that the library
// accepts no task the API could not have accepted, and every record, list
// page and event stays of bounded size. Beyond it Submit and SubmitMany
// return an error wrapping ErrArgsTooLarge and ErrInvalidArgument.
const MaxArgsBytes = 1 << 20

// SubmitParams is one task of SubmitMany.
type SubmitParams struct {
	Name string
	Args []string
	Opts *SubmitOpts
}

// Submit accepts a task and returns its ID. The record is stored durably
// before Submit returns and before anything runs. An unknown name returns
// an error wrapping ErrUnknownTask and stores nothing. If this manager is
// running and has a free worker slot, the task starts here at once;
// otherwise it is queued for the first server with a free slot.
//
// A TaskModeOnly definition returns an error wrapping ErrNotSubmittable;
// arguments beyond MaxArgsBytes one wrapping ErrArgsTooLarge; an argument
// or idempotency key that is not valid UTF-8 one wrapping
// ErrInvalidArgument (as over HTTP). An
// IdempotencyKey already held by a stored task returns that task's ID, or
// an *IdempotencyConflictError if its name or arguments differ.
func (m *Manager) Submit(ctx context.Context, name string, args []string, opts *SubmitOpts) (string, error) {
	rec, def, err := m.newRecord(SubmitParams{Name: name, Args: args, Opts: opts})
	if err != nil {
		return "", err
	}
	if id, ok, err := m.submitHere(ctx, rec, def); ok {
		if err == nil && id != rec.ID {
			err = m.checkExisting(ctx, rec, id)
		}
		if err != nil {
			return "", err
		}
		return id, nil
	}
	res, err := m.insertQueued(ctx, []*store.Record{rec})
	if err != nil {
		return "", err
	}
	if res[0] != rec.ID {
		if err := m.checkExisting(ctx, rec, res[0]); err != nil {
			return "", err
		}
	}
	return res[0], nil
}

// checkExisting compares a submission with the stored task id that holds
// its idempotency key: same name, arguments, priority and timeouts, or an
// *IdempotencyConflictError. A task deleted meanwhile (retention) passes.
func (m *Manager) checkExisting(ctx context.Context, rec *store.Record, id string) error {
	old, err := m.store.Get(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if old.Name == rec.Name && slices.Equal(old.Args, rec.Args) && old.Priority == rec.Priority &&
		old.Timeout == rec.Timeout && old.IdleTimeout == rec.IdleTimeout {
		return nil
	}
	return &IdempotencyConflictError{Key: rec.IdempotencyKey, TaskID: id, Name: old.Name}
}

// SubmitMany accepts several tasks with one durable write and returns
// their IDs in order. If any name is unknown or any option invalid, it
// returns an error and stores nothing. The tasks are queued and start as
// worker slots allow.
func (m *Manager) SubmitMany(ctx context.Context, params []SubmitParams) ([]string, error) {
	recs := make([]*store.Record, len(params))
	for i, p := range params {
		rec, _, err := m.newRecord(p)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		recs[i] = rec
	}
	ids, err := m.insertQueued(ctx, recs)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id != recs[i].ID {
			if err := m.checkExisting(ctx, recs[i], id); err != nil {
				return nil, fmt.Errorf("task %d: %w", i, err)
			}
		}
	}
	return ids, nil
}

// newRecord validates a submission and builds its record.
func (m *Manager) newRecord(p SubmitParams) (*store.Record, *Definition, error) {
	def, ok := m.cfg.Registry.Lookup(p.Name)
	if !ok {
		return nil, nil, fmt.Errorf("%w %s", ErrUnknownTask, quote.Q(p.Name))
	}
	if !def.submittable() {
		return nil, nil, fmt.Errorf("%w: %s is TaskModeOnly: the application has not exposed it to managers", ErrNotSubmittable, quote.Q(p.Name))
	}
	if n := argsBytes(p.Args); n > MaxArgsBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d (%w)", ErrArgsTooLarge, n, MaxArgsBytes, ErrInvalidArgument)
	}
	var o SubmitOpts
	if p.Opts != nil {
		o = *p.Opts
	}
	prio := o.Priority
	if prio == "" {
		prio = def.EffectivePriority()
	}
	switch {
	case prio != PriorityNormal && prio != PriorityIdle:
		return nil, nil, fmt.Errorf("%w: priority %s (want %q or %q)", ErrInvalidArgument, quote.Q(string(prio)), PriorityNormal, PriorityIdle)
	case o.Timeout < 0 || o.IdleTimeout < 0:
		return nil, nil, fmt.Errorf("%w: timeouts must not be negative", ErrInvalidArgument)
	case o.IdleTimeout > 0 && prio != PriorityIdle:
		// It would be ignored: a normal-priority task waits for no idle
		// period.
		return nil, nil, fmt.Errorf("%w: an idle timeout applies to idle-priority tasks only (%s is %s)", ErrInvalidArgument, quote.Q(p.Name), prio)
	case len(o.IdempotencyKey) > 256:
		return nil, nil, fmt.Errorf("%w: idempotency key longer than 256 bytes", ErrInvalidArgument)
	case !utf8.ValidString(o.IdempotencyKey):
		return nil, nil, fmt.Errorf("%w: idempotency key is not valid UTF-8", ErrInvalidArgument)
	}
	for i, a := range p.Args {
		if !utf8.ValidString(a) {
			// JSON (the API, events, the dashboard) would show it with
			// U+FFFD in place of the bad bytes: not what the task gets.
			return nil, nil, fmt.Errorf("%w: argument %d is not valid UTF-8", ErrInvalidArgument, i+1)
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, nil, fmt.Errorf("bgtask: cannot make a task ID: %w", err)
	}
	args := slices.Clone(p.Args)
	if args == nil {
		args = []string{}
	}
	return &store.Record{
		ID:             id.String(),
		Name:           p.Name,
		Args:           args,
		State:          store.Ongoing,
		CreatedAt:      m.clock.Now(),
		IdempotencyKey: o.IdempotencyKey,
		Priority:       string(prio),
		Timeout:        o.Timeout,
		IdleTimeout:    o.IdleTimeout,
		Tags:           def.Tags,
		MaxAttempts:    def.Attempts(),
	}, def, nil
}

// argsBytes is the size of args as MaxArgsBytes counts it.
func argsBytes(args []string) int {
	n := len(args)
	for _, a := range args {
		n += len(a)
	}
	return n
}

// submitHere stores rec as owned by this server and starts it, if the
// manager runs and a slot of its kind is free. ok is false when the caller
// must queue the record instead.
func (m *Manager) submitHere(ctx context.Context, rec *store.Record, def *Definition) (id string, ok bool, err error) {
	// Held from the state check until the run is in runs: Stop waits for
	// it, and Recover never mistakes the record for a lost claim.
	m.claimGate.RLock()
	defer m.claimGate.RUnlock()
	if m.closedToRuns {
		return "", true, ErrStopped
	}
	m.mu.Lock()
	switch {
	case m.state == stateStopping || m.state == stateStopped:
		m.mu.Unlock()
		return "", true, ErrStopped
	case !m.acceptingLocked():
		m.mu.Unlock()
		return "", false, nil
	}
	m.mu.Unlock()
	if !m.slots.tryTake(rec.Idle()) {
		return "", false, nil
	}
	rec.Owner, rec.Incarnation = m.cfg.ServerID, m.incarnation
	at := m.clock.Now() // the lease is at least this old
	res, err := m.store.Insert(ctx, []*store.Record{rec})
	if err != nil || res[0].Existing {
		m.freeSlot(rec.Idle())
		if err != nil {
			return "", true, err
		}
		return res[0].ID, true, nil
	}
	at, lost := m.confirmLeases(at, []store.Lease{res[0].Lease})
	if lost[rec.ID] {
		// Taken over (or cancelled) while the answer was late: stored,
		// and no longer this server's to run.
		m.freeSlot(rec.Idle())
		return rec.ID, true, nil
	}
	stored := rec.Clone()
	stored.Attempt, stored.Fence = res[0].Lease.Attempt, res[0].Lease.Fence
	stored.StartedAt = m.clock.Now()
	m.launch(stored, res[0].Lease, at)
	return rec.ID, true, nil
}

// insertQueued stores records for any server to claim; the store's
// enqueued event wakes the claimers (this one at once).
func (m *Manager) insertQueued(ctx context.Context, recs []*store.Record) ([]string, error) {
	m.mu.Lock()
	stopped := m.state == stateStopping || m.state == stateStopped
	m.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	res, err := m.store.Insert(ctx, recs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = r.ID
	}
	m.claimer.enqueued()
	return ids, nil
}

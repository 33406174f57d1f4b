package bgtask

import (
	"context"
	"errors"
	"fmt"

	"github.com/bgtask/bgtask/internal/quote"
	"github.com/bgtask/bgtask/store"
)

// mapStoreErr maps a store error about task id to the package's
// sentinels; the one place that does.
func mapStoreErr(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, quote.Q(id))
	case errors.Is(err, store.ErrFinished):
		return fmt.Errorf("%w: %s", ErrFinished, quote.Q(id))
	case errors.Is(err, store.ErrNothingToRetry):
		return fmt.Errorf("%w: %s is not a finished parallel task with failed subtasks", ErrNothingToRetry, quote.Q(id))
	}
	return err
}

// Get returns the task's record, or an error wrapping ErrNotFound. Task
// IDs are UUIDs and are matched in any form uuid.Parse accepts (upper or
// lower case, braces, urn:uuid:), here and in Cancel, Retry and
// SubscribeOpts.TaskID; records carry the canonical lower-case form.
func (m *Manager) Get(ctx context.Context, id string) (*TaskInfo, error) {
	rec, err := m.store.Get(ctx, canonicalID(id))
	if err != nil {
		return nil, mapStoreErr(err, id)
	}
	return infoFromRecord(rec), nil
}

// ListOpts filters and pages List. nil means the newest 100 tasks.
type ListOpts struct {
	// State, if set, keeps only tasks in that state.
	State State
	// Name, if set, keeps only tasks of that definition.
	Name string
	// IDPrefix, if set, keeps only tasks whose ID starts with it, in
	// either case (task IDs are UUIDv7 strings: a prefix selects a range
	// of creation times).
	IDPrefix string
	// Limit is the page size: 0 means 100, values above 1000 mean 1000.
	Limit int
	// Cursor continues after a previous page (its NextCursor).
	Cursor string
}

// ListResult is one page of tasks, newest first.
type ListResult struct {
	Tasks []*TaskInfo `json:"tasks"`
	// NextCursor continues the listing; "" on the last page.
	NextCursor string `json:"next_cursor"`
}

// List returns one page of task records, newest first.
func (m *Manager) List(ctx context.Context, opts *ListOpts) (*ListResult, error) {
	var o ListOpts
	if opts != nil {
		o = *opts
	}
	if o.State != "" {
		if _, err := ParseState(string(o.State)); err != nil {
			return nil, err
		}
	}
	if o.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalidArgument)
	}
	page, err := m.store.List(ctx, store.ListParams{State: store.State(o.State), Name: o.Name, IDPrefix: canonicalIDPrefix(o.IDPrefix), Limit: o.Limit, Cursor: o.Cursor})
	if err != nil {
		return nil, err
	}
	res := &ListResult{Tasks: make([]*TaskInfo, len(page.Records)), NextCursor: page.NextCursor}
	for i, r := range page.Records {
		res.Tasks[i] = infoFromRecord(r)
	}
	return res, nil
}

// Counts returns the number of stored tasks per state.
func (m *Manager) Counts(ctx context.Context) (map[State]int, error) {
	c, err := m.store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[State]int, len(c))
	for s, n := range c {
		out[State(s)] = n
	}
	return out, nil
}

// CountsByName returns the number of stored tasks per task name and state;
// a name appears with the states it has tasks in. Its cost is the store's
// (boltstore reads one index key per task; redisstore four counters per
// name).
func (m *Manager) CountsByName(ctx context.Context) (map[string]map[State]int, error) {
	c, err := m.store.CountsByName(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[State]int, len(c))
	for name, cs := range c {
		m := make(map[State]int, len(cs))
		for s, n := range cs {
			m[State(s)] = n
		}
		out[name] = m
	}
	return out, nil
}

// Cancel cancels an ONGOING task on whichever server runs it: its context
// is cancelled and it ends CANCELLED (even if its run function returns the
// context's error). A task still waiting for a worker slot ends CANCELLED
// at once. Cancel returns before a running task has ended; follow its
// events to see the end. Errors wrap ErrFinished or ErrNotFound.
func (m *Manager) Cancel(ctx context.Context, id string) error {
	id = canonicalID(id)
	rec, err := m.store.RequestCancel(ctx, id)
	if err != nil {
		return mapStoreErr(err, id)
	}
	if rec.State == store.Ongoing && rec.Owner == m.cfg.ServerID {
		m.runs.stopRuns([]string{id}, errCancelRequested)
	}
	return nil
}

// Retry re-runs the failed subtasks of a finished parallel task, and only
// those: the task becomes ONGOING again, with a fresh budget of the
// definition's attempts, and the next server with a free slot runs it with
// attempt + 1. Errors wrap ErrNothingToRetry (not a finished task with
// failed subtasks) or ErrNotFound.
func (m *Manager) Retry(ctx context.Context, id string) error {
	id = canonicalID(id)
	var p store.RetryParams
	if rec, err := m.store.Get(ctx, id); err == nil {
		if def, ok := m.cfg.Registry.Lookup(rec.Name); ok {
			p.Attempts = def.Attempts()
		}
	}
	if _, err := m.store.Retry(ctx, id, p); err != nil {
		return mapStoreErr(err, id)
	}
	m.claimer.enqueued()
	return nil
}

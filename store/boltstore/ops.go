package boltstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
)

// maxKeyLen bounds IDs and idempotency keys (bbolt keys are at most 32 KiB;
// index keys add a prefix).
const maxKeyLen = 1024

// Insert stores new ONGOING records, all or none: an invalid record (no
// ID or name, a terminal state, an owner without an incarnation, an ID
// already stored or repeated in recs) fails the whole call.
func (s *Store) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	if err := validateInsert(recs); err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Owner != "" {
			s.noteLive(r.Incarnation)
		}
	}
	var res []store.InsertResult
	err := s.exec(ctx, func(w *wtx) error {
		var err error
		res, err = w.insert(recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func validateInsert(recs []*store.Record) error {
	ids := make(map[string]struct{}, len(recs))
	for i, r := range recs {
		switch {
		case r == nil:
			return fmt.Errorf("boltstore: insert: record %d is nil", i)
		case r.ID == "" || len(r.ID) > maxKeyLen:
			return fmt.Errorf("boltstore: insert: record %d: ID must have 1 to %d bytes", i, maxKeyLen)
		case r.Name == "" || len(r.Name) > maxKeyLen:
			return fmt.Errorf("boltstore: insert: record %q: Name must have 1 to %d bytes", r.ID, maxKeyLen)
		case r.State != "" && r.State != store.Ongoing:
			return fmt.Errorf("boltstore: insert: record %q: state %q, want ONGOING", r.ID, r.State)
		case len(r.IdempotencyKey) > maxKeyLen:
			return fmt.Errorf("boltstore: insert: record %q: IdempotencyKey longer than %d bytes", r.ID, maxKeyLen)
		case r.Owner != "" && r.Incarnation == "":
			return fmt.Errorf("boltstore: insert: record %q: an owned record needs an Incarnation", r.ID)
		case len(r.Owner) > maxKeyLen:
			return fmt.Errorf("boltstore: insert: record %q: Owner longer than %d bytes", r.ID, maxKeyLen)
		}
		for _, t := range r.Tags {
			if len(t) > maxKeyLen {
				return fmt.Errorf("boltstore: insert: record %q: tag longer than %d bytes", r.ID, maxKeyLen)
			}
		}
		if _, dup := ids[r.ID]; dup {
			return fmt.Errorf("boltstore: insert: duplicate ID %q in one call", r.ID)
		}
		ids[r.ID] = struct{}{}
	}
	return nil
}

func (w *wtx) insert(recs []*store.Record) ([]store.InsertResult, error) {
	res := make([]store.InsertResult, len(recs))
	// Check everything first so that a failure writes nothing.
	keys := make(map[string]string) // idempotency key → ID, within recs
	for i, r := range recs {
		if w.records.Get([]byte(r.ID)) != nil {
			return nil, fmt.Errorf("boltstore: insert: ID %q already stored", r.ID)
		}
		if r.IdempotencyKey == "" {
			res[i] = store.InsertResult{ID: r.ID}
			continue
		}
		if id := w.index[ixIdem].Get([]byte(r.IdempotencyKey)); id != nil {
			res[i] = store.InsertResult{ID: string(id), Existing: true}
		} else if id, ok := keys[r.IdempotencyKey]; ok {
			res[i] = store.InsertResult{ID: id, Existing: true}
		} else {
			keys[r.IdempotencyKey] = r.ID
			res[i] = store.InsertResult{ID: r.ID}
		}
	}
	var firstQueued string
	for i, r := range recs {
		if res[i].Existing {
			continue
		}
		c := new(store.Record)
		*c = *r // the caller's record stays as it was; slices are only read
		c.State = store.Ongoing
		if c.Owner == "" {
			c.Attempt, c.Fence, c.Incarnation = 0, 0, ""
			c.HeartbeatAt, c.StartedAt = time.Time{}, time.Time{}
			w.put(c, nil)
			if firstQueued == "" {
				firstQueued = c.ID
			}
			continue
		}
		c.Attempt, c.Fence = 1, 1
		c.HeartbeatAt, c.StartedAt = w.now, w.now
		w.event(c, store.EventStarted)
		w.put(c, nil)
		res[i].Lease = c.Lease()
	}
	if firstQueued != "" {
		w.appendEvent(store.Event{Kind: store.EventEnqueued, TaskID: firstQueued})
	}
	return res, nil
}

// Renew renews the leases that are current.
func (s *Store) Renew(ctx context.Context, leases []store.Lease) (store.RenewResult, error) {
	for _, l := range leases {
		s.noteLive(l.Incarnation)
	}
	var res store.RenewResult
	err := s.exec(ctx, func(w *wtx) error {
		res = store.RenewResult{}
		for _, l := range leases {
			old, err := w.get(l.ID)
			if err != nil {
				return err
			}
			if old == nil || !l.Holds(old) {
				res.Lost = append(res.Lost, l)
				continue
			}
			b := snapshot(old)
			old.HeartbeatAt = w.now
			w.put(old, b)
			if old.CancelRequested {
				res.CancelRequested = append(res.CancelRequested, l.ID)
			}
		}
		return nil
	})
	return res, err
}

// Update applies patches under their leases.
func (s *Store) Update(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	var lost []store.Lease
	err := s.exec(ctx, func(w *wtx) error {
		lost = nil
		for _, p := range patches {
			r, ok, err := w.held(p.Lease)
			if err != nil {
				return err
			}
			if !ok {
				lost = append(lost, p.Lease)
				continue
			}
			if p.Progress == nil && p.Subtasks == nil {
				continue
			}
			b := snapshot(r)
			applyPatch(r, p)
			w.event(r, store.EventUpdated)
			w.put(r, b)
		}
		return nil
	})
	return lost, err
}

// held returns the record l holds, or ok false.
func (w *wtx) held(l store.Lease) (*store.Record, bool, error) {
	r, err := w.get(l.ID)
	if err != nil || r == nil || !l.Holds(r) {
		return nil, false, err
	}
	return r, true, nil
}

func applyPatch(r *store.Record, p store.Patch) {
	if p.Progress != nil {
		r.Progress = *p.Progress
	}
	if p.Subtasks != nil {
		r.Subtasks = slices.Clone(p.Subtasks)
	}
}

// Finish writes terminal states under their leases.
func (s *Store) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	for i, c := range cs {
		if !c.State.Terminal() {
			return nil, fmt.Errorf("boltstore: finish: completion %d: state %q is not terminal", i, c.State)
		}
	}
	var res []store.FinishResult
	err := s.exec(ctx, func(w *wtx) error {
		res = make([]store.FinishResult, len(cs))
		for i, c := range cs {
			res[i] = w.finish(c)
			if w.failed != nil {
				return w.failed
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (w *wtx) finish(c store.Completion) store.FinishResult {
	r, err := w.get(c.Lease.ID)
	switch {
	case err != nil:
		return store.FinishResult{Err: err}
	case r == nil:
		return store.FinishResult{Err: store.ErrNotFound}
	case c.Lease.Ended(r):
		return store.FinishResult{} // a repeated call
	case !c.Lease.Holds(r):
		return store.FinishResult{Err: store.ErrNotOwner}
	}
	b := snapshot(r)
	if c.Progress != nil && *c.Progress != r.Progress {
		// The last progress goes out before the end, as an update.
		r.Progress = *c.Progress
		w.event(r, store.EventUpdated)
	}
	r.State = c.State
	r.Error = c.Error
	code := c.ExitCode
	r.ExitCode = &code
	r.FinishedAt = w.now
	if c.Age > 0 {
		r.FinishedAt = later(w.now.Add(-c.Age), r.StartedAt)
	}
	applyPatch(r, store.Patch{Progress: c.Progress, Subtasks: c.Subtasks})
	r.Owner = ""
	r.CancelRequested = false
	w.event(r, store.TerminalKind(r))
	w.put(r, b)
	return store.FinishResult{}
}

// Release hands records back to the queue under their leases.
func (s *Store) Release(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	var lost []store.Lease
	err := s.exec(ctx, func(w *wtx) error {
		lost = nil
		var first string
		for _, p := range patches {
			r, ok, err := w.held(p.Lease)
			if err != nil {
				return err
			}
			if !ok {
				lost = append(lost, p.Lease)
				continue
			}
			b := snapshot(r)
			applyPatch(r, p)
			r.Owner = ""
			r.Attempt = max(r.Attempt-1, 0)
			w.put(r, b)
			if first == "" {
				first = r.ID
			}
		}
		if first != "" {
			w.appendEvent(store.Event{Kind: store.EventEnqueued, TaskID: first})
		}
		return nil
	})
	return lost, err
}

// RequestCancel cancels a queued record at once, or flags an owned one and
// appends a cancel event addressed to its owner.
func (s *Store) RequestCancel(ctx context.Context, id string) (*store.Record, error) {
	return s.modify(ctx, id, func(r *store.Record) error {
		if r.State.Terminal() {
			return store.ErrFinished
		}
		return nil
	}, func(w *wtx, r *store.Record) {
		if r.Owner == "" {
			r.State = store.Cancelled
			r.FinishedAt = w.now
			r.Error = "cancelled"
			code := store.FailureExitCode
			r.ExitCode = &code
			r.CancelRequested = false
			store.EndSubtasks(r.Subtasks, r.State, r.Error)
			w.event(r, store.EventCancelled)
			return
		}
		r.CancelRequested = true
		w.event(r, store.EventCancel)
	})
}

// Retry re-queues the failed subtasks of a terminal record.
func (s *Store) Retry(ctx context.Context, id string, p store.RetryParams) (*store.Record, error) {
	return s.modify(ctx, id, func(r *store.Record) error {
		if !r.State.Terminal() || !slices.ContainsFunc(r.Subtasks, func(st store.Subtask) bool { return st.State == store.Failure }) {
			return store.ErrNothingToRetry
		}
		return nil
	}, func(w *wtx, r *store.Record) {
		for i, st := range r.Subtasks {
			if st.State == store.Failure {
				r.Subtasks[i] = store.Subtask{Key: st.Key, State: store.SubtaskPending}
			}
		}
		r.State = store.Ongoing
		r.Owner = ""
		r.FinishedAt = time.Time{}
		r.Error = ""
		r.ExitCode = nil
		r.CancelRequested = false
		if p.Attempts > 0 {
			r.MaxAttempts = r.Attempt + p.Attempts
		}
		w.appendEvent(store.Event{Kind: store.EventEnqueued, TaskID: r.ID})
	})
}

// modify changes one record in the writer: check says whether the change
// applies to the record as stored (an error to return otherwise), apply
// makes it in place and appends its events. It returns the stored result;
// an unknown ID is store.ErrNotFound.
func (s *Store) modify(ctx context.Context, id string, check func(*store.Record) error, apply func(*wtx, *store.Record)) (*store.Record, error) {
	var out *store.Record
	err := s.exec(ctx, func(w *wtx) error {
		r, err := w.get(id)
		switch {
		case err != nil:
			return err
		case r == nil:
			return store.ErrNotFound
		}
		if err := check(r); err != nil {
			return err
		}
		b := snapshot(r)
		apply(w, r)
		w.put(r, b)
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxDeletePerTx bounds the records one DeleteFinished transaction
// deletes, so that retention never holds the writer (and every caller
// waiting on it) for long.
const maxDeletePerTx = 1000

// DeleteFinished deletes up to limit terminal records that finished more
// than olderThan ago, oldest first, with their index entries and
// idempotency keys, in transactions of at most 1000 records. It also trims
// the event log's aged entries.
func (s *Store) DeleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	total := 0
	for first := true; first || total < limit; first = false {
		chunk := min(max(limit-total, 0), maxDeletePerTx)
		n, err := s.deleteFinished(ctx, olderThan, chunk)
		total += n
		if err != nil {
			return total, err
		}
		if n < chunk || chunk == 0 {
			break
		}
	}
	return total, nil
}

func (s *Store) deleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	var n int
	err := s.exec(ctx, func(w *wtx) error {
		n = 0
		w.trim = true
		bound := appendTime8(nil, w.now.Add(-olderThan))
		var ids []string
		c := w.index[ixFinished].Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
			if len(k) < 8 || string(k[:8]) >= string(bound) {
				break
			}
			ids = append(ids, string(k[8:]))
		}
		for _, id := range ids {
			r, err := w.get(id)
			if err != nil {
				return err
			}
			if r == nil {
				return w.abort(fmt.Errorf("boltstore: delete: index names missing record %q", id))
			}
			w.remove(r)
			n++
		}
		return nil
	})
	return n, err
}

// noteLive records that incarnation uses the store now.
func (s *Store) noteLive(incarnation string) {
	if incarnation == "" {
		return
	}
	s.liveMu.Lock()
	s.live[incarnation] = struct{}{}
	s.liveMu.Unlock()
}

func (s *Store) isLive(incarnation string) bool {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	_, ok := s.live[incarnation]
	return ok
}

var errNoOwner = errors.New("boltstore: claim: Owner and Incarnation are required")

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

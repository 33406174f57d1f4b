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
// ID or name, a terminal state, an ID already stored or repeated in recs)
// fails the whole call.
func (s *Store) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	if err := validateInsert(recs); err != nil {
		return nil, err
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
	for i, r := range recs {
		if res[i].Existing {
			continue
		}
		c := *r
		c.State = store.Ongoing
		if c.Owner == "" {
			c.Attempt = 0
		}
		w.put(&c, nil)
	}
	return res, nil
}

// Claim takes queued records, then (with StaleBefore) orphans, for
// p.Owner. With no Names it claims nothing.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	switch {
	case p.Owner == "":
		return nil, errors.New("boltstore: claim: Owner is required")
	case p.Limit <= 0:
		return nil, errors.New("boltstore: claim: Limit must be positive")
	case len(p.Names) == 0:
		return nil, nil
	}
	var out []store.Claimed
	err := s.exec(ctx, func(w *wtx) error {
		var err error
		out, err = w.claim(p)
		return err
	})
	return out, err
}

func claimRecord(r *store.Record, p store.ClaimParams) {
	r.Owner = p.Owner
	r.HeartbeatAt = p.Now
	r.StartedAt = p.Now
	r.Attempt++
}

func (w *wtx) claim(p store.ClaimParams) ([]store.Claimed, error) {
	slots := claimSlots(p.Names, p.Tags)
	var ids []string
	if !p.OnlyOrphans {
		ids = queued(w.index[ixQueue], slots, p.Limit)
	}
	if len(ids) < p.Limit && !p.StaleBefore.IsZero() {
		ids = append(ids, w.orphans(slots, p.Owner, p.StaleBefore, p.Limit-len(ids))...)
	}
	out := make([]store.Claimed, 0, len(ids))
	for _, id := range ids {
		old, err := w.get(id)
		if err != nil {
			return nil, err
		}
		if old == nil {
			return nil, w.abort(fmt.Errorf("boltstore: claim: index names missing record %q", id))
		}
		b, prev := snapshot(old), old.Owner
		claimRecord(old, p)
		w.put(old, b)
		out = append(out, store.Claimed{Record: old, PrevOwner: prev})
	}
	return out, nil
}

// Heartbeat renews owner's lease on ids.
func (s *Store) Heartbeat(ctx context.Context, owner string, ids []string, now time.Time) (store.HeartbeatResult, error) {
	var res store.HeartbeatResult
	err := s.exec(ctx, func(w *wtx) error {
		res = store.HeartbeatResult{}
		for _, id := range ids {
			old, err := w.get(id)
			if err != nil {
				return err
			}
			if old == nil || old.State != store.Ongoing || old.Owner != owner || owner == "" {
				res.Lost = append(res.Lost, id)
				continue
			}
			b, next := snapshot(old), old
			next.HeartbeatAt = now
			w.put(next, b)
			if next.CancelRequested {
				res.CancelRequested = append(res.CancelRequested, id)
			}
		}
		return nil
	})
	return res, err
}

// Update applies patches to records owned by owner.
func (s *Store) Update(ctx context.Context, owner string, patches []store.Patch) ([]string, error) {
	var lost []string
	err := s.exec(ctx, func(w *wtx) error {
		lost = nil
		for _, p := range patches {
			old, err := w.get(p.ID)
			if err != nil {
				return err
			}
			if old == nil || old.State != store.Ongoing || old.Owner != owner || owner == "" {
				lost = append(lost, p.ID)
				continue
			}
			b, next := snapshot(old), old
			if p.Progress != nil {
				next.Progress = *p.Progress
			}
			if p.Subtasks != nil {
				next.Subtasks = slices.Clone(p.Subtasks)
			}
			if p.StartedAt != nil {
				next.StartedAt = *p.StartedAt
			}
			w.put(next, b)
		}
		return nil
	})
	return lost, err
}

// Finish writes the terminal state of a record owned by owner ("" for a
// queued record).
func (s *Store) Finish(ctx context.Context, owner, id string, c store.Completion) (*store.Record, error) {
	if !c.State.Terminal() {
		return nil, fmt.Errorf("boltstore: finish %q: state %q is not terminal", id, c.State)
	}
	return s.modify(ctx, id, ongoingOwnedBy(owner), func(r *store.Record) {
		r.State = c.State
		r.Error = c.Error
		code := c.ExitCode
		r.ExitCode = &code
		r.FinishedAt = c.FinishedAt
		if c.Progress != nil {
			r.Progress = *c.Progress
		}
		if c.Subtasks != nil {
			r.Subtasks = slices.Clone(c.Subtasks)
		}
		r.Owner = ""
		r.CancelRequested = false
	})
}

// Release hands records owned by owner back to the queue. IDs owner does
// not own are skipped.
func (s *Store) Release(ctx context.Context, owner string, ids []string) error {
	return s.exec(ctx, func(w *wtx) error {
		for _, id := range ids {
			old, err := w.get(id)
			if err != nil {
				return err
			}
			if old == nil || old.State != store.Ongoing || old.Owner != owner || owner == "" {
				continue
			}
			b, next := snapshot(old), old
			next.Owner = ""
			w.put(next, b)
		}
		return nil
	})
}

// RequestCancel cancels a queued record at once, or flags an owned one
// and publishes a store.MsgCancel to its owner.
func (s *Store) RequestCancel(ctx context.Context, id string, now time.Time) (*store.Record, error) {
	r, err := s.modify(ctx, id, func(r *store.Record) error {
		if r.State.Terminal() {
			return store.ErrFinished
		}
		return nil
	}, func(r *store.Record) {
		if r.Owner == "" {
			r.State = store.Cancelled
			r.FinishedAt = now
			r.CancelRequested = false
		} else {
			r.CancelRequested = true
		}
	})
	if err != nil {
		return nil, err
	}
	if r.Owner != "" {
		s.pubsub.publish(store.Message{Kind: store.MsgCancel, TaskID: id, Owner: r.Owner})
	}
	return r, nil
}

// Retry re-queues the failed subtasks of a terminal record.
func (s *Store) Retry(ctx context.Context, id string, now time.Time) (*store.Record, error) {
	r, err := s.modify(ctx, id, func(r *store.Record) error {
		if !r.State.Terminal() || !slices.ContainsFunc(r.Subtasks, func(st store.Subtask) bool { return st.State == store.Failure }) {
			return store.ErrNothingToRetry
		}
		return nil
	}, func(r *store.Record) {
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
	})
	if err != nil {
		return nil, err
	}
	s.pubsub.publish(store.Message{Kind: store.MsgEnqueued, TaskID: id})
	return r, nil
}

// maxDeletePerTx bounds the records one DeleteFinished transaction
// deletes, so that retention never holds the writer (and every caller
// waiting on it) for long.
const maxDeletePerTx = 1000

// DeleteFinished deletes up to limit terminal records finished before
// before, oldest first, with their index entries and idempotency keys, in
// transactions of at most 1000 records.
func (s *Store) DeleteFinished(ctx context.Context, before time.Time, limit int) (int, error) {
	total := 0
	for total < limit {
		chunk := min(limit-total, maxDeletePerTx)
		n, err := s.deleteFinished(ctx, before, chunk)
		total += n
		if err != nil {
			return total, err
		}
		if n < chunk {
			break
		}
	}
	return total, nil
}

func (s *Store) deleteFinished(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.exec(ctx, func(w *wtx) error {
		n = 0
		bound := appendTime8(nil, before)
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

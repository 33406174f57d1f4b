package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
)

// Claim takes queued records, then (with StaleAfter) orphans, for the
// caller, within separate limits for normal and idle priority.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	if err := validateClaim(p); err != nil {
		return nil, err
	}
	s.noteLive(p.Incarnation)
	if len(p.Names) == 0 || p.Limit+p.IdleLimit <= 0 {
		return nil, checkCtx(ctx)
	}
	var out []store.Claimed
	err := s.exec(ctx, func(w *wtx) error {
		out = out[:0]
		for _, prio := range []byte{prioNormal, prioIdle} {
			limit := p.Limit
			if prio == prioIdle {
				limit = p.IdleLimit
			}
			if limit <= 0 {
				continue
			}
			slots := claimSlots(p.Names, p.Tags, prio)
			ids := queued(w.index[ixQueue], slots, limit)
			for _, id := range ids {
				out = w.claimOne(out, id, p, "")
			}
			if len(ids) < limit && p.StaleAfter > 0 {
				for _, o := range w.orphans(slots, p.Incarnation, w.now.Add(-p.StaleAfter), limit-len(ids)) {
					out = w.claimOne(out, o, p, "orphan")
				}
			}
			if w.failed != nil {
				return w.failed
			}
		}
		return nil
	})
	return out, err
}

func validateClaim(p store.ClaimParams) error {
	switch {
	case p.Owner == "" || p.Incarnation == "":
		return errNoOwner
	case p.Limit < 0 || p.IdleLimit < 0:
		return errors.New("boltstore: claim: limits must not be negative")
	}
	return nil
}

// claimOne claims the record id for p and appends the result to out. how
// is "" for a queued record, "orphan" for a stale one, "same" for one this
// incarnation claimed but never started.
func (w *wtx) claimOne(out []store.Claimed, id string, p store.ClaimParams, how string) []store.Claimed {
	r, err := w.get(id)
	if err != nil {
		return out
	}
	if r == nil {
		_ = w.abort(fmt.Errorf("boltstore: claim: index names missing record %q", id))
		return out
	}
	b, prev := snapshot(r), r.Owner
	if how != "same" && r.MaxAttempts > 0 && r.Attempt >= r.MaxAttempts {
		exhaust(r, w.now)
		w.event(r, store.EventFailed)
		w.put(r, b)
		return append(out, store.Claimed{Record: r, PrevOwner: prev, Exhausted: true})
	}
	if how != "same" {
		r.Attempt++
	}
	startAttempt(r, p.Owner, p.Incarnation, w.now)
	w.event(r, store.EventStarted)
	w.put(r, b)
	return append(out, store.Claimed{Record: r, Lease: r.Lease(), PrevOwner: prev})
}

// exhaust ends r FAILURE for having used up its attempts.
func exhaust(r *store.Record, now time.Time) {
	r.State = store.Failure
	r.Error = store.ExhaustedError(r.Attempt)
	code := store.FailureExitCode
	r.ExitCode = &code
	r.FinishedAt = now
	r.Owner = ""
	r.CancelRequested = false
	store.EndSubtasks(r.Subtasks, r.State, r.Error)
}

// startAttempt leases r to owner and resets what a new attempt does not
// carry over: progress, and the state of every subtask that did not
// succeed.
func startAttempt(r *store.Record, owner, incarnation string, now time.Time) {
	r.Owner, r.Incarnation = owner, incarnation
	r.Fence++
	r.HeartbeatAt, r.StartedAt = now, now
	r.Progress = store.Progress{}
	r.Error = ""
	for i, st := range r.Subtasks {
		if st.State != store.Success {
			r.Subtasks[i] = store.Subtask{Key: st.Key, State: store.SubtaskPending}
		}
	}
}

// Recover claims the records p.Owner holds under no lease in held, and the
// records of incarnations that have not used this store since it opened
// (their process is dead: the file admits one process).
func (s *Store) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if err := validateClaim(p); err != nil {
		return nil, err
	}
	s.noteLive(p.Incarnation)
	if len(p.Names) == 0 || p.Limit+p.IdleLimit <= 0 {
		return nil, checkCtx(ctx)
	}
	keep := make(map[string]uint64, len(held))
	for _, l := range held {
		keep[l.ID] = l.Fence
	}
	if len(p.Abandoned) == 0 {
		nothing, err := s.nothingToRecover(ctx, p, keep)
		if nothing || err != nil {
			return nil, err
		}
	}
	abandoned := make(map[string]uint64, len(p.Abandoned))
	for _, l := range p.Abandoned {
		abandoned[l.ID] = l.Fence
	}
	var out []store.Claimed
	err := s.exec(ctx, func(w *wtx) error {
		out = out[:0]
		limits := map[bool]int{false: p.Limit, true: p.IdleLimit}
		for _, r := range w.recoverable(p, keep, s.isLive) {
			if limits[r.Idle()] <= 0 {
				continue
			}
			limits[r.Idle()]--
			how := "orphan"
			if f, ok := abandoned[r.ID]; r.Incarnation == p.Incarnation && (!ok || f != r.Fence) {
				how = "same"
			}
			out = w.claimOne(out, r.ID, p, how)
			if w.failed != nil {
				return w.failed
			}
		}
		return nil
	})
	return out, err
}

// nothingToRecover reports whether Recover would find nothing to take,
// from the owned index alone, in a read-only transaction (not the
// writer's, no record decoded): every record the owner holds is held by
// p's incarnation under a lease in keep, and no record is held by a dead
// incarnation. A server recovers at every heartbeat; without this each
// recovery was a write transaction that decoded every record the server
// held. (A lease in keep whose fence is older than the record's, a claim
// answer lost while the run of the old lease goes on, is taken by the
// first recovery after that run ends.)
func (s *Store) nothingToRecover(ctx context.Context, p store.ClaimParams, keep map[string]uint64) (bool, error) {
	nothing := true
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOwned).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, ok := parseOwned(k, v)
			if !ok || !recoveryCandidate(e, p, s.isLive) {
				continue
			}
			if _, held := keep[e.id]; !held || e.owner != p.Owner || e.incarnation != p.Incarnation {
				nothing = false
				return nil
			}
		}
		return nil
	})
	return nothing, err
}

// recoveryCandidate reports whether Recover looks at the owned record e:
// the caller's server holds it, or a dead incarnation does.
func recoveryCandidate(e ownedEntry, p store.ClaimParams, live func(string) bool) bool {
	return e.owner == p.Owner || e.incarnation != p.Incarnation && !live(e.incarnation)
}

// recoverable lists, oldest first, the owned records the caller may run
// that it owns under a lease it does not hold, or that a dead incarnation
// holds.
func (w *wtx) recoverable(p store.ClaimParams, keep map[string]uint64, live func(string) bool) []*store.Record {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	c := w.index[ixOwned].Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if e, ok := parseOwned(k, v); ok && recoveryCandidate(e, p, live) {
			add(e.id)
		}
	}
	slices.Sort(ids)
	var out []*store.Record
	for _, id := range ids {
		r, err := w.get(id)
		if err != nil || r == nil || r.State != store.Ongoing || r.Owner == "" {
			continue
		}
		if f, ok := keep[id]; ok && f == r.Fence && r.Incarnation == p.Incarnation {
			continue
		}
		if !claimable(r, p.Names, p.Tags) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// splitStr splits a key that starts with appendStr(s) into s and the rest.
func splitStr(k []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return "", nil, false
	}
	return string(k[w : w+int(n)]), k[w+int(n):], true
}

// head is the current key of one cursor in a k-way merge over index
// prefixes; key is the sort key after the prefix (ID, or time8+ID).
type head struct {
	c      *bolt.Cursor
	prefix []byte
	key    []byte
	val    []byte
}

func (h *head) set(k, v []byte) {
	if k == nil || !bytes.HasPrefix(k, h.prefix) {
		h.key, h.val = nil, nil
		return
	}
	h.key, h.val = k[len(h.prefix):], v
}

// minHead returns the live head with the smallest key, or nil.
func minHead(hs []*head) *head {
	var m *head
	for _, h := range hs {
		if h.key != nil && (m == nil || bytes.Compare(h.key, m.key) < 0) {
			m = h
		}
	}
	return m
}

func heads(b *bolt.Bucket, slots [][]byte) []*head {
	hs := make([]*head, len(slots))
	for i, p := range slots {
		h := &head{c: b.Cursor(), prefix: p}
		h.set(h.c.Seek(p))
		hs[i] = h
	}
	return hs
}

// queued returns up to limit queued record IDs from the given slots,
// oldest (smallest ID) first. A record queued under several tags appears
// once.
func queued(queue *bolt.Bucket, slots [][]byte, limit int) []string {
	hs := heads(queue, slots)
	var ids []string
	seen := make(map[string]struct{})
	for len(ids) < limit {
		h := minHead(hs)
		if h == nil {
			break
		}
		id := string(h.key)
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
		h.set(h.c.Next())
	}
	return ids
}

// orphans returns up to limit IDs of records not held by incarnation whose
// lease was renewed before staleBefore, oldest renewal first.
func (w *wtx) orphans(slots [][]byte, incarnation string, staleBefore time.Time, limit int) []string {
	hs := heads(w.index[ixOwned], slots)
	bound := appendTime8(nil, staleBefore)
	var ids []string
	seen := make(map[string]struct{})
	for len(ids) < limit {
		h := minHead(hs)
		if h == nil {
			break
		}
		if bytes.Compare(h.key[:8], bound) >= 0 {
			h.key = nil // the rest of this slot is fresh
			continue
		}
		id := string(h.key[8:])
		_, holder, _ := splitStr(h.val)
		if _, dup := seen[id]; !dup && string(holder) != incarnation {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
		h.set(h.c.Next())
	}
	return ids
}

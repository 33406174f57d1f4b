package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bgtask/bgtask/store"
)

// Insert stores new records; see store.Store. A batch of more than 500
// records is stored 500 at a time, each part atomic. Repeating an Insert
// whose answer was lost returns what the first one did.
func (s *Store) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	out := make([]store.InsertResult, 0, len(recs))
	err := chunks(len(recs), func(lo, hi int) error {
		args := make([]any, 0, 10*(hi-lo))
		for _, r := range recs[lo:hi] {
			if r.ID == "" || r.Name == "" || (r.Owner == "") != (r.Incarnation == "") {
				return fmt.Errorf("redisstore: insert of %q: ID and Name are required, Owner and Incarnation go together", r.ID)
			}
			args = append(args, insertArgs(r)...)
		}
		res, err := s.run(ctx, "insert", args...)
		if err != nil {
			if _, id, ok := strings.Cut(err.Error(), "DUPID "); ok {
				return fmt.Errorf("redisstore: insert: record %s already stored", id)
			}
			return err
		}
		for i, v := range list(res) {
			e := list(v)
			r := recs[lo+i]
			ir := store.InsertResult{ID: str(e[0]), Existing: str(e[1]) == "1"}
			if str(e[2]) == "1" {
				ir.Lease = store.Lease{ID: r.ID, Owner: r.Owner, Incarnation: r.Incarnation, Attempt: 1, Fence: 1}
			}
			out = append(out, ir)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns the record id, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*store.Record, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	// A function call, not an HGETALL: a running record's heartbeat is
	// in its owned set (see renew in lua/5_leases.lua).
	res, err := s.run(ctx, "get", id)
	if err != nil {
		return nil, err
	}
	if len(list(res)) == 0 {
		return nil, store.ErrNotFound
	}
	return decodeRecord(res)
}

// List returns one page of records, newest first; see store.ListParams.
func (s *Store) List(ctx context.Context, p store.ListParams) (*store.ListPage, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	res, err := s.run(ctx, "list", string(p.State), p.Name, p.Cursor, strconv.Itoa(limit), p.IDPrefix)
	if err != nil {
		return nil, err
	}
	l := list(res)
	if len(l) == 0 {
		return nil, fmt.Errorf("redisstore: bad list reply")
	}
	page := &store.ListPage{NextCursor: str(l[len(l)-1]), Records: make([]*store.Record, 0, len(l)-1)}
	for _, v := range l[:len(l)-1] {
		r, err := decodeRecord(v)
		if err != nil {
			// A record damaged outside bgtask (a hand-edited hash) is left
			// out of the page, with an error in the log naming it, rather
			// than failing every page it falls on: the list and the
			// dashboard go on working; Get of that ID reports the damage.
			s.cfg.Logger.Error("redisstore: a stored record cannot be read: left out of the list (inspect or delete its hash)",
				"task_id", recordID(v), "err", err)
			continue
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// recordID is the ID of a record reply, "" when the reply has none.
func recordID(v any) string {
	if flat, ok := v.([]any); ok && len(flat) > 0 {
		return str(flat[0])
	}
	return ""
}

// Counts returns the number of records per state.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	res, err := s.run(ctx, "counts")
	if err != nil {
		return nil, err
	}
	c := store.Counts{}
	for i, st := range []store.State{store.Ongoing, store.Success, store.Failure, store.Cancelled} {
		n, _ := strconv.Atoi(str(list(res)[i]))
		c[st] = n
	}
	return c, nil
}

// CountsByName returns the number of records per task name and state: 4
// ZCARDs per task name ever stored, in one script call (the set of names
// is kept as records are inserted and never shrinks; a name whose records
// were all deleted is left out of the answer).
func (s *Store) CountsByName(ctx context.Context) (store.NameCounts, error) {
	res, err := s.run(ctx, "countsbyname")
	if err != nil {
		return nil, err
	}
	l := list(res)
	out := store.NameCounts{}
	for i := 0; i+4 < len(l); i += 5 {
		c := store.Counts{}
		for j, st := range []store.State{store.Ongoing, store.Success, store.Failure, store.Cancelled} {
			if n, _ := l[i+1+j].(int64); n > 0 {
				c[st] = int(n)
			}
		}
		if len(c) > 0 {
			out[str(l[i])] = c
		}
	}
	return out, nil
}

// statusRecord decodes a {status, record} reply; status "" means ok and
// the others map to errs.
func statusRecord(res any, errs map[string]error) (*store.Record, error) {
	l := list(res)
	if st := str(l[0]); st != "" {
		if err, ok := errs[st]; ok {
			return nil, err
		}
		return nil, fmt.Errorf("redisstore: unexpected status %q", st)
	}
	return decodeRecord(l[1])
}

// RequestCancel cancels a record; see store.Store.
func (s *Store) RequestCancel(ctx context.Context, id string) (*store.Record, error) {
	res, err := s.run(ctx, "cancel", id)
	if err != nil {
		return nil, err
	}
	return statusRecord(res, map[string]error{"missing": store.ErrNotFound, "finished": store.ErrFinished})
}

// Retry re-queues the failed subtasks of a terminal record; see
// store.Store.
func (s *Store) Retry(ctx context.Context, id string, p store.RetryParams) (*store.Record, error) {
	res, err := s.run(ctx, "retry", id, strconv.Itoa(max(p.Attempts, 0)))
	if err != nil {
		return nil, err
	}
	return statusRecord(res, map[string]error{"missing": store.ErrNotFound, "nothing": store.ErrNothingToRetry})
}

// DeleteFinished deletes up to limit records that finished more than
// olderThan ago by the store's clock, oldest first, and trims the log by
// age.
func (s *Store) DeleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	if limit <= 0 {
		return 0, nil
	}
	total := 0
	for total < limit {
		n := min(limit-total, maxBatch)
		res, err := s.run(ctx, "deletefinished", strconv.FormatInt(olderThan.Microseconds(), 10), strconv.Itoa(n))
		if err != nil {
			return total, err
		}
		got, _ := res.(int64)
		total += int(got)
		if int(got) < n {
			break
		}
	}
	return total, nil
}

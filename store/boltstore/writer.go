package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
)

// op is one mutating call waiting for the writer. fn either fails before
// writing anything (a logical error such as store.ErrNotOwner, returned to
// the caller while the transaction goes on) or writes through the wtx
// helpers, whose failures abort the whole transaction.
type op struct {
	fn   func(w *wtx) error
	err  error
	done chan struct{}
}

// exec queues fn for the writer and waits until its transaction is
// durable (or failed). The context is checked before queueing only: once
// queued, the operation is applied, so a caller never sees an error for a
// change that was made.
func (s *Store) exec(ctx context.Context, fn func(w *wtx) error) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	o := &op{fn: fn, done: make(chan struct{})}
	s.sendMu.RLock()
	if s.closed.Load() {
		s.sendMu.RUnlock()
		return store.ErrClosed
	}
	s.ops <- o
	s.sendMu.RUnlock()
	<-o.done
	return o.err
}

// writer is the only goroutine that writes to the database. It owns every
// wtx and the in-memory counts (read under countsMu by Counts).
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*op, 0, s.cfg.MaxBatch)
	for first := range s.ops {
		batch = append(batch[:0], first)
		yielded := false
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				if yielded {
					break fill
				}
				// Let goroutines that are runnable (a claimer woken by
				// the last commit, a completer with outcomes) queue
				// their calls: a commit costs two syncs, a yield a
				// microsecond.
				yielded = true
				runtime.Gosched()
			}
		}
		s.apply(batch)
		clear(batch)
	}
}

// apply runs batch in one transaction. If the transaction fails as a whole
// (a write error, a panic, a failed commit), each operation is retried in
// a transaction of its own so that only the culprit fails.
func (s *Store) apply(batch []*op) {
	err := s.run(batch)
	if err != nil && len(batch) > 1 {
		s.log.Warn("boltstore: transaction failed, retrying operations one by one",
			"ops", len(batch), "error", err)
		for _, o := range batch {
			s.apply([]*op{o})
		}
		return
	}
	for _, o := range batch {
		if err != nil {
			o.err = err
		}
		close(o.done)
	}
}

func (s *Store) run(batch []*op) (err error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("boltstore: begin: %w", err)
	}
	s.stats.txs.Add(1)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: panic in transaction: %v", p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	first, head := s.events.bounds()
	w := newWtx(tx, s.clock.Now(), head)
	for _, o := range batch {
		o.err = o.fn(w)
		if w.failed != nil {
			return w.failed
		}
	}
	w.writeEvents()
	if len(w.events) > 0 || w.trim {
		first = w.trimLog(first, s.cfg.LogMaxEvents, s.cfg.LogMaxAge)
	}
	if w.failed != nil {
		return w.failed
	}
	if len(w.events) > 0 {
		if err := w.meta.Put(metaSeq, encodeSeq(w.seq)); err != nil {
			return fmt.Errorf("boltstore: write seq: %w", err)
		}
	}
	if !w.dirty {
		// Nothing changed (empty claims, failed checks): no commit, no
		// fsync, and the answers are already final.
		return tx.Rollback()
	}
	changed := w.counts != ([4]int64{})
	var next [4]int64
	if changed {
		s.countsMu.Lock()
		next = s.counts // only the writer changes s.counts
		s.countsMu.Unlock()
		for i, d := range w.counts {
			next[i] += d
		}
		if err := w.meta.Put(metaCounts, encodeCounts(next)); err != nil {
			return fmt.Errorf("boltstore: write counts: %w", err)
		}
	}
	if len(w.events) > 0 {
		s.events.committing(w.seq)
	}
	if err := tx.Commit(); err != nil {
		if len(w.events) > 0 {
			s.events.committing(0)
		}
		// A failed commit is the disk's doing: full, read-only, I/O error.
		return fmt.Errorf("%w: boltstore: commit: %w", store.ErrUnavailable, err)
	}
	if changed {
		s.countsMu.Lock()
		s.counts = next
		s.countsMu.Unlock()
	}
	s.events.appended(w.events, first)
	s.stats.commits.Add(1)
	s.stats.ops.Add(uint64(len(batch)))
	return nil
}

// indexFillPercent is the page fill of index buckets when bbolt splits.
const indexFillPercent = 0.9

// wtx is the writer's view of one transaction.
type wtx struct {
	// now is the store's clock when the transaction began: every time it
	// writes.
	now time.Time
	// seq is the Seq of the last log entry appended so far.
	seq uint64
	// events are the entries this transaction appended.
	events []store.Event
	// trim asks for the log to be trimmed even without new entries.
	trim    bool
	tx      *bolt.Tx
	meta    *bolt.Bucket
	records *bolt.Bucket
	index   [numIndexes]*bolt.Bucket
	// counts are the per-state deltas of this transaction.
	counts [4]int64
	// failed is the first write error; the transaction is rolled back.
	failed error
	// dirty is set by the first write.
	dirty bool
}

func newWtx(tx *bolt.Tx, now time.Time, seq uint64) *wtx {
	w := &wtx{now: now, seq: seq, tx: tx, meta: tx.Bucket(bucketMeta), records: tx.Bucket(bucketRecords)}
	for i, name := range indexBuckets {
		w.index[i] = tx.Bucket(name)
		// Index keys mostly arrive in order (IDs and times increase):
		// pack pages full instead of bbolt's default half.
		w.index[i].FillPercent = indexFillPercent
	}
	return w
}

// get returns the stored record, or nil if there is none.
func (w *wtx) get(id string) (*store.Record, error) {
	v := w.records.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, w.abort(fmt.Errorf("boltstore: record %q: %w", id, err))
	}
	return r, nil
}

// before is what a record looked like when it was read: its index
// entries and state, so that it can be changed in place and written back.
type before struct {
	entries []entry
	state   store.State
}

func snapshot(r *store.Record) *before {
	return &before{entries: indexEntries(r), state: r.State}
}

// put stores r and moves its index entries from what they were in b (nil
// for a new record).
func (w *wtx) put(r *store.Record, b *before) {
	if w.failed != nil {
		return
	}
	w.dirty = true
	if err := w.records.Put([]byte(r.ID), encodeRecord(nil, r)); err != nil {
		w.fail(err)
		return
	}
	var old []entry
	if b != nil {
		old = b.entries
		w.counts[stateIndex(b.state)]--
	}
	del, put := diffEntries(old, indexEntries(r))
	w.apply(del, put)
	w.counts[stateIndex(r.State)]++
}

// remove deletes r and its index entries.
func (w *wtx) remove(r *store.Record) {
	if w.failed != nil {
		return
	}
	w.dirty = true
	if err := w.records.Delete([]byte(r.ID)); err != nil {
		w.fail(err)
		return
	}
	w.apply(indexEntries(r), nil)
	w.counts[stateIndex(r.State)]--
}

func (w *wtx) apply(del, put []entry) {
	for _, e := range del {
		if err := w.index[e.bucket].Delete(e.key); err != nil {
			w.fail(err)
			return
		}
	}
	for _, e := range put {
		if err := w.index[e.bucket].Put(e.key, e.val); err != nil {
			w.fail(err)
			return
		}
	}
}

// abort fails the whole transaction with err (a corrupt database, not a
// caller's mistake) and returns it.
func (w *wtx) abort(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

func (w *wtx) fail(err error) {
	if w.failed == nil {
		w.failed = fmt.Errorf("boltstore: write: %w", err)
	}
}

// stateIndex maps the four record states to 0..3.
func stateIndex(s store.State) int {
	switch s {
	case store.Success:
		return 1
	case store.Failure:
		return 2
	case store.Cancelled:
		return 3
	}
	return 0
}

var countStates = [4]store.State{store.Ongoing, store.Success, store.Failure, store.Cancelled}

func encodeCounts(c [4]int64) []byte {
	var b []byte
	for _, n := range c {
		b = binary.AppendVarint(b, n)
	}
	return b
}

func decodeCounts(b []byte, c *[4]int64) error {
	if b == nil {
		return nil
	}
	for i := range c {
		n, k := binary.Varint(b)
		if k <= 0 {
			return errors.New("corrupt counts")
		}
		c[i] = n
		b = b[k:]
	}
	return nil
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeq(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

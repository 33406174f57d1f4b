package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
)

// ReadLog limits.
const (
	defaultReadLimit = 1000
	maxReadLimit     = 10_000
	// recentEvents is how many of the newest entries are also kept in
	// memory, so that followers of the log's head read without a
	// transaction.
	recentEvents = 8192
	// maxTrimPerTx bounds the entries one transaction trims.
	maxTrimPerTx = 20_000
)

// eventLog is the in-memory side of the log: its bounds, a copy of the
// newest entries, and a channel closed whenever entries are appended. The
// writer goroutine calls appended after each commit; readers call state.
type eventLog struct {
	mu     sync.Mutex
	first  uint64        // oldest entry kept (head+1 when empty)
	head   uint64        // newest entry
	recent []store.Event // contiguous entries ending at head
	wake   chan struct{} // closed and replaced on every append
	closed bool
}

func (l *eventLog) init(first, head uint64) {
	l.first, l.head = first, head
	l.wake = make(chan struct{})
}

func (l *eventLog) lock()   { l.mu.Lock() }
func (l *eventLog) unlock() { l.mu.Unlock() }

// bounds returns the first and head seqs.
func (l *eventLog) bounds() (first, head uint64) {
	l.lock()
	defer l.unlock()
	return l.first, l.head
}

// appended records a commit's new entries and new first entry.
func (l *eventLog) appended(evs []store.Event, first uint64) {
	l.lock()
	defer l.unlock()
	l.first = first
	if len(evs) == 0 {
		return
	}
	l.head = evs[len(evs)-1].Seq
	if len(l.recent) > 0 && l.recent[len(l.recent)-1].Seq+1 != evs[0].Seq {
		l.recent = nil // not contiguous (cannot happen with one writer)
	}
	l.recent = append(l.recent, evs...)
	if len(l.recent) > 2*recentEvents {
		l.recent = append([]store.Event(nil), l.recent[len(l.recent)-recentEvents:]...)
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *eventLog) close() {
	l.lock()
	defer l.unlock()
	if !l.closed {
		l.closed = true
		close(l.wake)
	}
}

// fromMemory returns up to limit entries from seq on if memory holds seq.
func (l *eventLog) fromMemory(seq uint64, limit int) ([]store.Event, bool) {
	l.lock()
	defer l.unlock()
	if len(l.recent) == 0 || seq < l.recent[0].Seq || seq < l.first {
		return nil, false
	}
	i := int(seq - l.recent[0].Seq)
	if i >= len(l.recent) {
		return nil, true
	}
	end := min(len(l.recent), i+limit)
	return append([]store.Event(nil), l.recent[i:end]...), true
}

// ReadLog returns up to limit entries with Seq > after (limit <= 0: 1000;
// at most 10,000), waiting up to wait for one when there is none.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	if limit <= 0 {
		limit = defaultReadLimit
	}
	limit = min(limit, maxReadLimit)
	var timer <-chan time.Time
	for {
		if err := checkCtx(ctx); err != nil {
			return store.LogPage{}, err
		}
		if s.closed.Load() {
			return store.LogPage{}, store.ErrClosed
		}
		s.events.lock()
		first, head, wake := s.events.first, s.events.head, s.events.wake
		s.events.unlock()
		page := store.LogPage{Head: head}
		from := after + 1
		if after > head || from < first {
			page.Truncated, from = true, first
		}
		if from <= head {
			evs, err := s.readEvents(ctx, from, limit)
			if err != nil {
				return store.LogPage{}, err
			}
			if len(evs) > 0 && evs[0].Seq != from {
				// Trimmed between reading the bounds and the entries.
				page.Truncated = true
			}
			page.Events = evs
			return page, nil
		}
		if wait <= 0 || page.Truncated {
			return page, nil
		}
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-wake:
		case <-timer:
			return page, nil
		case <-ctx.Done():
			return store.LogPage{}, ctx.Err()
		}
	}
}

func (s *Store) readEvents(ctx context.Context, from uint64, limit int) ([]store.Event, error) {
	if evs, ok := s.events.fromMemory(from, limit); ok {
		return evs, nil
	}
	var out []store.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(seqKey(from)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("boltstore: event log: bad key %x", k)
			}
			seq := binary.BigEndian.Uint64(k)
			ev, err := decodeEvent(seq, v)
			if err != nil {
				return fmt.Errorf("boltstore: event %d: %w", seq, err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// appendEvent appends ev (Seq and Time set here) to the transaction's log.
func (w *wtx) appendEvent(ev store.Event) {
	if w.failed != nil {
		return
	}
	w.dirty = true
	w.seq++
	ev.Seq = w.seq
	ev.Time = w.now
	if err := w.tx.Bucket(bucketEvents).Put(seqKey(ev.Seq), encodeEvent(&ev)); err != nil {
		w.fail(err)
		return
	}
	w.events = append(w.events, ev)
}

// event appends the event of kind k describing r as it is now and, for a
// task event, sets r.EventSeq; put r after calling it.
func (w *wtx) event(r *store.Record, k store.EventKind) {
	w.appendEvent(store.EventOf(r, k))
	if !k.Control() && w.failed == nil {
		r.EventSeq = w.seq
	}
}

// trimLog deletes the entries past the count bound (once the log is an
// eighth over it) and the entries older than the age bound, at most
// maxTrimPerTx per transaction, and returns the new first entry.
func (w *wtx) trimLog(first uint64, maxEvents int, maxAge time.Duration) uint64 {
	head := w.seq
	if first > head {
		return head + 1
	}
	b := w.tx.Bucket(bucketEvents)
	n := head - first + 1
	if n > uint64(maxEvents)+uint64(maxEvents)/8 {
		until := min(head-uint64(maxEvents), first+maxTrimPerTx-1)
		for seq := first; seq <= until; seq++ {
			if err := b.Delete(seqKey(seq)); err != nil {
				w.fail(err)
				return first
			}
		}
		w.dirty = true
		first = until + 1
	}
	cutoff := w.now.Add(-maxAge)
	c := b.Cursor()
	deleted := 0
	for k, v := c.First(); k != nil && deleted < maxTrimPerTx; k, v = c.First() {
		ev, err := decodeEvent(binary.BigEndian.Uint64(k), v)
		if err != nil || !ev.Time.Before(cutoff) {
			break
		}
		if err := c.Delete(); err != nil {
			w.fail(err)
			return first
		}
		w.dirty = true
		deleted++
		first = ev.Seq + 1
	}
	return first
}

package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
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
// newest entries (a fixed ring, so that appends allocate nothing), and a
// channel closed whenever entries are appended. The writer goroutine calls
// appended after each commit; readers call the rest.
type eventLog struct {
	mu    sync.Mutex
	first uint64 // oldest entry kept (head+1 when empty)
	head  uint64 // newest entry
	// pending is the newest entry of a commit in flight (0: none): its
	// record changes may be visible to readers before appended is called,
	// so a position up to pending is not in the future.
	pending uint64
	recent  []store.Event // ring of the newest entries, ending at head
	n       int           // entries in recent
	wake    chan struct{} // closed and replaced on every append
	closed  bool
}

func (l *eventLog) init(first, head uint64) {
	l.first, l.head = first, head
	l.recent = make([]store.Event, recentEvents)
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

// committing notes the newest entry of the commit the writer is about to
// make (0 after a commit that failed, waking the readers that waited).
func (l *eventLog) committing(seq uint64) {
	l.lock()
	defer l.unlock()
	l.pending = seq
	if seq == 0 && !l.closed {
		close(l.wake)
		l.wake = make(chan struct{})
	}
}

// appended records a commit's new entries and new first entry.
func (l *eventLog) appended(evs []store.Event, first uint64) {
	l.lock()
	defer l.unlock()
	l.pending = 0
	l.first = first
	if len(evs) == 0 {
		return
	}
	for i := range evs {
		l.recent[evs[i].Seq%recentEvents] = evs[i]
	}
	l.head = evs[len(evs)-1].Seq
	l.n = min(l.n+len(evs), recentEvents)
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
	oldest := l.head + 1 - uint64(l.n)
	if l.n == 0 || seq < oldest || seq < l.first {
		return nil, false
	}
	if seq > l.head {
		return nil, true
	}
	n := min(int(l.head-seq+1), limit)
	out := make([]store.Event, n)
	for i := range out {
		out[i] = l.recent[(seq+uint64(i))%recentEvents]
	}
	return out, true
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
		first, head, pending, wake := s.events.first, s.events.head, s.events.pending, s.events.wake
		s.events.unlock()
		if after > head && after <= pending {
			// A position a record read has shown (its EventSeq) while
			// the commit that wrote it is still making its entries
			// visible here: not in the future, only a moment early.
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return store.LogPage{}, ctx.Err()
			}
		}
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
		k, v := c.Seek(seqKey(from))
		if k == nil || len(k) == 8 && binary.BigEndian.Uint64(k) > from {
			// The chunk that holds from starts before it.
			if k, v = c.Prev(); k == nil {
				k, v = c.First()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var err error
			if out, err = decodeChunk(k, v, from, limit, out); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// The log is stored in chunks of up to maxChunk entries of one
// transaction: key seq8 of the chunk's first entry, value uvarint(count)
// time(commit) and each entry as uvarint(length) bytes. A Put per chunk,
// not per entry.

// chunkHeader returns a chunk's first seq, entry count and commit time.
func chunkHeader(k, v []byte) (first, n uint64, at time.Time, rest []byte, err error) {
	if len(k) != 8 {
		return 0, 0, time.Time{}, nil, fmt.Errorf("boltstore: event log: bad key %x", k)
	}
	d := &decoder{b: v, all: string(v)}
	n = d.uvarint()
	at = d.time()
	if d.err != nil {
		return 0, 0, time.Time{}, nil, fmt.Errorf("boltstore: event log chunk %x: %w", k, d.err)
	}
	return binary.BigEndian.Uint64(k), n, at, d.b, nil
}

// decodeChunk appends the chunk's entries with Seq >= from to out, up to
// limit entries in all.
func decodeChunk(k, v []byte, from uint64, limit int, out []store.Event) ([]store.Event, error) {
	first, n, _, rest, err := chunkHeader(k, v)
	if err != nil {
		return out, err
	}
	for i := range n {
		l, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < l {
			return out, fmt.Errorf("boltstore: event log chunk %d: %w", first, errCorrupt)
		}
		entry := rest[w : w+int(l)]
		rest = rest[w+int(l):]
		seq := first + i
		if seq < from {
			continue
		}
		if len(out) >= limit {
			break
		}
		ev, err := decodeEvent(seq, entry)
		if err != nil {
			return out, fmt.Errorf("boltstore: event %d: %w", seq, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// appendEvent appends ev (Seq and Time set here) to the transaction's log;
// writeEvents stores them before the commit.
func (w *wtx) appendEvent(ev store.Event) {
	if w.failed != nil {
		return
	}
	w.dirty = true
	w.seq++
	ev.Seq = w.seq
	ev.Time = w.now
	w.events = append(w.events, ev)
}

// maxChunk caps the entries of one chunk (about 2 KiB), so that a chunk
// never spans pages: values of several pages need runs of contiguous free
// pages, and the file grew slowly with 32-entry chunks
// (TestFileSizeBoundedByRetention).
const maxChunk = 16

// writeEvents stores the transaction's entries as chunks of at most
// maxChunk entries.
func (w *wtx) writeEvents() {
	var e []byte
	bucket := w.tx.Bucket(bucketEvents)
	// Chunk keys only ever grow: pack pages full (bbolt splits appends
	// half full by default, which doubles the pages a commit writes).
	bucket.FillPercent = 1.0
	for evs := w.events; len(evs) > 0 && w.failed == nil; {
		n := min(len(evs), maxChunk)
		b := binary.AppendUvarint(make([]byte, 0, 64+160*n), uint64(n))
		b = appendTime(b, w.now)
		for i := range evs[:n] {
			e = appendEvent(e[:0], &evs[i])
			b = binary.AppendUvarint(b, uint64(len(e)))
			b = append(b, e...)
		}
		if err := bucket.Put(seqKey(evs[0].Seq), b); err != nil {
			w.fail(err)
		}
		evs = evs[n:]
	}
}

// event appends the event of kind k describing r as it is now and, for a
// task event, sets r.EventSeq; put r after calling it.
func (w *wtx) event(r *store.Record, k store.EventKind) {
	w.appendEvent(detached(store.EventOf(r, k)))
	if !k.Control() && w.failed == nil {
		r.EventSeq = w.seq
	}
}

// detached returns ev with its strings copied out of the record it was
// made from. The strings of a decoded record share one allocation (see
// decodeRecord): an event kept in the in-memory log tail, or by the
// manager's readers, would otherwise keep the whole record alive, up to
// 1 MiB of arguments per event.
func detached(ev store.Event) store.Event {
	ev.TaskID = strings.Clone(ev.TaskID)
	ev.Name = strings.Clone(ev.Name)
	ev.State = store.State(strings.Clone(string(ev.State)))
	ev.Progress.Message = strings.Clone(ev.Progress.Message)
	ev.Error = strings.Clone(ev.Error)
	ev.Owner = strings.Clone(ev.Owner)
	if len(ev.SubtaskErrors) > 0 {
		errs := make(map[string]string, len(ev.SubtaskErrors))
		for k, v := range ev.SubtaskErrors {
			errs[strings.Clone(k)] = strings.Clone(v)
		}
		ev.SubtaskErrors = errs
	}
	return ev
}

// trimLog deletes the oldest chunks whose entries are all older than the
// newest maxEvents (once the log holds an eighth more than that), or that
// were committed before maxAge ago, at most maxTrimPerTx entries per
// transaction, and returns the new first entry.
func (w *wtx) trimLog(first uint64, maxEvents int, maxAge time.Duration) uint64 {
	head := w.seq
	if first > head {
		return head + 1
	}
	cutoff := w.now.Add(-maxAge)
	// Trimming by count waits until the log is an eighth over its bound,
	// then cuts it back to the bound: most commits touch only the log's
	// tail page.
	byCount := head-first+1 > uint64(maxEvents)+uint64(maxEvents)/8
	c := w.tx.Bucket(bucketEvents).Cursor()
	deleted := uint64(0)
	for k, v := c.First(); k != nil && deleted < maxTrimPerTx; k, v = c.First() {
		start, n, at, _, err := chunkHeader(k, v)
		if err != nil {
			w.fail(err)
			return first
		}
		last := start + n - 1
		if (!byCount || last+uint64(maxEvents) > head) && !at.Before(cutoff) {
			break
		}
		if err := c.Delete(); err != nil {
			w.fail(err)
			return first
		}
		w.dirty = true
		deleted += n
		first = last + 1
	}
	return first
}

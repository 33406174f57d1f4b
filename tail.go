package bgtask

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/service"
	"github.com/bgtask/bgtask/store"
)

// tailWait is how long one read of the event tail waits for new entries.
const tailWait = time.Second

// eventTail follows the store's event log with one blocking read at a
// time. It keeps the newest Config.EventHistory entries in memory for this
// server's readers (who read them at their own pace: a reader that stalls
// costs the tail nothing), and acts on the messages addressed to this
// server: an enqueued entry wakes the claimer, a cancel entry for a run
// here cancels it.
type eventTail struct {
	m    *Manager
	loop service.Loop

	mu     sync.RWMutex // guards the fields below
	ring   []tailSlot   // circular, capacity Config.EventHistory
	start  int          // index of the oldest entry
	n      int          // entries held
	head   uint64       // Seq of the newest entry read (position of the tail)
	ready  bool         // head is known
	wake   chan struct{}
	closed bool

	// backoff after a failed read; owned by the loop.
	backoff time.Duration
	// fails bounds the log lines of a store outage.
	fails *failureLog
}

func newEventTail(m *Manager) *eventTail {
	t := &eventTail{m: m, ring: make([]tailSlot, m.cfg.EventHistory), wake: make(chan struct{}),
		fails: newFailureLog("cannot read the event log; retrying", "reading the event log works again")}
	t.loop = service.Loop{BackToBack: true, Clock: m.clock, RunOnce: t.runOnce}
	return t
}

func (t *eventTail) runOnce(ctx context.Context) {
	t.mu.Lock()
	ready, head := t.ready, t.head
	t.mu.Unlock()
	if !ready {
		page, err := t.m.store.ReadLog(ctx, 0, 1, 0)
		if err != nil {
			t.failed(ctx, err)
			return
		}
		t.fails.ok(t.m.logger, t.m.clock)
		t.mu.Lock()
		t.head, t.ready = page.Head, true
		t.mu.Unlock()
		return
	}
	page, err := t.m.store.ReadLog(ctx, head, 1000, tailWait)
	if err != nil {
		t.failed(ctx, err)
		return
	}
	t.backoff = 0
	t.fails.ok(t.m.logger, t.m.clock)
	if page.Truncated {
		if page.Head < head {
			t.m.logger.Warn("the event log starts again below this server's position (did the store lose its data?); streams get a reset", "position", head, "log_head", page.Head)
		} else {
			t.m.logger.Warn("the event log moved past this server's position; entries were missed", "position", head, "log_head", page.Head)
		}
		t.m.claimer.enqueued() // whatever was enqueued meanwhile
	}
	if len(page.Events) == 0 {
		if page.Truncated && page.Head != head {
			// Nothing readable between this server's position and the
			// log's head (trimmed away, or a log that starts again below
			// the position: a Redis that lost its data): follow it from
			// its head, and wake the readers so that they find out.
			// Staying at the old position read the same truncated page
			// back to back, thousands of warnings a second.
			t.mu.Lock()
			t.start, t.n, t.head = 0, 0, page.Head
			close(t.wake)
			t.wake = make(chan struct{})
			t.mu.Unlock()
		}
		return
	}
	for i := range page.Events {
		t.route(&page.Events[i])
	}
	t.append(page.Events, page.Truncated)
}

func (t *eventTail) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	t.backoff = min(max(2*t.backoff, 50*time.Millisecond), 5*time.Second)
	t.fails.failed(t.m.logger, t.m.clock, "retry_in", t.backoff, "err", err)
	_ = clock.Sleep(ctx, t.m.clock, t.backoff)
}

// route acts on the messages addressed to this server.
func (t *eventTail) route(e *store.Event) {
	switch e.Kind {
	case store.EventEnqueued:
		t.m.claimer.enqueued()
	case store.EventCancel:
		if e.Owner == t.m.cfg.ServerID {
			t.m.runs.stopRuns([]string{e.TaskID}, errCancelRequested)
		}
	}
}

// tailSlot is one entry of the ring: the log entry as read, and the
// entry as readers use it, made by the first reader.
type tailSlot struct {
	ev store.Event
	e  atomic.Pointer[tailEntry]
}

// tailEntry is a log entry as an Event, with its encodings (made on first
// use), shared by every reader. It does not change (but for the encodings,
// made once), so readers use it after they released the tail's lock.
type tailEntry struct {
	ev  Event // ev.enc is &enc
	enc encoded
}

// entry returns the slot's shared entry. Called with t.mu held (read).
func (sl *tailSlot) entry() *tailEntry {
	if e := sl.e.Load(); e != nil {
		return e
	}
	e := &tailEntry{ev: eventOf(&sl.ev)}
	e.ev.enc = &e.enc
	if sl.e.CompareAndSwap(nil, e) {
		return e
	}
	return sl.e.Load()
}

// append adds entries to the ring (emptied first after a gap) and wakes
// the readers.
func (t *eventTail) append(evs []store.Event, gap bool) {
	t.mu.Lock()
	if gap {
		t.start, t.n = 0, 0
	}
	for i := range evs {
		if len(t.ring) == 0 {
			break
		}
		if t.n > 0 && evs[i].Seq != t.ring[(t.start+t.n-1)%len(t.ring)].ev.Seq+1 {
			// Not the next Seq (a log with a hole): memory starts again
			// here, so that locate's arithmetic (Seqs dense from the
			// first kept) holds; a reader from before it reads the store.
			t.start, t.n = 0, 0
		}
		var sl *tailSlot
		if t.n < len(t.ring) {
			sl = &t.ring[(t.start+t.n)%len(t.ring)]
			t.n++
		} else {
			sl = &t.ring[t.start]
			t.start = (t.start + 1) % len(t.ring)
		}
		sl.ev = evs[i]
		sl.e.Store(nil)
	}
	t.head = evs[len(evs)-1].Seq
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
}

// after returns up to max entries after seq from memory. ok is false when
// memory does not reach back to seq (read the store). wake is closed when
// more entries arrive; stopped is true once the manager stopped.
func (t *eventTail) after(seq uint64, max int) (evs []Event, ok bool, wake <-chan struct{}, stopped bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok, wake, stopped := t.locate(seq)
	if i < 0 {
		return nil, ok, wake, stopped
	}
	evs = make([]Event, 0, min(t.n-i, max))
	for ; i < t.n && len(evs) < max; i++ {
		evs = append(evs, t.ring[(t.start+i)%len(t.ring)].entry().ev)
	}
	return evs, true, wake, false
}

// entriesAfter is after for readers that use the entries themselves
// (shared, not to be modified): it appends them to dst.
func (t *eventTail) entriesAfter(seq uint64, max int, dst []*tailEntry) (ents []*tailEntry, ok bool, wake <-chan struct{}, stopped bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, ok, wake, stopped := t.locate(seq)
	if i < 0 {
		return dst, ok, wake, stopped
	}
	for end := min(t.n, i+max); i < end; i++ {
		dst = append(dst, t.ring[(t.start+i)%len(t.ring)].entry())
	}
	return dst, true, wake, false
}

// locate returns the index (from t.start) of the entry after seq, or -1
// with after's ok, wake and stopped when there is none to hand out.
// Called with t.mu held.
func (t *eventTail) locate(seq uint64) (i int, ok bool, wake <-chan struct{}, stopped bool) {
	if t.closed {
		// The manager stopped: hand out what memory still holds after
		// seq (the last outcomes, read by drain), then say so.
		if !t.ready || seq >= t.head || t.n == 0 || seq+1 < t.ring[t.start].ev.Seq {
			return -1, true, nil, true
		}
	} else if !t.ready {
		return -1, false, t.wake, false
	}
	if seq > t.head {
		// Past the head of the log the tail follows: a reader that read
		// the store ahead of the tail, or one from before the log started
		// again below it (the store lost its data). Memory cannot say
		// which: the store can (a truncated page, and the reader resets);
		// a reader that is only ahead waits for the tail after that read.
		return -1, false, t.wake, false
	}
	if seq == t.head {
		return -1, true, t.wake, false
	}
	if t.n == 0 {
		return -1, false, t.wake, false
	}
	first := t.ring[t.start].ev.Seq
	if seq+1 < first {
		return -1, false, t.wake, false
	}
	return int(seq + 1 - first), true, t.wake, false
}

// followed reports whether the tail has been followed: its memory serves
// readers while the manager runs and, after it stopped, to its end.
func (t *eventTail) followed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ready
}

// drain reads the log to its head once more, after the loop stopped and
// before close: the outcomes the completer wrote last are then in memory,
// and readers deliver them before they learn that the manager stopped.
func (t *eventTail) drain(ctx context.Context) {
	for range 100 { // bounded: at most 100 pages of 1000 entries
		t.mu.Lock()
		ready, head := t.ready, t.head
		t.mu.Unlock()
		if !ready || ctx.Err() != nil {
			return
		}
		page, err := t.m.store.ReadLog(ctx, head, 1000, 0)
		if err != nil || len(page.Events) == 0 {
			return
		}
		t.append(page.Events, page.Truncated)
	}
}

// running reports whether the tail is being followed (the manager runs).
func (t *eventTail) running() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ready && !t.closed
}

// close wakes every reader for the last time: the manager stopped.
func (t *eventTail) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.wake)
	}
}

// wakeChan returns the channel closed at the next append, and whether the
// manager stopped.
func (t *eventTail) wakeChan() (<-chan struct{}, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.wake, t.closed
}

// position returns the Seq of the newest entry the tail has read.
func (t *eventTail) position() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head
}

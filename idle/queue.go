package idle

import "time"

// entryState is where an entry is in its life. It is guarded by
// Scheduler.mu.
type entryState uint8

const (
	statePending  entryState = iota // on the pending list
	stateRunnable                   // on the runnable list
	stateExpired                    // its timeout fired; on the expired list
	stateDone                       // running or ran, or cancelled
)

// entry is one requested callback. Its list links, heap index and state
// are guarded by Scheduler.mu; cb, handle and due never change once it is
// queued.
type entry struct {
	handle     Handle
	cb         func(Deadline)
	due        time.Time // when its timeout expires; zero without a timeout
	hidx       int       // 1 + its index in Scheduler.timed; 0 when not there
	state      entryState
	prev, next *entry
	list       *queue
	dl         deadline // handed to cb; embedded to save an allocation
}

// queue is an intrusive doubly linked FIFO of entries, so that cancel and
// timeout remove from the middle in O(1) and the pending list moves to the
// end of the runnable list in O(1).
type queue struct {
	head, tail *entry
	n          int
}

func (q *queue) push(e *entry) {
	e.list, e.prev, e.next = q, q.tail, nil
	if q.tail == nil {
		q.head = e
	} else {
		q.tail.next = e
	}
	q.tail = e
	q.n++
}

// insertByHandle inserts e so that q stays in handle order, which is
// request order: it walks from the tail, so e lands at the end in O(1)
// when it is the newest.
func (q *queue) insertByHandle(e *entry) {
	at := q.tail // e goes after at; nil: at the head
	for at != nil && at.handle > e.handle {
		at = at.prev
	}
	if at == q.tail {
		q.push(e)
		return
	}
	e.list, e.prev = q, at
	if at == nil {
		e.next = q.head
		q.head = e
	} else {
		e.next = at.next
		at.next = e
	}
	e.next.prev = e
	q.n++
}

func (q *queue) pop() *entry {
	e := q.head
	if e != nil {
		q.remove(e)
	}
	return e
}

func (q *queue) remove(e *entry) {
	if e.prev == nil {
		q.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		q.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next, e.list = nil, nil, nil
	q.n--
}

// spliceTo moves every entry of q, in order, to the end of dst and sets
// their state to st.
func (q *queue) spliceTo(dst *queue, st entryState) {
	for e := q.head; e != nil; e = e.next {
		e.list, e.state = dst, st
	}
	if q.head == nil {
		return
	}
	if dst.tail == nil {
		dst.head = q.head
	} else {
		dst.tail.next = q.head
		q.head.prev = dst.tail
	}
	dst.tail = q.tail
	dst.n += q.n
	*q = queue{}
}

// dueHeap is a min-heap of the entries that wait with a timeout,
// by due time, then handle: the scheduler arms one timer, for the earliest.
type dueHeap []*entry

func (h dueHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.handle < b.handle
}

func (h dueHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i+1, j+1
}

// top returns the earliest entry, or nil.
func (h dueHeap) top() *entry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h *dueHeap) push(e *entry) {
	*h = append(*h, e)
	e.hidx = len(*h)
	h.up(len(*h) - 1)
}

// remove takes e, which must be in h, out of it.
func (h *dueHeap) remove(e *entry) {
	i, last := e.hidx-1, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	e.hidx = 0
	if i != last {
		h.down(i)
		h.up(i)
	}
}

// The heap is 4-ary: half the levels of a binary heap, and the children
// a sift-down compares sit side by side in memory.
const heapArity = 4

func (h dueHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / heapArity
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h dueHeap) down(i int) {
	for {
		l := heapArity*i + 1
		if l >= len(h) {
			return
		}
		m := l
		for c := l + 1; c < min(l+heapArity, len(h)); c++ {
			if h.less(c, m) {
				m = c
			}
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

// handleIndex finds queued entries by handle, for Cancel. Handles are
// handed out consecutively and entries mostly leave in about that order,
// so a window of slots indexed by handle-base does nearly all the work,
// without the hashing and tombstones of a map that sees every handle once.
// Entries that outlive a compaction of a mostly empty window (one old
// entry that waits for hours must not pin a window of millions of slots)
// move to a small map.
type handleIndex struct {
	base Handle   // handle of win[head]
	win  []*entry // win[head:] is the window; nil slots left
	head int
	live int               // non-nil slots in the window
	old  map[Handle]*entry // live entries older than base
}

// add indexes e, whose handle must be the next one after the last added.
func (x *handleIndex) add(e *entry) {
	if x.head == len(x.win) {
		x.win, x.head, x.base = x.win[:0], 0, e.handle
	}
	x.win = append(x.win, e)
	x.live++
}

func (x *handleIndex) get(h Handle) *entry {
	if i, ok := x.slot(h); ok {
		return x.win[i]
	}
	return x.old[h]
}

func (x *handleIndex) remove(h Handle) {
	i, ok := x.slot(h)
	if !ok {
		delete(x.old, h)
		return
	}
	if x.win[i] != nil {
		x.win[i] = nil
		x.live--
	}
	for x.head < len(x.win) && x.win[x.head] == nil {
		x.head++
		x.base++
	}
	x.compact()
}

func (x *handleIndex) slot(h Handle) (int, bool) {
	if h < x.base || h-x.base >= Handle(len(x.win)-x.head) {
		return 0, false
	}
	return x.head + int(h-x.base), true
}

// compact keeps the window's memory proportional to what it holds.
func (x *handleIndex) compact() {
	n := len(x.win) - x.head
	switch {
	case n > 1024 && x.live < n/8: // pinned by a few old entries
		if x.old == nil {
			x.old = make(map[Handle]*entry)
		}
		for _, e := range x.win[x.head:] {
			if e != nil {
				x.old[e.handle] = e
			}
		}
		clear(x.win)
		x.base += Handle(n)
		x.win, x.head, x.live = x.win[:0], 0, 0
	case x.head > 64 && x.head > len(x.win)/2: // slide the window down
		copy(x.win, x.win[x.head:])
		clear(x.win[n:])
		x.win, x.head = x.win[:n], 0
	}
}

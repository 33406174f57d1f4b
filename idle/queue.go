package idle

// entryState is where an entry is in its life. It is guarded by
// Scheduler.mu.
type entryState uint8

const (
	statePending  entryState = iota // on the pending list
	stateRunnable                   // on the runnable list
	stateExpired                    // its timeout fired; on the expired list
	stateDone                       // running or ran, or cancelled
)

// entry is one requested callback. Its list links and state are guarded by
// Scheduler.mu; cb, handle and timer never change once it is queued.
type entry struct {
	handle     Handle
	cb         func(Deadline)
	timer      interface{ Stop() bool } // nil without a timeout
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

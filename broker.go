package bgtask

import "sync"

// SubscribeOpts filters and sizes a subscription. The zero value (or nil)
// subscribes to every task's events from now on.
type SubscribeOpts struct {
	// TaskID, if set, delivers only that task's events.
	TaskID string
	// After, if non-zero, first delivers the events with Seq > After that
	// the manager still holds in memory (Config.EventHistory), then live
	// events: a client resumes a stream after the last Seq it saw.
	After uint64
	// Resumed, if set, is called before Subscribe returns when After is
	// set: replayed is how many events will be delivered from memory ahead
	// of live ones, and complete is false when the memory no longer reaches
	// back to After (events were missed: re-read the task with Get).
	Resumed func(replayed int, complete bool)
	// Buffer is the channel's capacity. 0: Config.SubscriberBuffer.
	Buffer int
}

// broker fans events out to subscribers and keeps a ring of recent events.
// All fields are guarded by mu.
type broker struct {
	mu     sync.Mutex
	ring   []Event
	next   int // ring index of the next write
	full   bool
	subs   map[*subscriber]struct{}
	buffer int
	closed bool
}

func newBroker(history, buffer int) *broker {
	return &broker{ring: make([]Event, history), subs: make(map[*subscriber]struct{}), buffer: buffer}
}

// deliver records ev in the ring and hands it to every matching subscriber.
func (b *broker) deliver(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) > 0 {
		b.ring[b.next] = ev
		b.next = (b.next + 1) % len(b.ring)
		b.full = b.full || b.next == 0
	}
	for s := range b.subs {
		if s.taskID == "" || s.taskID == ev.TaskID {
			if !s.push(ev) {
				delete(b.subs, s)
			}
		}
	}
}

// subscribe registers a subscriber and replays the ring after opts.After.
func (b *broker) subscribe(opts SubscribeOpts) (<-chan Event, func()) {
	buf := opts.Buffer
	if buf <= 0 {
		buf = b.buffer
	}
	s := newSubscriber(opts.TaskID, buf)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.close()
		return s.ch, func() {}
	}
	if opts.After > 0 {
		replay, complete := b.since(opts.After, opts.TaskID)
		if opts.Resumed != nil {
			opts.Resumed(len(replay), complete)
		}
		for _, ev := range replay {
			s.push(ev)
		}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
			s.close()
		})
	}
}

// since returns the ring's events with Seq > after (for taskID if set) and
// whether the ring reaches back far enough to hold all of them.
func (b *broker) since(after uint64, taskID string) ([]Event, bool) {
	var out []Event
	n := b.next
	if b.full {
		n = len(b.ring)
	}
	start := 0
	if b.full {
		start = b.next
	}
	complete := !b.full // nothing was ever overwritten
	for i := range n {
		ev := b.ring[(start+i)%len(b.ring)]
		if i == 0 && ev.Seq <= after+1 {
			complete = true
		}
		if ev.Seq > after && (taskID == "" || ev.TaskID == taskID) {
			out = append(out, ev)
		}
	}
	return out, complete
}

// close ends every subscription.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		s.close()
	}
}

// subscriber owns a pump goroutine that moves queued events into ch. The
// queue keeps every terminal and started event; when it grows past its
// limit the oldest updated events are dropped; past a hard limit the
// subscriber is too slow to keep and is closed.
type subscriber struct {
	taskID string
	ch     chan Event

	mu     sync.Mutex
	queue  []Event
	soft   int
	hard   int
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func newSubscriber(taskID string, buffer int) *subscriber {
	s := &subscriber{
		taskID: taskID,
		ch:     make(chan Event, buffer),
		soft:   buffer,
		hard:   64 * buffer,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	go s.pump()
	return s
}

// push queues ev; it returns false when the subscriber was closed for
// falling too far behind. Called with the broker's lock held.
func (s *subscriber) push(ev Event) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, ev)
	if len(s.queue) > s.soft {
		s.dropUpdatedLocked()
	}
	overflow := len(s.queue) > s.hard
	s.mu.Unlock()
	if overflow {
		s.close()
		return false
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// dropUpdatedLocked removes one updated event, preferring one that a later
// event of the same task supersedes (nothing is lost then but an
// intermediate state), else the oldest updated event. Terminal and started
// events are never dropped.
func (s *subscriber) dropUpdatedLocked() {
	later := make(map[string]bool, len(s.queue))
	victim, oldest := -1, -1
	for i := len(s.queue) - 1; i >= 0; i-- {
		ev := s.queue[i]
		if ev.Kind == EventUpdated {
			if later[ev.TaskID] {
				victim = i
				break
			}
			oldest = i
		}
		later[ev.TaskID] = true
	}
	if victim < 0 {
		victim = oldest
	}
	if victim >= 0 {
		s.queue = append(s.queue[:victim], s.queue[victim+1:]...)
	}
}

func (s *subscriber) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.mu.Unlock()
		select {
		case s.ch <- ev:
			s.mu.Lock()
			if len(s.queue) > 0 && s.queue[0].Seq == ev.Seq {
				s.queue = s.queue[1:]
			}
			s.mu.Unlock()
		case <-s.done:
			return
		}
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

package bgtask

import (
	"context"
	"time"
)

// SubscribeOpts filters and positions a subscription. The zero value (or
// nil) follows every task's events from now on.
type SubscribeOpts struct {
	// TaskID, if set, delivers only that task's events (an ID in any form
	// Get accepts).
	TaskID string
	// After, if non-zero, starts after that Seq: a client resumes a stream
	// after the last Seq it saw, and gets what it missed from the store's
	// event log (across server restarts too), or an EventReset (its Seq
	// the log's head, from where the reader goes on) when the log no
	// longer reaches back that far or After is past its head (a Seq of
	// another or a wiped store; math.MaxUint64 always is). Any value is
	// accepted: there is no invalid position. 0 (the default): from now.
	After uint64
	// Buffer is Subscribe's channel capacity. 0: Config.SubscriberBuffer;
	// values above MaxSubscriberBuffer mean MaxSubscriberBuffer.
	Buffer int
}

// readBatch caps the events one EventReader.Next returns.
const readBatch = 256

// EventReader reads the event log from a position, at its own pace: a
// reader that stops reading costs the manager and other readers nothing,
// and when it resumes it reads what it missed from memory or from the
// store. It never loses a terminal event silently: if the store's window
// has moved past its position, it returns an EventReset first. An updated
// event of a task may be skipped when a later updated event of the same
// task comes in the same batch. An EventReader is for one goroutine.
type EventReader struct {
	m      *Manager
	taskID string
	cursor uint64
	// checked is false until the position has been checked against the
	// store (a resumed position may be older than the window, or bogus).
	checked bool
	// ents and keep are appendFrames' scratch space.
	ents []*tailEntry
	keep []bool
}

// Follow returns a reader positioned as opts says (nil: all tasks, from
// now on). It fails only when the store cannot tell the log's head.
func (m *Manager) Follow(ctx context.Context, opts *SubscribeOpts) (*EventReader, error) {
	var o SubscribeOpts
	if opts != nil {
		o = *opts
	}
	r := &EventReader{m: m, cursor: o.After}
	if o.TaskID != "" {
		r.taskID = canonicalID(o.TaskID)
	}
	if o.After == 0 {
		page, err := m.store.ReadLog(ctx, 0, 1, 0)
		if err != nil {
			return nil, err
		}
		r.cursor, r.checked = page.Head, true
	}
	return r, nil
}

// Pos returns the Seq of the last log entry the reader has passed.
func (r *EventReader) Pos() uint64 { return r.cursor }

// Next returns the next events, waiting until there is at least one or ctx
// ends (then it returns ctx's error). It returns ErrStopped once the
// manager has stopped.
func (r *EventReader) Next(ctx context.Context) ([]Event, error) {
	for range 1_000_000 { // bounded: each round reads or waits
		evs, wake, err := r.read(ctx)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		if wake == nil {
			continue // read from the store, which waited already
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, ctx.Err()
}

// read returns filtered events, or none and a channel to wait on (nil:
// read again at once).
func (r *EventReader) read(ctx context.Context) ([]Event, <-chan struct{}, error) {
	t := r.m.tail
	if r.checked && t.followed() {
		raw, ok, wake, stopped := t.after(r.cursor, readBatch)
		// Stopped: memory has nothing more after the cursor, but it
		// may not reach back to it (its ring restarted); the store is
		// read once more below, and says ErrStopped when nothing is left.
		if ok && !stopped {
			if len(raw) == 0 {
				return nil, wake, nil // caught up: wait for the tail
			}
			// More may follow raw in the tail's memory: if take
			// filters all of raw out, read again at once, not wait.
			return r.take(raw), nil, nil
		}
	}
	wait := time.Duration(0)
	if !t.running() {
		wait = tailWait // no tail to wake us: let the store wait
	}
	return r.fromStore(ctx, wait)
}

// fromStore reads the log after the reader's position from the store,
// waiting up to wait for an entry. Once the manager stopped it reads the
// log once more without waiting and returns ErrStopped only when nothing
// is left after the reader's position: a reader that had not yet been
// checked against the log (it was made before the tail's first read
// answered), or whose tail was never followed, must still deliver the
// outcomes written at Stop before it learns that the manager stopped.
func (r *EventReader) fromStore(ctx context.Context, wait time.Duration) ([]Event, <-chan struct{}, error) {
	t := r.m.tail
	wake, stopped := t.wakeChan()
	if stopped {
		wait = 0
	}
	page, err := r.m.store.ReadLog(ctx, r.cursor, 1000, wait)
	if err != nil {
		if stopped {
			return nil, nil, ErrStopped // (the store may be closed by now)
		}
		return nil, nil, err
	}
	r.checked = true
	if page.Truncated {
		// Go on from the head: the reset tells the reader to re-read the
		// state, which covers everything up to now. Replaying the window
		// from its start instead would deliver events older than that
		// state (a task stream would end on an earlier attempt's terminal
		// event, a retried task's stream would report the old outcome).
		r.cursor = page.Head
		return []Event{{Kind: EventReset, Seq: r.cursor, TaskID: r.taskID, Time: r.m.clock.Now()}}, nil, nil
	}
	raw := make([]Event, len(page.Events))
	for i := range page.Events {
		raw[i] = eventOf(&page.Events[i])
		raw[i].enc = new(encoded)
	}
	evs := r.take(raw)
	if stopped && len(raw) == 0 {
		return nil, nil, ErrStopped
	}
	if len(evs) == 0 && len(raw) == 0 && t.running() {
		return nil, wake, nil // the tail wakes us when it reads more
	}
	return evs, nil, nil
}

// take advances past raw and returns the events the reader delivers: task
// events (not messages between servers), of its task if it has one, an
// updated event only when no later updated event of the same task follows
// in raw.
func (r *EventReader) take(raw []Event) []Event {
	if len(raw) == 0 {
		return nil
	}
	r.cursor = raw[len(raw)-1].Seq
	var later map[string]bool // tasks with an updated event later in raw
	keep := make([]bool, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		ev := &raw[i]
		if !publicKind(ev.Kind) || (r.taskID != "" && ev.TaskID != r.taskID) {
			continue
		}
		if ev.Kind == EventUpdated {
			if later[ev.TaskID] {
				continue // a later update of the same task supersedes it
			}
			if later == nil {
				later = make(map[string]bool)
			}
			later[ev.TaskID] = true
		}
		keep[i] = true
	}
	out := raw[:0] // filtered in place
	for i, k := range keep {
		if k {
			out = append(out, raw[i])
		}
	}
	return out
}

func publicKind(k EventKind) bool {
	switch k {
	case EventStarted, EventUpdated, EventDone, EventFailed, EventCancelled, EventPartialSuccess:
		return true
	}
	return false
}

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel. A subscriber reads at its own pace
// from the store's event log: one that stops reading costs the manager
// nothing and, when it reads again, gets what it missed (an EventReset if
// the store's window moved past it). Stop closes every subscription.
func (m *Manager) Subscribe(opts *SubscribeOpts) (<-chan Event, func()) {
	var o SubscribeOpts
	if opts != nil {
		o = *opts
	}
	buf := o.Buffer
	if buf <= 0 {
		buf = m.cfg.SubscriberBuffer
	}
	ch := make(chan Event, min(buf, MaxSubscriberBuffer))
	ctx, cancel := context.WithCancel(context.Background())
	sctx, scancel := m.storeCtx()
	r, err := m.Follow(sctx, &o)
	scancel()
	if err != nil {
		m.logger.Warn("cannot read the event log's head; the subscription starts at the tail's position", "err", err)
		r = &EventReader{m: m, taskID: o.TaskID, cursor: m.tail.position()}
	}
	go func() {
		defer close(ch)
		for {
			evs, err := r.Next(ctx)
			if err != nil {
				return
			}
			for _, ev := range evs {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, cancel
}

package boltstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
)

// Publish sends m to every current subscriber of this process (the store
// is single-process) and returns its sequence number. It never blocks on
// a slow subscriber.
func (s *Store) Publish(ctx context.Context, m store.Message) (uint64, error) {
	if err := checkCtx(ctx); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	return s.pubsub.publish(m), nil
}

// Subscribe returns a channel of the messages published after it returns
// and a function that ends the subscription and closes the channel. The
// subscription also ends when ctx is done or the store is closed. A
// subscriber whose buffer (Config.SubscriberBuffer) is full loses lossy
// messages; the others wait in an unbounded overflow queue, in order.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.Message, func()) {
	sub := s.pubsub.subscribe()
	if ctx != nil && ctx.Done() != nil {
		stopWatch := context.AfterFunc(ctx, sub.stop)
		return sub.ch, func() {
			stopWatch()
			sub.stop()
		}
	}
	return sub.ch, sub.stop
}

// pubsub delivers messages in process.
//
// Sequence numbers start at the Unix time in microseconds at open (or one
// past the last number stored by a clean Close, if larger) and increase by
// one per message. They keep increasing across restarts as long as the
// store publishes fewer than a million messages per second on average over
// its lifetime, since then the last number stays below the wall clock in
// microseconds, and the next open starts from the wall clock; a clean
// Close also stores the last number, which covers a clock that went back.
type pubsub struct {
	mu     sync.Mutex // serializes publish: seq order is delivery order
	seq    uint64
	subs   map[*subscriber]struct{}
	buffer int
	log    *slog.Logger
	closed bool
}

func (p *pubsub) init(lastSeq uint64, buffer int, log *slog.Logger) {
	p.seq = max(uint64(time.Now().UnixMicro()), lastSeq+1) - 1
	p.subs = make(map[*subscriber]struct{})
	p.buffer = buffer
	p.log = log
}

func (p *pubsub) lastSeq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

func (p *pubsub) publish(m store.Message) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	m.Seq = p.seq
	for s := range p.subs {
		s.deliver(m)
	}
	return m.Seq
}

func (p *pubsub) subscribe() *subscriber {
	s := &subscriber{ch: make(chan store.Message, p.buffer), done: make(chan struct{}), p: p}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		s.stopped = true
		close(s.ch)
		return s
	}
	p.subs[s] = struct{}{}
	return s
}

func (p *pubsub) close() {
	p.mu.Lock()
	subs := p.subs
	p.subs = map[*subscriber]struct{}{}
	p.closed = true
	p.mu.Unlock()
	for s := range subs {
		s.stop()
	}
}

// subscriber is one subscription. Publishers send without blocking; when
// the channel is full, non-lossy messages go to overflow and a pump
// goroutine (running only while overflow is not empty) feeds them into
// the channel in order. Once overflow is not empty every later message
// queues behind it (lossy ones are dropped), which keeps publish order.
type subscriber struct {
	ch   chan store.Message
	done chan struct{} // closed by stop
	p    *pubsub

	mu       sync.Mutex
	overflow []store.Message
	pumping  bool
	stopped  bool
	pumpDone sync.WaitGroup
	stopOnce sync.Once
	dropped  int
}

func (s *subscriber) deliver(m store.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if len(s.overflow) == 0 {
		select {
		case s.ch <- m:
			return
		default:
		}
	}
	if m.Lossy {
		s.dropped++
		return
	}
	s.overflow = append(s.overflow, m)
	if len(s.overflow)%10000 == 0 {
		s.p.log.Warn("boltstore: slow subscriber", "queued_messages", len(s.overflow))
	}
	if !s.pumping {
		s.pumping = true
		s.pumpDone.Add(1)
		go s.pump()
	}
}

// pump moves overflow into the channel, blocking on the channel, until
// overflow is empty or the subscription stops.
func (s *subscriber) pump() {
	defer s.pumpDone.Done()
	for {
		s.mu.Lock()
		if len(s.overflow) == 0 || s.stopped {
			s.pumping = false
			s.mu.Unlock()
			return
		}
		m := s.overflow[0]
		s.mu.Unlock()
		select {
		case s.ch <- m:
		case <-s.done:
			s.mu.Lock()
			s.pumping = false
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		if s.stopped { // stop dropped the overflow meanwhile
			s.pumping = false
			s.mu.Unlock()
			return
		}
		s.overflow[0] = store.Message{}
		s.overflow = s.overflow[1:]
		if len(s.overflow) == 0 {
			s.overflow = nil
		}
		s.mu.Unlock()
	}
}

func (s *subscriber) stop() {
	s.stopOnce.Do(func() {
		s.p.mu.Lock()
		delete(s.p.subs, s)
		s.p.mu.Unlock()
		s.mu.Lock()
		if s.stopped { // subscribed after close
			s.mu.Unlock()
			return
		}
		s.stopped = true
		s.overflow = nil
		s.mu.Unlock()
		close(s.done)
		s.pumpDone.Wait()
		close(s.ch)
	})
}

package idle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// DefaultMaxPeriod is the longest idle period, and the budget of each
// callback in fallback mode, when Config.MaxPeriod is 0. It is the 50 ms of
// requestIdleCallback: short enough that a user cannot tell the difference
// when foreground work that arrives during a period waits for it to end.
const DefaultMaxPeriod = 50 * time.Millisecond

// Handle identifies a requested callback. Handles start at 1 and strictly
// increase per Scheduler; 0 is never a valid handle.
type Handle uint64

// RequestOpts are the options of one Request. A nil *RequestOpts means the
// zero value.
type RequestOpts struct {
	// Timeout, if positive, guarantees that the callback runs: if no idle
	// period has run it Timeout after the request, it is taken off the
	// lists and run as soon as the running callback returns — before any
	// runnable callback, busy or not, and after the callbacks requested
	// before it whose timeouts have expired too — with DidTimeout true and
	// TimeRemaining 0. 0: no timeout; the callback waits for an idle period
	// however long that takes.
	Timeout time.Duration
}

// Config configures a Scheduler. The zero value is valid: real clock, no
// load sources (fallback mode), 50 ms periods, panics logged.
type Config struct {
	// MaxPeriod is the longest idle period. 0: DefaultMaxPeriod.
	MaxPeriod time.Duration
	// Clock tells the time and runs timeouts. nil: clock.Real.
	Clock clock.Clock
	// Sources say when the process is busy. nil or empty: fallback mode
	// (requestIdleCallback's setTimeout shim) — the process counts as always
	// idle and every callback gets its own fixed MaxPeriod budget, one
	// callback per period.
	Sources []LoadSource
	// PanicHandler is called, on the scheduler's goroutine, with the value
	// and stack of a callback that panicked; the scheduler then carries on
	// with the next callback. nil: log at error level to Logger, or to
	// slog.Default() when Logger is nil, so that a panic is never silent.
	PanicHandler func(h Handle, value any, stack []byte)
	// Logger receives the scheduler's own diagnostics. nil: discard them,
	// except the two that must not be silent — a panic (see PanicHandler)
	// and a LowPriority thread whose priority cannot be lowered — which
	// then go to slog.Default().
	Logger *slog.Logger
	// LowPriority runs callbacks on a dedicated OS thread whose scheduling
	// policy is SCHED_IDLE, so that the kernel itself gives the CPU to
	// foreground threads first, even when a callback is slow to check its
	// deadline. Linux only: if SCHED_IDLE is refused, nice 19 is tried.
	// When neither works, and on other systems, a warning is logged and
	// the callbacks run at ordinary priority on their dedicated thread.
	// Work a callback hands to other goroutines does not inherit the
	// policy. The thread holds a P while its callback runs, even when the
	// kernel does not run it: raise GOMAXPROCS accordingly (the package
	// doc says by how much). See docs/idle.md for when this pays off.
	// false: callbacks run on an ordinary goroutine.
	LowPriority bool
}

func (c *Config) validate() error {
	if c.MaxPeriod < 0 {
		return errors.New("idle: Config.MaxPeriod must not be negative")
	}
	for i, src := range c.Sources {
		if src == nil {
			return fmt.Errorf("idle: Config.Sources[%d] is nil", i)
		}
	}
	return nil
}

// Stats are a Scheduler's counters since New.
type Stats struct {
	Requested uint64 // Request calls that queued a callback
	Ran       uint64 // callbacks run in idle periods
	TimedOut  uint64 // callbacks run because their timeout expired
	Cancelled uint64 // callbacks removed by Cancel
	Panicked  uint64 // callbacks that panicked (counted in Ran or TimedOut too)
	Periods   uint64 // idle periods started
	// CallbackTime is the wall time spent in callbacks. Callbacks run one at
	// a time, so it approximates the CPU time the idle work used when it is
	// CPU-bound; the CPU source subtracts it from the process's use.
	CallbackTime time.Duration
	Queued       int  // callbacks waiting now (pending, runnable or timed out)
	Running      bool // a callback is running now
}

// Scheduler runs callbacks in the idle periods of the process, one at a
// time, with the processing model of requestIdleCallback (see the package
// documentation). It is safe for concurrent use.
type Scheduler struct {
	// Immutable after New.
	clock       clock.Clock
	maxPeriod   time.Duration
	sources     []LoadSource
	fallback    bool
	onPanic     func(Handle, any, []byte)
	logger      *slog.Logger
	loud        *slog.Logger // Logger, or slog.Default() for what must not be silent
	lowPriority bool

	wake *waker // a token means "look again"

	mu       sync.Mutex // guards the fields below and every entry's links and state
	last     Handle
	pending  queue // requested, waiting for the next idle period
	runnable queue // moved at the start of a period; run FIFO
	expired  queue // timeout expired; run, in handle order, before anything runnable
	byHandle handleIndex
	timed    dueHeap     // the pending and runnable entries with a timeout
	timer    clock.Timer // fires at armedAt, for timed.top(); nil until first needed
	armedAt  time.Time   // zero when the timer is not armed
	waiting  bool        // the goroutine found no work and waits for a poke

	// Counters, updated atomically.
	requested, ran, timedOut, cancelled, panicked, periods atomic.Uint64

	cbMu      sync.Mutex // guards the callback timing below
	cbTotal   time.Duration
	cbStarted time.Time // start of the running callback; zero if none

	runMu sync.Mutex // guards run
	run   *run       // the running goroutine's state; nil when stopped
}

// New returns a stopped Scheduler. Requests may be made before Start; they
// run once it is started.
func New(cfg *Config) (*Scheduler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Scheduler{
		clock:       clock.OrReal(cfg.Clock),
		maxPeriod:   cfg.MaxPeriod,
		sources:     append([]LoadSource(nil), cfg.Sources...),
		onPanic:     cfg.PanicHandler,
		logger:      cfg.Logger,
		lowPriority: cfg.LowPriority,
		wake:        newWaker(cfg.LowPriority),
	}
	if s.maxPeriod == 0 {
		s.maxPeriod = DefaultMaxPeriod
	}
	s.fallback = len(s.sources) == 0
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	s.loud = l
	if s.onPanic == nil {
		s.onPanic = func(h Handle, v any, stack []byte) {
			l.Error("idle: callback panicked", "handle", uint64(h), "panic", v, "stack", string(stack))
		}
	}
	for _, src := range s.sources {
		if a, ok := src.(callbackTimeAware); ok {
			a.excludeCallbackTime(s.CallbackTime)
		}
	}
	return s, nil
}

// callbackTimeAware is implemented by sources that measure the process's
// CPU use and must not count the idle work itself as foreground load.
type callbackTimeAware interface {
	excludeCallbackTime(func() time.Duration)
}

// Request queues cb to run in a later idle period and returns its handle.
// A nil cb queues nothing and returns 0.
func (s *Scheduler) Request(cb func(Deadline), opts *RequestOpts) Handle {
	if cb == nil {
		return 0
	}
	e := &entry{cb: cb}
	var now time.Time
	if opts != nil && opts.Timeout > 0 {
		now = s.clock.Now()
		e.due = now.Add(opts.Timeout)
	}
	s.mu.Lock()
	s.last++
	e.handle = s.last
	s.pending.push(e) // state is statePending
	s.byHandle.add(e)
	if !e.due.IsZero() {
		s.timed.push(e)
		if s.timed.top() == e {
			s.armLocked(now)
		}
	}
	wake := s.waiting
	s.waiting = false
	s.mu.Unlock()
	s.requested.Add(1)
	if wake {
		s.poke()
	}
	return e.handle
}

// Cancel removes the callback h from the lists and defuses its timeout. It
// does nothing if h is unknown, already ran, is running (a callback may
// cancel itself) or was cancelled.
func (s *Scheduler) Cancel(h Handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byHandle.get(h)
	if e == nil {
		return
	}
	e.list.remove(e)
	s.takeLocked(e)
	s.cancelled.Add(1)
}

// CallbackTime returns the wall time spent in callbacks so far, including
// the running one.
func (s *Scheduler) CallbackTime() time.Duration {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	if s.cbStarted.IsZero() {
		return s.cbTotal
	}
	return s.cbTotal + s.clock.Now().Sub(s.cbStarted)
}

// running reports whether a callback is running.
func (s *Scheduler) running() bool {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	return !s.cbStarted.IsZero()
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	queued := s.pending.n + s.runnable.n + s.expired.n
	s.mu.Unlock()
	return Stats{
		Requested:    s.requested.Load(),
		Ran:          s.ran.Load(),
		TimedOut:     s.timedOut.Load(),
		Cancelled:    s.cancelled.Load(),
		Panicked:     s.panicked.Load(),
		Periods:      s.periods.Load(),
		CallbackTime: s.CallbackTime(),
		Queued:       queued,
		Running:      s.running(),
	}
}

// takeLocked marks e as no longer queued: it is about to run or was
// cancelled. e must already be off its list.
func (s *Scheduler) takeLocked(e *entry) {
	e.state = stateDone
	s.byHandle.remove(e.handle)
	if e.hidx != 0 {
		s.timed.remove(e)
		if len(s.timed) == 0 && !s.armedAt.IsZero() {
			s.timer.Stop()
			s.armedAt = time.Time{}
		}
	}
}

// Timeouts. One timer serves every entry with a timeout: it is armed for
// the earliest due time (timed.top()). When it fires, and whenever the
// goroutine is about to pick a callback, every entry that is due by then
// moves from the pending or runnable list to the expired list, which is
// kept in handle order. So the callbacks whose timeouts have expired run
// in request order, whatever order their timeouts expired in and however
// late the timer's goroutine is; and a timed-out callback and its idle
// run, which both change its state under mu, never both happen.

// armLocked arms the timer for timed.top(), which must not be due at now,
// unless it is armed for that time already.
func (s *Scheduler) armLocked(now time.Time) {
	at := s.timed.top().due
	if at.Equal(s.armedAt) {
		return
	}
	if s.timer == nil {
		s.timer = s.clock.AfterFunc(at.Sub(now), s.fireTimeouts)
	} else {
		s.timer.Reset(at.Sub(now))
	}
	s.armedAt = at
}

// expireDueLocked moves every entry due at now to the expired list, re-arms
// or stops the timer, and reports whether it moved any.
func (s *Scheduler) expireDueLocked(now time.Time) bool {
	moved := false
	for e := s.timed.top(); e != nil && !e.due.After(now); e = s.timed.top() {
		s.timed.remove(e)
		e.list.remove(e)
		e.state = stateExpired
		s.expired.insertByHandle(e)
		moved = true
	}
	switch {
	case len(s.timed) > 0:
		s.armLocked(now)
	case !s.armedAt.IsZero():
		s.timer.Stop()
		s.armedAt = time.Time{}
	}
	return moved
}

// fireTimeouts is the timer's function.
func (s *Scheduler) fireTimeouts() {
	now := s.clock.Now()
	s.mu.Lock()
	if !s.armedAt.After(now) {
		s.armedAt = time.Time{} // this firing; re-armed below if entries remain
	} // else re-armed meanwhile for a later time: it stays armed
	moved := s.expireDueLocked(now)
	s.mu.Unlock()
	if moved {
		s.poke()
	}
}

// poke wakes the scheduler's goroutine if it waits.
func (s *Scheduler) poke() { s.wake.poke() }

// busy reports whether any source is busy now.
func (s *Scheduler) busy() bool {
	for _, src := range s.sources {
		if src.Busy() {
			return true
		}
	}
	return false
}

// Start starts the scheduler's goroutine. Calling it on a started
// Scheduler does nothing; calling it while a stopping one still runs a
// callback returns an error (call Stop, which waits for it, first).
//
// Cancelling ctx is a hard stop, obeyed at once: no callback starts after
// ctx ends — not one already runnable, not one whose timeout expired, not
// one a callback requested just after the cancel — and the running
// callback's TimeRemaining drops to 0; the goroutine exits when that
// callback returns. Callbacks left queued stay queued for a later Start.
// Call Stop anyway to release the sources' watchers.
func (s *Scheduler) Start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.run != nil {
		select {
		case <-s.run.done: // stopped by its context: clean up and start again
			s.cleanupLocked()
		default:
			if s.run.stopped() { // its goroutine exits after the running callback
				return errors.New("idle: Start while the scheduler is stopping (Stop called or Start's context ended) and a callback still runs")
			}
			return nil
		}
	}
	r := &run{done: make(chan struct{}), ctxDone: ctx.Done()}
	r.unctx = context.AfterFunc(ctx, func() { s.halt(r) })
	for _, src := range s.sources {
		r.unwatch = append(r.unwatch, src.Watch(s.poke))
	}
	s.run = r
	go s.loop(r)
	s.logger.Debug("idle: scheduler started", "sources", len(s.sources), "max_period", s.maxPeriod)
	return nil
}

// Stop stops the scheduler's goroutine and waits, until ctx ends, for the
// running callback to return; that callback's TimeRemaining drops to 0 at
// once, so that a cooperative one returns promptly, and no callback starts
// after Stop is called. Queued callbacks stay queued (their timeouts keep
// running) and run after the next Start. Stop is safe to call twice
// and on a Scheduler that never started; it returns ctx.Err() if ctx ended
// first.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.runMu.Lock()
	r := s.run
	s.runMu.Unlock()
	if r == nil {
		return nil
	}
	s.halt(r)
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.runMu.Lock()
	if s.run == r {
		s.cleanupLocked()
		s.logger.Debug("idle: scheduler stopped")
	}
	s.runMu.Unlock()
	return nil
}

func (s *Scheduler) halt(r *run) {
	r.halt.Store(true)
	s.poke()
}

func (s *Scheduler) cleanupLocked() {
	s.run.unctx()
	for _, stop := range s.run.unwatch {
		stop()
	}
	s.run = nil
}

// run is one life of the scheduler's goroutine, from Start to Stop.
type run struct {
	halt    atomic.Bool     // set by Stop or by Start's context: exit
	ctxDone <-chan struct{} // Start's context's Done
	done    chan struct{}   // closed when the goroutine has exited
	unctx   func() bool     // unregisters the context's AfterFunc
	unwatch []func()        // unregister the sources' watchers
}

// stopped reports whether the goroutine must run nothing more: Stop was
// called or Start's context ended. The context is read here directly, not
// only through its AfterFunc (which runs on a goroutine of its own, later),
// so that a cancel is obeyed at once — also one made by a callback just
// before it requests another.
func (r *run) stopped() bool {
	if r.halt.Load() {
		return true
	}
	select {
	case <-r.ctxDone:
		return true
	default:
		return false
	}
}

// loop is the scheduler's goroutine: it waits for idleness, runs idle
// periods and runs timed-out callbacks as they come.
func (s *Scheduler) loop(r *run) {
	defer close(r.done)
	if s.lowPriority {
		// Never unlocked: when this goroutine exits its thread exits too,
		// so a SCHED_IDLE thread never goes back to the runtime's pool.
		runtime.LockOSThread()
		if err := lowerThreadPriority(); err != nil {
			s.loud.Warn("idle: cannot lower the callback thread's priority; callbacks run at ordinary priority", "error", err)
		}
	}
	for s.waitIdle(r) {
		s.runPeriod(r)
	}
}

// waitIdle runs timed-out callbacks as they come and returns true when an
// idle period can start — callbacks wait and no source is busy — or false
// when the scheduler stops.
func (s *Scheduler) waitIdle(r *run) bool {
	for !r.stopped() {
		if s.runExpired(r) {
			continue
		}
		s.mu.Lock()
		work := s.pending.n+s.runnable.n > 0
		s.waiting = !work
		s.mu.Unlock()
		if work && !s.busy() {
			return true
		}
		s.wake.wait() // Request, a timeout, a source or halt pokes
	}
	return false
}

// runPeriod runs one idle period: the pending list moves to the end of the
// runnable list, then runnable callbacks run FIFO while time remains;
// timed-out callbacks overtake them. Leftovers carry over.
func (s *Scheduler) runPeriod(r *run) {
	start := s.clock.Now()
	end := s.periodEnd(start)
	s.periods.Add(1)
	s.mu.Lock()
	s.pending.spliceTo(&s.runnable, stateRunnable)
	s.mu.Unlock()
	now := start
	for !r.stopped() {
		if s.runExpired(r) {
			now = s.clock.Now()
			continue
		}
		s.mu.Lock()
		if s.runnable.n == 0 || s.remainingAt(now, start, end) <= 0 {
			s.mu.Unlock()
			return
		}
		e := s.runnable.pop()
		s.takeLocked(e)
		s.mu.Unlock()
		now = s.invoke(e, deadline{s: s, r: r, start: start, end: end}, now)
		s.ran.Add(1)
		if s.fallback {
			return // the shim: one callback, one fixed budget
		}
	}
}

// runExpired runs the first-requested callback whose timeout has expired,
// if any, and reports whether it did.
func (s *Scheduler) runExpired(r *run) bool {
	s.mu.Lock()
	if len(s.timed) > 0 {
		s.expireDueLocked(s.clock.Now()) // the timer's goroutine may be late
	}
	e := s.expired.pop()
	if e == nil {
		s.mu.Unlock()
		return false
	}
	s.takeLocked(e)
	s.mu.Unlock()
	s.invoke(e, deadline{s: s, r: r, timedOut: true}, s.clock.Now())
	s.timedOut.Add(1)
	return true
}

// invoke calls e's callback with dl, recovering and reporting a panic. now
// is the time it starts; it returns the time it ended.
func (s *Scheduler) invoke(e *entry, dl deadline, now time.Time) (end time.Time) {
	e.dl = dl
	s.cbMu.Lock()
	s.cbStarted = now
	s.cbMu.Unlock()
	defer func() {
		end = s.clock.Now()
		s.cbMu.Lock()
		s.cbTotal += end.Sub(s.cbStarted)
		s.cbStarted = time.Time{}
		s.cbMu.Unlock()
		if v := recover(); v != nil {
			s.panicked.Add(1)
			s.onPanic(e.handle, v, debug.Stack())
		}
	}()
	e.cb(&e.dl)
	return end
}

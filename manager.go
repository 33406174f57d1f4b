package bgtask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/invisible"
	"github.com/bgtask/bgtask/store"
)

// Defaults of Config fields left at their zero value.
const (
	DefaultMaxWorkers        = 100
	DefaultTaskTimeout       = time.Hour
	DefaultTimeoutGrace      = 5 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultStaleAfter        = 30 * time.Second
	DefaultRetention         = 24 * time.Hour
	DefaultJanitorInterval   = time.Minute
	DefaultProgressInterval  = 100 * time.Millisecond
	DefaultEventHistory      = 16384
	DefaultSubscriberBuffer  = 256
	DefaultStoreTimeout      = 10 * time.Second
)

// Upper bounds of Config's sizes: NewManager refuses a larger value, since
// each sizes memory or work (a run is a
// goroutine, the history a ring of this many entries, a subscription a
// channel of this many events).
const (
	MaxMaxWorkers       = 100_000 // Config.MaxWorkers and Config.Idle.MaxTasks
	MaxEventHistory     = 1 << 20 // Config.EventHistory: 1,048,576 entries
	MaxSubscriberBuffer = 1 << 16 // Config.SubscriberBuffer and SubscribeOpts.Buffer: 65,536 events
)

// Config configures a Manager. Only Registry and Store are required; every
// other zero value means the documented default.
type Config struct {
	// Registry holds the definitions this server can run. Required.
	Registry *Registry
	// Store keeps the task records and the event log. Required. The
	// manager does not close it.
	Store store.Store
	// ServerID names this server in records (owner), in GET /v1/servers
	// and in logs: 1 to MaxServerIDLen bytes of UTF-8 without spaces,
	// control or invisible characters (CheckServerID). Default: "<hostname>-<random>".
	// A fixed ID is fine: each start is a new incarnation, and records the
	// server held in an earlier life are recovered at start.
	ServerID string
	// Tags are this server's tags: a task whose definition has tags is
	// claimed only by servers sharing one of them.
	Tags []string

	// MaxWorkers bounds the normal-priority tasks this server runs at once;
	// tasks beyond it wait, ONGOING with progress 0. Default
	// DefaultMaxWorkers; at most MaxMaxWorkers.
	MaxWorkers int
	// DefaultTimeout bounds a run whose definition and submission set no
	// timeout. Default DefaultTaskTimeout.
	DefaultTimeout time.Duration
	// TimeoutGrace is how long a run may take to return after its context
	// was cancelled (timeout, cancel, shutdown, lost lease) before the
	// manager gives up on it and records the outcome anyway. Stop returns
	// at most this long after its context ends. Default
	// DefaultTimeoutGrace.
	TimeoutGrace time.Duration
	// HeartbeatInterval is how often running tasks' leases are renewed,
	// orphans are looked for and this server's announcement is renewed:
	// at least MinHeartbeatInterval. Default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// StaleAfter is the lease age (by the store's clock) after which a task
	// is an orphan that another server takes over. A server that has not
	// renewed a run's lease for StaleAfter - HeartbeatInterval stops that
	// run and writes nothing more for it. At least MinStaleAfterBeats
	// times HeartbeatInterval (CheckLeaseTiming). Default
	// DefaultStaleAfter.
	StaleAfter time.Duration
	// Retention is how long finished records are kept. Default
	// DefaultRetention.
	Retention time.Duration
	// JanitorInterval is how often expired records are deleted. Default
	// DefaultJanitorInterval.
	JanitorInterval time.Duration
	// ProgressInterval is the minimum gap between two progress writes (and
	// updated events) of one task. Default DefaultProgressInterval.
	ProgressInterval time.Duration
	// EventHistory is how many of the newest log entries the manager keeps
	// in memory for its subscribers; older ones are read from the store.
	// Default DefaultEventHistory; at most MaxEventHistory.
	EventHistory int
	// SubscriberBuffer is the default channel capacity of Subscribe.
	// Default DefaultSubscriberBuffer; at most MaxSubscriberBuffer.
	SubscriberBuffer int
	// StoreTimeout bounds each store call the manager makes on its own
	// behalf (claims, renewals, outcome writes; failed writes of outcomes
	// are retried). Default DefaultStoreTimeout.
	StoreTimeout time.Duration

	// Hooks run around every attempt, Before in order and After in reverse
	// order.
	Hooks []Hook
	// Idle configures the scheduling of idle-priority tasks.
	Idle IdleConfig
	// Logger receives the manager's logs. Default: discard.
	Logger *slog.Logger
	// Clock is the time source of timers and intervals. Default
	// clock.Real. Lease ages are judged by the store's clock.
	Clock clock.Clock
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	switch {
	case cfg.Registry == nil:
		return cfg, errors.New("bgtask: Config.Registry is required")
	case cfg.Store == nil:
		return cfg, errors.New("bgtask: Config.Store is required")
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DefaultTimeout", &cfg.DefaultTimeout, DefaultTaskTimeout},
		{"TimeoutGrace", &cfg.TimeoutGrace, DefaultTimeoutGrace},
		{"HeartbeatInterval", &cfg.HeartbeatInterval, DefaultHeartbeatInterval},
		{"StaleAfter", &cfg.StaleAfter, DefaultStaleAfter},
		{"Retention", &cfg.Retention, DefaultRetention},
		{"JanitorInterval", &cfg.JanitorInterval, DefaultJanitorInterval},
		{"ProgressInterval", &cfg.ProgressInterval, DefaultProgressInterval},
		{"StoreTimeout", &cfg.StoreTimeout, DefaultStoreTimeout},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("bgtask: Config.%s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name     string
		v        *int
		def, max int
	}{
		{"MaxWorkers", &cfg.MaxWorkers, DefaultMaxWorkers, MaxMaxWorkers},
		{"EventHistory", &cfg.EventHistory, DefaultEventHistory, MaxEventHistory},
		{"SubscriberBuffer", &cfg.SubscriberBuffer, DefaultSubscriberBuffer, MaxSubscriberBuffer},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("bgtask: Config.%s must not be negative", f.name)
		}
		if *f.v > f.max {
			return cfg, fmt.Errorf("bgtask: Config.%s %d: at most %d", f.name, *f.v, f.max)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if err := CheckLeaseTiming(cfg.HeartbeatInterval, cfg.StaleAfter); err != nil {
		return cfg, fmt.Errorf("bgtask: Config.%w", err)
	}
	if cfg.ServerID == "" {
		cfg.ServerID = hostname() + "-" + randomHex(4)
	} else if err := CheckServerID(cfg.ServerID); err != nil {
		return cfg, fmt.Errorf("bgtask: Config.ServerID: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	return cfg, nil
}

func hostname() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "server"
	}
	return host
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// manager life cycle
const (
	stateNew = iota
	stateRunning
	stateStopping
	stateStopped
)

// Manager runs submitted tasks, stores their records, reports their
// progress and events, and takes over the tasks of dead servers. Create it
// with NewManager, call Start, and Stop it at shutdown. Submit, Get, List,
// Cancel, Retry and Subscribe work before Start too (a manager that is
// never started only queues work for other servers).
//
// Its background services each have one start/stop shape (package
// internal/service): the claimer takes queued work and orphans, the lease
// keeper renews leases and this server's announcement, the completer
// writes outcomes in batches (retrying until the store takes them), the
// flusher coalesces progress, the event tail follows the store's event log
// for subscribers and for cancels addressed to this server, and the
// janitor applies retention.
type Manager struct {
	cfg         Config
	idChecked   atomic.Bool // CheckServerIDFree found the ID free
	store       store.Store
	clock       clock.Clock
	logger      *slog.Logger
	hooks       []Hook
	idle        *idleRunner
	incarnation string
	startedAt   time.Time

	runs  *runSet
	slots *slots
	// claimGate orders Recover after the claims in flight: a Submit that
	// stores its record already owned holds it shared from the insert until
	// the run is in runs, and Recover holds it exclusively, so that it never
	// takes such a record for one "claimed but never started".
	claimGate sync.RWMutex
	// closedToRuns, guarded by claimGate, is set by Stop once every Submit
	// that may start a run here has registered it: later Submits refuse.
	closedToRuns bool
	claimer      *claimer
	leases       *leaseKeeper
	completer    *completer
	flusher      *flusher
	tail         *eventTail
	janitor      *janitor
	// given ends when Stop's time is up (its ctx's end plus TimeoutGrace,
	// by giveUpAll): no store call the manager makes on its own behalf
	// (storeCtx) outlasts it, a claim that a hanging store holds included.
	given     context.Context
	giveUpAll context.CancelFunc

	// mu guards the fields below.
	mu    sync.Mutex
	state int
	// work is the context every run derives from: the Start context with
	// its own cancel (the hard stop). Set once by Start.
	work       context.Context
	cancelWork context.CancelFunc
	stopDone   chan struct{}
}

// NewManager returns a manager for cfg.
func NewManager(cfg *Config) (*Manager, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:         c,
		store:       c.Store,
		clock:       c.Clock,
		hooks:       append([]Hook(nil), c.Hooks...),
		incarnation: c.ServerID + "/" + randomHex(6),
		runs:        newRunSet(),
		stopDone:    make(chan struct{}),
		work:        context.Background(),
	}
	m.given, m.giveUpAll = context.WithCancel(context.Background())
	m.logger = c.Logger.With("server_id", c.ServerID)
	if m.idle, err = newIdleRunner(m, c.Idle); err != nil {
		return nil, err
	}
	m.slots = newSlots(c.MaxWorkers, m.idle.maxTasks)
	m.claimer = newClaimer(m)
	m.leases = newLeaseKeeper(m)
	m.completer = newCompleter(m)
	m.flusher = newFlusher(m)
	m.tail = newEventTail(m)
	m.janitor = newJanitor(m)
	return m, nil
}

// ServerID returns this server's ID.
func (m *Manager) ServerID() string { return m.cfg.ServerID }

// Incarnation returns the ID of this life of the server: its server ID
// and a value unique to this Manager. Its leases carry it.
func (m *Manager) Incarnation() string { return m.incarnation }

// Registry returns the manager's registry.
func (m *Manager) Registry() *Registry { return m.cfg.Registry }

// Store returns the manager's store.
func (m *Manager) Store() store.Store { return m.store }

// Start starts running tasks: it recovers the records this server held in
// an earlier life, claims queued tasks and orphans, and starts the
// services. It returns at once, except when the store lists another
// incarnation of this server's ID as live: then it watches that
// announcement for up to two heartbeat intervals and returns a
// *ServerIDInUseError (ErrServerIDInUse) if it is renewed, or goes on if
// not (an earlier life that crashed); ctx bounds that wait too, and
// CheckServerIDFree makes the check on its own. Calling it again is a
// no-op.
// Cancelling ctx is the hard stop: every run's context is cancelled and
// nothing more is written (records of interrupted runs are recovered at
// the next start or taken over by another server). Use Stop for a
// graceful shutdown.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	fresh := m.state == stateNew
	m.mu.Unlock()
	if fresh {
		if err := m.CheckServerIDFree(ctx); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateRunning:
		return nil
	case stateStopping, stateStopped:
		return ErrStopped
	}
	m.work, m.cancelWork = context.WithCancel(ctx)
	m.state = stateRunning
	m.startedAt = m.clock.Now()
	if err := m.idle.sched.Start(m.work); err != nil {
		return err
	}
	m.completer.start(m.work)
	m.flusher.loop.Start(m.work)
	m.leases.loop.Start(m.work)
	m.leases.watch.Start(m.work)
	m.tail.loop.Start(m.work)
	m.janitor.loop.Start(m.work)
	m.claimer.loop.Start(m.work)
	context.AfterFunc(m.work, func() {
		m.runs.stopAll(errHardStop)
		m.completer.abandon() // nothing more is written
	})
	m.logger.Debug("manager started", "incarnation", m.incarnation, "max_workers", m.cfg.MaxWorkers)
	return nil
}

// Stop shuts the manager down gracefully: it accepts nothing new, lets
// running tasks finish until ctx ends, then cancels them. Retriable tasks
// cancelled this way are handed back for another server (or the next
// start) to run at once, without using up an attempt; others end CANCELLED
// ("server shutdown"). Stop returns when every run has ended and its
// outcome is written, and at the latest Config.TimeoutGrace after ctx
// ends: runs and writes still pending then are given up (logged; their
// records are recovered at the next start or by another server). It is
// safe to call more than once and from several goroutines.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	switch m.state {
	case stateNew:
		m.state = stateStopped
		close(m.stopDone)
		m.mu.Unlock()
		m.tail.close()
		return nil
	case stateStopping, stateStopped:
		m.mu.Unlock()
		select {
		case <-m.stopDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.state = stateStopping
	m.mu.Unlock()

	// hard ends TimeoutGrace after ctx: every wait and store call left
	// once ctx ended fits in that time, a store that hangs included.
	// (A timer left armed when Stop returns early cancels nothing.)
	hard, cancelHard := m.given, m.giveUpAll
	defer cancelHard()
	defer context.AfterFunc(ctx, func() { m.clock.AfterFunc(m.cfg.TimeoutGrace, cancelHard) })()

	_ = m.claimer.loop.Stop(context.Background())
	// Wait for the Submits that passed the state check before it changed:
	// their runs are in runs once this returns.
	m.claimGate.Lock()
	m.closedToRuns = true
	m.claimGate.Unlock()
	deadlinePassed := false
	if !m.runs.wait(ctx.Done(), nil) {
		m.logger.Info("stop deadline reached, cancelling running tasks", "running", m.runs.count())
		deadlinePassed = true
		m.runs.stopAll(errShutdown)
		if !m.runs.wait(hard.Done(), nil) {
			m.giveUp()
		}
	}
	m.stopServices(hard, deadlinePassed)
	m.mu.Lock()
	m.state = stateStopped
	m.mu.Unlock()
	close(m.stopDone)
	m.logger.Debug("manager stopped")
	return nil
}

// giveUp abandons what is still pending when Stop's time is up: outcomes
// not yet written, and runs that did not return. Their records stay
// ONGOING under this server's lease and are recovered at the next start
// (or taken over by another server when the lease is stale).
func (m *Manager) giveUp() {
	m.completer.abandon()
	for _, r := range m.runs.all() {
		r.task.Logger().Error("gave up on the task at shutdown; it will be recovered as an orphan")
		m.runs.remove(r)
	}
}

// stopServices stops every service but the claimer (stopped first). No
// wait or store call outlasts hard (Stop's own bound); an idle callback
// that ignores its context is waited for until hard ends, or for
// TimeoutGrace when Stop's deadline had not passed.
func (m *Manager) stopServices(hard context.Context, deadlinePassed bool) {
	m.completer.stop(hard)
	_ = m.flusher.loop.Stop(hard)
	_ = m.leases.loop.Stop(hard)
	_ = m.leases.watch.Stop(hard)
	_ = m.janitor.loop.Stop(hard)
	m.cancelWork()
	_ = m.tail.loop.Stop(hard)
	dctx, dcancel := context.WithTimeout(hard, m.cfg.StoreTimeout)
	m.tail.drain(dctx)
	dcancel()
	m.tail.close()
	ictx, icancel := hard, context.CancelFunc(func() {})
	if !deadlinePassed {
		ictx, icancel = context.WithTimeout(hard, m.cfg.TimeoutGrace)
	}
	defer icancel()
	if err := m.idle.sched.Stop(ictx); err != nil && m.idle.sched.Stats().Running {
		// Without a callback running, only the scheduler's own goroutine
		// had yet to exit as the time ran out (a hanging store had used
		// it up): nothing ignores its context.
		m.logger.Warn("idle scheduler did not stop in time: an idle callback ignores its context", "err", err)
	}
	wctx, wcancel := context.WithTimeout(hard, m.cfg.StoreTimeout)
	defer wcancel()
	if err := m.store.Withdraw(wctx, m.cfg.ServerID, m.incarnation); err != nil {
		m.logger.Warn("cannot withdraw this server's announcement; it expires by itself", "err", err)
	}
}

// Stopping reports whether Stop has been called: the manager is stopping
// or stopped, and Submit and SubmitMany return ErrStopped.
func (m *Manager) Stopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == stateStopping || m.state == stateStopped
}

// accepting reports whether runs may start.
func (m *Manager) accepting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acceptingLocked()
}

func (m *Manager) acceptingLocked() bool {
	return m.state == stateRunning && m.work.Err() == nil
}

// storeCtx returns a context for a store call the manager makes on its own
// behalf: not cancelled by the hard stop, bounded by StoreTimeout and by
// Stop's own bound (given).
func (m *Manager) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.given, m.cfg.StoreTimeout)
}

// MaxServerIDLen is the longest Config.ServerID, in bytes.
const MaxServerIDLen = 128

// Invisible reports whether r renders as nothing: a format character
// (Unicode Cf: a zero-width space, a bidirectional override, a byte order
// mark) or another default-ignorable code point (a variation selector, a
// Hangul filler, the combining grapheme joiner). Server IDs and serve's
// --tags refuse them, so that an ID that looks like another is not taken
// for it.
func Invisible(r rune) bool {
	return invisible.Rune(r)
}

// CheckServerID reports why id cannot name a server (Config.ServerID,
// bgtask serve --server-id), or nil: it must be 1 to MaxServerIDLen bytes
// of valid UTF-8 without spaces, control characters or invisible ones
// (Invisible), as it appears in logs, in the dashboard and in store keys.
// IDs are compared byte for byte, not normalized: "wéb" with a composed é
// and with e + a combining accent are two IDs that look alike; ASCII IDs
// avoid the question.
func CheckServerID(id string) error {
	switch {
	case id == "":
		return errors.New("a server ID must not be empty")
	case len(id) > MaxServerIDLen:
		return fmt.Errorf("a server ID is at most %d bytes, got %d", MaxServerIDLen, len(id))
	case !utf8.ValidString(id):
		return errors.New("a server ID must be valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) || Invisible(r) {
			return fmt.Errorf("a server ID must not contain spaces, control or invisible characters, got %q", id)
		}
	}
	return nil
}

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

	"github.com/bgtask/bgtask/clock"
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
	DefaultEventHistory      = 10000
	DefaultSubscriberBuffer  = 256
	DefaultStoreTimeout      = 10 * time.Second
)

// Config configures a Manager. Only Registry and Store are required; every
// other zero value means the documented default.
type Config struct {
	// Registry holds the definitions this server can run. Required.
	Registry *Registry
	// Store keeps the task records. Required. The manager does not close it.
	Store store.Store
	// ServerID names this server in records (owner) and messages.
	// Default: "<hostname>-<random>", unique per NewManager.
	ServerID string
	// Tags are this server's tags: a task whose definition has tags is
	// claimed only by servers sharing one of them.
	Tags []string

	// MaxWorkers bounds the tasks this server runs at once; tasks beyond it
	// wait, ONGOING with progress 0. Default DefaultMaxWorkers.
	MaxWorkers int
	// DefaultTimeout bounds a run whose definition and submission set no
	// timeout. Default DefaultTaskTimeout.
	DefaultTimeout time.Duration
	// TimeoutGrace is how long a run may take to return after its context
	// was cancelled (timeout, cancel, shutdown) before the manager gives up
	// on it and records the outcome anyway. Default DefaultTimeoutGrace.
	TimeoutGrace time.Duration
	// HeartbeatInterval is how often running tasks' leases are renewed and
	// orphans are looked for. Default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// StaleAfter is the lease age after which a task is an orphan that
	// another server takes over. Default DefaultStaleAfter.
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
	// EventHistory is how many recent events are kept in memory so that a
	// stream can resume after its last event. Default DefaultEventHistory.
	EventHistory int
	// SubscriberBuffer is the default channel capacity of a subscription.
	// Default DefaultSubscriberBuffer.
	SubscriberBuffer int
	// StoreTimeout bounds the store writes the manager makes on its own
	// behalf (finishing, releasing). Default DefaultStoreTimeout.
	StoreTimeout time.Duration

	// Hooks run around every attempt, Before in order and After in reverse
	// order.
	Hooks []Hook
	// Idle configures the scheduling of idle-priority tasks.
	Idle IdleConfig
	// Logger receives the manager's logs. Default: discard.
	Logger *slog.Logger
	// Clock is the time source. Default clock.Real.
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
		name string
		v    *int
		def  int
	}{
		{"MaxWorkers", &cfg.MaxWorkers, DefaultMaxWorkers},
		{"EventHistory", &cfg.EventHistory, DefaultEventHistory},
		{"SubscriberBuffer", &cfg.SubscriberBuffer, DefaultSubscriberBuffer},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("bgtask: Config.%s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.StaleAfter <= cfg.HeartbeatInterval {
		return cfg, fmt.Errorf("bgtask: Config.StaleAfter (%s) must exceed Config.HeartbeatInterval (%s)", cfg.StaleAfter, cfg.HeartbeatInterval)
	}
	if cfg.ServerID == "" {
		cfg.ServerID = newServerID()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	return cfg, nil
}

func newServerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "server"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
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
type Manager struct {
	cfg    Config
	store  store.Store
	clock  clock.Clock
	logger *slog.Logger
	broker *broker
	hooks  []Hook
	idle   *idleRunner

	exclusive bool
	seq       atomic.Uint64 // event sequence when the store is exclusive

	// slots is the worker-slot semaphore: a send takes a slot.
	slots chan struct{}
	// claimWake asks the claimer to look for queued work.
	claimWake chan struct{}
	// enqueueGen counts enqueue notifications; drainedGen is the value seen
	// by the last claim that found the queue empty. They differ while
	// queued work may be waiting.
	enqueueGen atomic.Uint64
	drainedGen atomic.Uint64
	// sweepPending is true while an orphan sweep waits for free slots.
	sweepPending atomic.Bool
	// claimNames caches the registry's names for Claim (generation
	// claimNamesGen); owned by the claimer goroutine.
	claimNames    []string
	claimNamesGen uint64

	flusher *flusher

	// mu guards the fields below.
	mu      sync.Mutex
	state   int
	running map[string]*running
	// work is the context every run derives from: the Start context with
	// its own cancel (the hard stop). Set once by Start.
	work       context.Context
	cancelWork context.CancelFunc
	loopStop   chan struct{} // closed to stop the service loops
	loops      sync.WaitGroup
	tasks      sync.WaitGroup
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
		cfg:       c,
		store:     c.Store,
		clock:     c.Clock,
		logger:    c.Logger.With("server_id", c.ServerID),
		broker:    newBroker(c.EventHistory, c.SubscriberBuffer),
		hooks:     append([]Hook(nil), c.Hooks...),
		exclusive: c.Store.Exclusive(),
		slots:     make(chan struct{}, c.MaxWorkers),
		claimWake: make(chan struct{}, 1),
		running:   make(map[string]*running),
		loopStop:  make(chan struct{}),
		stopDone:  make(chan struct{}),
	}
	// Sequence numbers start at the current time in microseconds so that
	// they keep increasing across restarts of a single-process store.
	m.seq.Store(uint64(m.clock.Now().UnixMicro()))
	m.flusher = newFlusher(m)
	if m.idle, err = newIdleRunner(m, c.Idle); err != nil {
		return nil, err
	}
	return m, nil
}

// ServerID returns this server's ID.
func (m *Manager) ServerID() string { return m.cfg.ServerID }

// Registry returns the manager's registry.
func (m *Manager) Registry() *Registry { return m.cfg.Registry }

// Start starts running tasks: it claims queued tasks and orphans, and
// starts the heartbeat, progress, janitor and message services. It returns
// at once; calling it again is a no-op. Cancelling ctx is the hard stop:
// every run's context is cancelled and nothing more is written (records of
// interrupted runs become orphans). Use Stop for a graceful shutdown.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateNew {
		if m.state == stateRunning {
			return nil
		}
		return ErrStopped
	}
	m.work, m.cancelWork = context.WithCancel(ctx)
	m.state = stateRunning
	msgs, unsubscribe := m.store.Subscribe(m.work)
	m.goLoop(func() { m.messageLoop(msgs, unsubscribe) })
	m.goLoop(m.claimLoop)
	m.goLoop(m.flusher.loop)
	m.goLoop(m.heartbeatLoop)
	m.goLoop(m.janitorLoop)
	if err := m.idle.sched.Start(m.work); err != nil {
		return err
	}
	m.logger.Debug("manager started", "max_workers", m.cfg.MaxWorkers, "exclusive_store", m.exclusive)
	return nil
}

func (m *Manager) goLoop(f func()) {
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		f()
	}()
}

// Stop shuts the manager down gracefully: it accepts nothing new, lets
// running tasks finish until ctx ends, then cancels them. Retriable tasks
// cancelled this way are handed back for takeover at once (not a failure);
// others end CANCELLED ("server shutdown"). Stop returns when every run has
// ended (or been given up after Config.TimeoutGrace) and the services have
// stopped. It is safe to call more than once and from several goroutines.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	switch m.state {
	case stateNew:
		m.state = stateStopped
		close(m.stopDone)
		m.mu.Unlock()
		m.broker.close()
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

	m.stopClaiming()
	tasksDone := make(chan struct{})
	go func() {
		m.tasks.Wait()
		close(tasksDone)
	}()
	select {
	case <-tasksDone:
	case <-ctx.Done():
		m.logger.Info("stop deadline reached, cancelling running tasks", "running", m.runningCount())
		m.cancelAll(errShutdown)
		<-tasksDone // every run ends or is given up within TimeoutGrace
	}
	close(m.loopStop)
	_ = m.idle.sched.Stop(context.Background())
	m.loops.Wait()
	m.cancelWork()
	m.broker.close()
	m.mu.Lock()
	m.state = stateStopped
	m.mu.Unlock()
	close(m.stopDone)
	m.logger.Debug("manager stopped")
	return nil
}

// stopClaiming makes the claimer exit before Stop waits for the runs, so
// that no run starts after the wait began.
func (m *Manager) stopClaiming() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wakeClaimer()
}

func (m *Manager) runningCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.running)
}

// accepting reports whether runs may start, with m.mu held.
func (m *Manager) acceptingLocked() bool {
	return m.state == stateRunning && m.work.Err() == nil
}

func (m *Manager) cancelAll(cause error) {
	m.mu.Lock()
	rs := make([]*running, 0, len(m.running))
	for _, r := range m.running {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	for _, r := range rs {
		r.stop(cause)
	}
}

// storeCtx returns a context for a write the manager makes on its own
// behalf: not cancelled by the hard stop, bounded by StoreTimeout.
func (m *Manager) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.StoreTimeout)
}

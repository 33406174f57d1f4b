package bgtask_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// waitFor bounds every wait in these tests.
const waitFor = 20 * time.Second

// openStore opens an embedded store in dir (a fresh one per test).
func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	return openStoreAt(t, dir, nil)
}

// openStoreAt opens an embedded store in dir whose clock is clk (nil:
// the real clock). Lease ages and retention follow the store's clock.
func openStoreAt(t *testing.T, dir string, clk clock.Clock) store.Store {
	t.Helper()
	s, err := boltstore.New(filepath.Join(dir, "bgtask.db"), &boltstore.Config{Clock: clk})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

type env struct {
	t     *testing.T
	store store.Store
	reg   *bgtask.Registry
	m     *bgtask.Manager
}

// setup starts a manager on a fresh embedded store with the given
// definitions; cfg may adjust the config (Registry and Store are set).
func setup(t *testing.T, defs []bgtask.Definition, cfg *bgtask.Config) *env {
	t.Helper()
	var clk clock.Clock
	if cfg != nil {
		clk = cfg.Clock
	}
	st := openStoreAt(t, t.TempDir(), clk)
	t.Cleanup(func() { st.Close() })
	return setupOn(t, st, defs, cfg)
}

func setupOn(t *testing.T, st store.Store, defs []bgtask.Definition, cfg *bgtask.Config) *env {
	t.Helper()
	reg := bgtask.NewRegistry()
	for _, d := range defs {
		reg.MustAdd(d)
	}
	c := bgtask.Config{ProgressInterval: 20 * time.Millisecond, TimeoutGrace: time.Second}
	if cfg != nil {
		c = *cfg
	}
	c.Registry, c.Store = reg, st
	m, err := bgtask.NewManager(&c)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &env{t: t, store: st, reg: reg, m: m}
}

func (e *env) submit(name string, args ...string) string {
	e.t.Helper()
	id, err := e.m.Submit(context.Background(), name, args, nil)
	if err != nil {
		e.t.Fatalf("Submit(%s): %v", name, err)
	}
	return id
}

// follow subscribes to one task's events.
func (e *env) follow(id string) *follower {
	ch, stop := e.m.Subscribe(&bgtask.SubscribeOpts{TaskID: id})
	e.t.Cleanup(stop)
	return &follower{t: e.t, ch: ch}
}

type follower struct {
	t  *testing.T
	ch <-chan bgtask.Event
}

// next returns the next event, failing the test after waitFor.
func (f *follower) next() bgtask.Event {
	f.t.Helper()
	select {
	case ev, ok := <-f.ch:
		if !ok {
			f.t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(waitFor):
		f.t.Fatal("no event within the wait bound")
	}
	return bgtask.Event{}
}

// until returns the events up to and including the first of kind.
func (f *follower) until(kinds ...bgtask.EventKind) []bgtask.Event {
	f.t.Helper()
	var evs []bgtask.Event
	for range 10000 {
		ev := f.next()
		evs = append(evs, ev)
		for _, k := range kinds {
			if ev.Kind == k {
				return evs
			}
		}
	}
	f.t.Fatalf("no %v event among %d events", kinds, len(evs))
	return nil
}

// waitState polls the record until it reaches state (records, unlike
// events, are also visible across managers).
func (e *env) waitState(id string, state bgtask.State) *bgtask.TaskInfo {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		info, err := e.m.Get(context.Background(), id)
		if err != nil {
			e.t.Fatalf("Get(%s): %v", id, err)
		}
		if info.State == state {
			return info
		}
		time.Sleep(5 * time.Millisecond)
	}
	info, _ := e.m.Get(context.Background(), id)
	e.t.Fatalf("task %s: state %s, want %s (record %+v)", id, info.State, state, info)
	return nil
}

// gate lets a test hold tasks inside their run functions.
type gate struct {
	mu      sync.Mutex
	entered chan string
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan string, 1000), release: make(chan struct{})}
}

// run is a run function that reports entry and waits for open or ctx.
func (g *gate) run(ctx context.Context, t *bgtask.Task) error {
	g.entered <- t.ID()
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

func (g *gate) waitEntered(t *testing.T) string {
	t.Helper()
	select {
	case id := <-g.entered:
		return id
	case <-time.After(waitFor):
		t.Fatal("no task entered its run function")
	}
	return ""
}

func isErr(err, target error) bool { return errors.Is(err, target) }

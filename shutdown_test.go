package bgtask_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/idle"
	"github.com/bgtask/bgtask/store"
)

// stopWithin calls Stop with a context that ends at once and fails the
// test unless Stop returns (Stop's own bound is its context's deadline
// plus Config.TimeoutGrace; waitFor only keeps a broken Stop from hanging
// the test).
func stopWithin(t *testing.T, m *bgtask.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- m.Stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Stop did not return")
	}
}

// An idle-priority run that ignores its context cannot hold Stop.
func TestStopBoundedWithAnIdleRunIgnoringItsContext(t *testing.T) {
	t.Parallel()
	forever := make(chan struct{})
	defer close(forever)
	entered := make(chan struct{}, 1)
	e := setup(t, []bgtask.Definition{{Name: "stubborn", Priority: bgtask.PriorityIdle, Run: func(ctx context.Context, t *bgtask.Task) error {
		entered <- struct{}{}
		<-forever // ignores ctx, holds its idle slice
		return nil
	}}}, &bgtask.Config{TimeoutGrace: 2 * time.Second})
	// The run ignores its context: Stop gives up on it after three
	// quarters of the grace and has the last quarter (0.5 s) to write the
	// outcome. A grace of 50 ms left 12.5 ms for a durable commit, which a
	// busy machine does not always give (the test failed under load).
	id := e.submit("stubborn")
	recv(t, entered, "the idle run")
	stopWithin(t, e.m)
	if info, err := e.m.Get(context.Background(), id); err != nil || info.State != bgtask.StateCancelled {
		t.Fatalf("record after Stop = %+v, %v; want CANCELLED (server shutdown)", info, err)
	}
}

// Submits that race Stop launch no run that Stop then fails to cancel.
func TestSubmitRacingStopIsCancelled(t *testing.T) {
	t.Parallel()
	for range 20 {
		st := openStore(t, t.TempDir())
		m := newStarted(t, st, bgtask.Definition{Name: "wait", Run: func(ctx context.Context, t *bgtask.Task) error {
			<-ctx.Done()
			return ctx.Err()
		}})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for range 1000 {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := m.Submit(context.Background(), "wait", nil, nil); err != nil {
						return // ErrStopped
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		stopWithin(t, m)
		close(stop)
		wg.Wait()
		// Nothing is left running under this server's lease.
		page, err := st.List(context.Background(), store.ListParams{State: store.Ongoing, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.Owner != "" {
				t.Fatalf("record %s still owned after Stop: %+v", r.ID, r)
			}
		}
		st.Close()
	}
}

func newStarted(t *testing.T, st store.Store, defs ...bgtask.Definition) *bgtask.Manager {
	t.Helper()
	reg := bgtask.NewRegistry()
	for _, d := range defs {
		reg.MustAdd(d)
	}
	// The runs honour their context, so Stop waits only for the outcomes'
	// commits; the grace is a bound for a broken Stop, not a wait, and
	// must leave a busy machine time to commit them (a record whose
	// outcome is given up on stays owned, which the test would report).
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st, TimeoutGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// After the hard stop (Start's context cancelled) no run starts.
func TestHardStopStartsNothingLater(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() }) // after the manager's Stop (cleanups run last first)
	ran := make(chan struct{}, 10)
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "q", Run: func(context.Context, *bgtask.Task) error { ran <- struct{}{}; return nil }})
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, hard := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hard()
	id, err := m.Submit(context.Background(), "q", nil, nil)
	if err != nil {
		t.Fatalf("Submit after the hard stop: %v (it is stored for another server)", err)
	}
	stopWithin(t, m)
	select {
	case <-ran:
		t.Fatal("a run started after the hard stop")
	default:
	}
	if r, err := st.Get(context.Background(), id); err != nil || r.State != store.Ongoing || r.Owner != "" {
		t.Fatalf("record submitted after the hard stop = %+v, %v; want queued", r, err)
	}
}

// Idle-priority tasks waiting for idle time hold no worker slot: they never
// keep a normal-priority task from starting.
func TestIdleTasksDoNotStarveNormalWork(t *testing.T) {
	t.Parallel()
	busy := idle.NewCounter(1)
	busy.Inc() // the process stays busy throughout
	e := setup(t, []bgtask.Definition{
		{Name: "background", Priority: bgtask.PriorityIdle, Run: func(context.Context, *bgtask.Task) error { return nil }},
		quick("normal"),
	}, &bgtask.Config{MaxWorkers: 2, Idle: bgtask.IdleConfig{Sources: []idle.LoadSource{busy}}})
	b1, b2 := e.submit("background"), e.submit("background")
	n := e.submit("normal")
	e.waitState(n, bgtask.StateSuccess)
	for _, id := range []string{b1, b2} {
		if info, _ := e.m.Get(context.Background(), id); info.State != bgtask.StateOngoing {
			t.Fatalf("idle task ran while the process was busy: %+v", info)
		}
	}
	busy.Dec()
	e.waitState(b1, bgtask.StateSuccess)
	e.waitState(b2, bgtask.StateSuccess)
}

// An idle-priority task's timeout starts with its first slice: waiting for
// idle time longer than the timeout is not a timeout.
func TestIdleTimeoutStartsWithTheFirstSlice(t *testing.T) {
	t.Parallel()
	busy := idle.NewCounter(1)
	busy.Inc()
	e := setup(t, []bgtask.Definition{
		{Name: "background", Priority: bgtask.PriorityIdle, Timeout: 100 * time.Millisecond, Run: func(context.Context, *bgtask.Task) error { return nil }},
	}, &bgtask.Config{Idle: bgtask.IdleConfig{Sources: []idle.LoadSource{busy}}})
	id := e.submit("background")
	// Wait for the record to be claimed, then let more than the timeout
	// pass while the process is busy.
	deadline := time.Now().Add(waitFor)
	for {
		info, _ := e.m.Get(context.Background(), id)
		if info.Attempt == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle task never claimed")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	busy.Dec()
	if info := e.waitState(id, bgtask.StateSuccess); info.Error != "" {
		t.Fatalf("idle task: %+v", info)
	}
}

// A server whose worker slots are all taken does not spin claiming: each
// wake-up costs one claim (found by the multi-server scaling test, where
// 100 busy servers made thousands of claims a second).
func TestBusyServerDoesNotSpinClaiming(t *testing.T) {
	t.Parallel()
	cs := &countingStore{Store: openStore(t, t.TempDir())}
	t.Cleanup(func() { cs.Close() }) // after the manager's Stop (cleanups run last first)
	g := newGate()
	defer g.open()
	e := setupOn(t, cs, []bgtask.Definition{{Name: "hold", Run: g.run}}, &bgtask.Config{MaxWorkers: 1})
	e.submit("hold")
	g.waitEntered(t)
	before := cs.claims.Load()
	for range 20 {
		e.submit("hold") // queued: the only worker slot is taken
	}
	// Each submit wakes the claimer; with no free worker slot a wake-up
	// must not turn into a loop of claims.
	info, _ := e.m.Get(context.Background(), e.submit("hold"))
	if info.State != bgtask.StateOngoing {
		t.Fatalf("queued task: %+v", info)
	}
	time.Sleep(100 * time.Millisecond) // let the wake-ups be handled
	if n := cs.claims.Load() - before; n > 100 {
		t.Fatalf("%d claims for 21 submits while busy, want about one per wake-up", n)
	}
}

// A reader following a task gets the outcome that Stop's own cancel
// produced before it learns that the manager stopped: the tail reads the
// log to its end before it closes. Readers got ErrStopped first whenever
// the tail had not yet read the last outcomes (a `bgtask watch` then
// reported a dropped stream instead of the task's end).
func TestReaderGetsTheOutcomeWrittenAtStop(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		entered := make(chan struct{}, 1)
		st := openStore(t, t.TempDir())
		m := newStarted(t, st, bgtask.Definition{Name: "until-stop", Run: func(ctx context.Context, _ *bgtask.Task) error {
			entered <- struct{}{}
			<-ctx.Done()
			return nil // its work was done: SUCCESS
		}})
		id, err := m.Submit(context.Background(), "until-stop", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		recv(t, entered, "the run")
		r, err := m.Follow(context.Background(), &bgtask.SubscribeOpts{TaskID: id})
		if err != nil {
			t.Fatal(err)
		}
		stopWithin(t, m)
		var kinds []bgtask.EventKind
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		for range 100 {
			evs, err := r.Next(ctx)
			if err != nil {
				break
			}
			for _, ev := range evs {
				kinds = append(kinds, ev.Kind)
			}
		}
		cancel()
		if len(kinds) == 0 || kinds[len(kinds)-1] != bgtask.EventDone {
			t.Fatalf("round %d: events %v before the reader stopped, want the outcome (done) last", round, kinds)
		}
		st.Close()
	}
}

// frozenStore makes every call the manager makes on its own behalf hang,
// once frozen is set, until its context ends or release is closed: a
// store that stops answering without refusing, as a Redis whose process
// is stopped (SIGSTOP) does.
type frozenStore struct {
	store.Store
	frozen  atomic.Bool
	release chan struct{}
	// waiting, if set, is sent the name of each call that waits (when
	// the channel has room).
	waiting chan string
}

func (f *frozenStore) wait(ctx context.Context) error {
	if !f.frozen.Load() {
		return nil
	}
	if f.waiting != nil {
		select {
		case f.waiting <- "call":
		default:
		}
	}
	select {
	case <-ctx.Done():
	case <-f.release:
	}
	return store.ErrUnavailable
}

func (f *frozenStore) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Claim(ctx, p)
}

func (f *frozenStore) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Recover(ctx, p, held)
}

func (f *frozenStore) Renew(ctx context.Context, ls []store.Lease) (store.RenewResult, error) {
	if err := f.wait(ctx); err != nil {
		return store.RenewResult{}, err
	}
	return f.Store.Renew(ctx, ls)
}

func (f *frozenStore) Update(ctx context.Context, ps []store.Patch) ([]store.Lease, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Update(ctx, ps)
}

func (f *frozenStore) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Finish(ctx, cs)
}

func (f *frozenStore) Release(ctx context.Context, ps []store.Patch) ([]store.Lease, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Store.Release(ctx, ps)
}

func (f *frozenStore) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	if err := f.wait(ctx); err != nil {
		return store.LogPage{}, err
	}
	return f.Store.ReadLog(ctx, after, limit, wait)
}

func (f *frozenStore) DeleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	if err := f.wait(ctx); err != nil {
		return 0, err
	}
	return f.Store.DeleteFinished(ctx, olderThan, limit)
}

func (f *frozenStore) Announce(ctx context.Context, info store.ServerInfo, ttl time.Duration) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Store.Announce(ctx, info, ttl)
}

func (f *frozenStore) Withdraw(ctx context.Context, id, incarnation string) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Store.Withdraw(ctx, id, incarnation)
}

// Stop keeps its bound when the claimer waits on a store that stopped
// answering: its calls were bounded by StoreTimeout alone (an hour here),
// and Stop waited for the claimer first (TestStopBoundedWhenTheStoreHangs
// failed now and then: Stop did not return when the heartbeat's recovery
// had just begun as the store froze).
func TestStopBoundedWhenAClaimHangs(t *testing.T) {
	t.Parallel()
	fs := &frozenStore{Store: openStoreAt(t, t.TempDir(), nil), release: make(chan struct{}), waiting: make(chan string, 1)}
	t.Cleanup(func() { fs.Close() })
	e := setupOn(t, fs, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}},
		&bgtask.Config{StoreTimeout: time.Hour, TimeoutGrace: 100 * time.Millisecond})
	t.Cleanup(func() { close(fs.release) })
	fs.frozen.Store(true)
	e.submit("noop") // Insert is not frozen; the claim it wakes is
	recv(t, fs.waiting, "the claimer's call on the frozen store")
	stopWithin(t, e.m)
}

// Stop keeps its bound when the store stops answering: a tester froze
// Redis (SIGSTOP) and sent SIGTERM, and the server took 52 s to exit where
// 35 s were promised — the outcome writes, the event log's last read and
// the withdrawal of the server's announcement each waited up to
// StoreTimeout after Stop's time was up. StoreTimeout is an hour here, so
// only a Stop that keeps its own bound (ctx's deadline plus TimeoutGrace)
// returns.
func TestStopBoundedWhenTheStoreHangs(t *testing.T) {
	t.Parallel()
	fs := &frozenStore{Store: openStoreAt(t, t.TempDir(), nil), release: make(chan struct{})}
	t.Cleanup(func() { fs.Close() })
	entered := make(chan struct{}, 2)
	e := setupOn(t, fs, []bgtask.Definition{
		{Name: "hold", Run: func(ctx context.Context, t *bgtask.Task) error {
			entered <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}},
		{Name: "hold-retriable", Retriable: true, Run: func(ctx context.Context, t *bgtask.Task) error {
			entered <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}},
	}, &bgtask.Config{StoreTimeout: time.Hour, TimeoutGrace: time.Second})
	t.Cleanup(func() { close(fs.release) }) // after the test's Stop, before the cleanup's
	e.submit("hold")
	e.submit("hold-retriable")
	recv(t, entered, "start of the first run")
	recv(t, entered, "start of the second run")
	fs.frozen.Store(true)
	stopWithin(t, e.m)
}

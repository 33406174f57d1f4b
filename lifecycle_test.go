package bgtask_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

func TestStopLetsRunningTasksFinish(t *testing.T) {
	t.Parallel()
	g := newGate()
	st := openStore(t, t.TempDir())
	defer st.Close()
	e := setupOn(t, st, []bgtask.Definition{{Name: "hold", Run: g.run}}, nil)
	id := e.submit("hold")
	g.waitEntered(t)
	stopped := make(chan error, 1)
	go func() { stopped <- e.m.Stop(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	if _, err := e.m.Submit(context.Background(), "hold", nil, nil); !isErr(err, bgtask.ErrStopped) {
		t.Fatalf("Submit while stopping = %v, want ErrStopped", err)
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned while a task was running")
	default:
	}
	g.open()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := e.m.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	rec, err := st.Get(context.Background(), id)
	if err != nil || rec.State != store.Success {
		t.Fatalf("record after graceful stop = %+v, %v", rec, err)
	}
}

// Stop with an expired context hands retriable tasks back (not a failure)
// and cancels the others; a new server runs the handed-back ones.
func TestStopHandsBackRetriable(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	g := newGate()
	defs := []bgtask.Definition{
		{Name: "retriable", Retriable: true, Run: g.run},
		{Name: "once", Run: g.run},
	}
	e := setupOn(t, st, defs, nil)
	r := e.submit("retriable")
	o := e.submit("once")
	g.waitEntered(t)
	g.waitEntered(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.Get(context.Background(), r)
	if rec.State != store.Ongoing || rec.Owner != "" || rec.Attempt != 0 {
		t.Fatalf("retriable task after stop = %+v, want ONGOING, no owner, attempt 0 (a hand-back gives its attempt back)", rec)
	}
	rec, _ = st.Get(context.Background(), o)
	if rec.State != store.Cancelled || rec.Error != "server shutdown" {
		t.Fatalf("non-retriable task after stop = %+v, want CANCELLED (server shutdown)", rec)
	}

	g.open()
	e2 := setupOn(t, st, defs, nil)
	info := e2.waitState(r, bgtask.StateSuccess)
	if info.Attempt != 1 {
		t.Fatalf("handed-back task ran with attempt %d, want 1", info.Attempt)
	}
}

// A server that dies leaves its tasks owned; once their lease is stale
// another server takes retriable ones over (attempt + 1) and fails the
// rest ("orphaned after N attempts").
func TestTakeoverOfStaleTasks(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Now())
	st := openStoreAt(t, t.TempDir(), fake)
	defer st.Close()
	var ran atomic.Int32
	entered := make(chan struct{}, 2)
	hold := func(ctx context.Context, t *bgtask.Task) error {
		if t.Attempt() == 1 {
			entered <- struct{}{}
			<-ctx.Done() // the first server dies while this runs
			return ctx.Err()
		}
		ran.Add(1)
		return nil
	}
	defs := []bgtask.Definition{
		{Name: "retriable", Retriable: true, MaxAttempts: 2, Run: hold},
		{Name: "once", Run: hold},
	}
	cfg := bgtask.Config{Clock: fake, HeartbeatInterval: time.Second, StaleAfter: 3 * time.Second}

	deadCtx, die := context.WithCancel(context.Background())
	reg := bgtask.NewRegistry()
	for _, d := range defs {
		reg.MustAdd(d)
	}
	c1 := cfg
	c1.Registry, c1.Store, c1.ServerID = reg, st, "dead"
	m1, err := bgtask.NewManager(&c1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Start(deadCtx); err != nil {
		t.Fatal(err)
	}
	r, _ := m1.Submit(context.Background(), "retriable", nil, nil)
	o, _ := m1.Submit(context.Background(), "once", nil, nil)
	for range 2 {
		select {
		case <-entered:
		case <-time.After(waitFor):
			t.Fatal("tasks did not start on the first server")
		}
	}
	die() // hard stop: nothing more is written, the records stay owned
	if err := m1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	c2 := cfg
	c2.ServerID = "alive"
	e := setupOn(t, st, defs, &c2)
	// not stale yet: nobody takes them
	fake.Advance(time.Second)
	rec, _ := st.Get(context.Background(), r)
	if rec.Owner != "dead" {
		t.Fatalf("task taken over before its lease was stale: %+v", rec)
	}
	// Advance the clock in small steps, and only until the live server
	// has taken both records over: the second run then needs no time to
	// pass. A free-running ticker (a fake second per real millisecond)
	// went on after the takeover and made that run's lease overdue on a
	// loaded machine before its outcome was written: the task ended
	// FAILURE "orphaned after 2 attempts" (go test -race -count=3 beside
	// a CI run).
	taken := func() bool {
		for _, id := range []string{r, o} {
			if rec, err := st.Get(context.Background(), id); err != nil || rec.Owner == "dead" {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(waitFor)
	for !taken() {
		if time.Now().After(deadline) {
			t.Fatal("the live server did not take the dead server's tasks over")
		}
		fake.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	info := e.waitState(r, bgtask.StateSuccess)
	if info.Attempt != 2 || ran.Load() != 1 {
		t.Fatalf("retriable task: attempt %d, runs %d; want attempt 2, 1 run", info.Attempt, ran.Load())
	}
	info = e.waitState(o, bgtask.StateFailure)
	if info.Error != "orphaned after 1 attempt" || info.Attempt != 1 {
		t.Fatalf("non-retriable orphan: error %q", info.Error)
	}
}

// With the embedded store, tasks ONGOING at a crash are recovered at the
// next start, whatever the server ID: no waiting for the lease to go
// stale.
func TestEmbeddedStoreRecoversAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openStore(t, dir)
	now := time.Now()
	_, err := st.Insert(context.Background(), []*store.Record{
		{ID: "0190c1f4-0000-7000-8000-000000000001", Name: "retriable", Args: []string{}, MaxAttempts: 3, Owner: "crashed", Incarnation: "crashed/1", CreatedAt: now},
		{ID: "0190c1f4-0000-7000-8000-000000000002", Name: "once", Args: []string{}, MaxAttempts: 1, Owner: "crashed", Incarnation: "crashed/1", CreatedAt: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // the process that held them is gone
	st = openStore(t, dir)
	defer st.Close()
	ok := func(context.Context, *bgtask.Task) error { return nil }
	e := setupOn(t, st, []bgtask.Definition{{Name: "retriable", Retriable: true, Run: ok}, {Name: "once", Run: ok}}, nil)
	if info := e.waitState("0190c1f4-0000-7000-8000-000000000001", bgtask.StateSuccess); info.Attempt != 2 {
		t.Fatalf("attempt %d, want 2", info.Attempt)
	}
	info := e.waitState("0190c1f4-0000-7000-8000-000000000002", bgtask.StateFailure)
	if info.Error != "orphaned after 1 attempt" || info.Attempt != 1 {
		t.Fatalf("error %q attempt %d, want orphaned after 1 attempt", info.Error, info.Attempt)
	}
}

func TestRetentionDeletesOnlyFinished(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Now())
	g := newGate()
	defer g.open()
	e := setup(t, []bgtask.Definition{
		{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }},
		{Name: "hold", Run: g.run},
	}, &bgtask.Config{Clock: fake, Retention: time.Hour, JanitorInterval: time.Minute, DefaultTimeout: 1000 * time.Hour,
		// The clock jumps an hour and then a minute at a time: with the
		// default StaleAfter the held run's lease would be overdue after
		// any jump that came before a renewal (the lease keeper's watch
		// stops such a run, as it must after a real hour without one).
		StaleAfter: 1000 * time.Hour})
	done := e.submit("quick")
	e.waitState(done, bgtask.StateSuccess)
	running := e.submit("hold")
	g.waitEntered(t)
	fake.Advance(30 * time.Minute)
	if _, err := e.m.Get(context.Background(), done); err != nil {
		t.Fatalf("finished record deleted before its retention: %v", err)
	}
	fake.Advance(31 * time.Minute)
	stopTicking := tick(fake, time.Minute)
	deadline := time.Now().Add(waitFor)
	for {
		_, err := e.m.Get(context.Background(), done)
		if isErr(err, bgtask.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("finished record not deleted after its retention")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopTicking()
	if info, err := e.m.Get(context.Background(), running); err != nil || info.State != bgtask.StateOngoing {
		t.Fatalf("ONGOING record after retention: %+v, %v", info, err)
	}
}

func TestHooksRunInOrder(t *testing.T) {
	t.Parallel()
	var log []string
	var mu = make(chan struct{}, 1)
	rec := func(s string) {
		mu <- struct{}{}
		log = append(log, s)
		<-mu
	}
	hook := func(name string) bgtask.Hook {
		return bgtask.HookFuncs{
			Before: func(_ context.Context, a *bgtask.AttemptInfo) { rec(name + " before " + a.Name) },
			After: func(_ context.Context, a *bgtask.AttemptInfo, r *bgtask.AttemptResult) {
				rec(name + " after " + string(r.State))
			},
		}
	}
	e := setup(t, []bgtask.Definition{{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }}},
		&bgtask.Config{Hooks: []bgtask.Hook{hook("h1"), hook("h2")}})
	e.waitState(e.submit("quick"), bgtask.StateSuccess)
	deadline := time.Now().Add(waitFor)
	for {
		mu <- struct{}{}
		n := len(log)
		<-mu
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	want := "h1 before quick|h2 before quick|h2 after SUCCESS|h1 after SUCCESS"
	if got := strings.Join(log, "|"); got != want {
		t.Fatalf("hooks ran %q, want %q", got, want)
	}
}

// tick advances the fake clock by step every millisecond of real time
// until the returned function is called.
func tick(fake *clock.Fake, step time.Duration) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				fake.Advance(step)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

package bgtask_test

import (
	"context"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// attemptsEnv is one embedded store that several managers use in turn, one
// at a time, as a server restarted again and again would.
type attemptsEnv struct {
	t       *testing.T
	dir     string
	st      store.Store
	defs    []bgtask.Definition
	entered chan int
	release chan struct{}
}

func newAttemptsEnv(t *testing.T, maxAttempts int) *attemptsEnv {
	a := &attemptsEnv{t: t, dir: t.TempDir(), entered: make(chan int, 10), release: make(chan struct{})}
	a.st = openStore(t, a.dir)
	t.Cleanup(func() { a.st.Close() })
	a.defs = []bgtask.Definition{{Name: "job", Retriable: true, MaxAttempts: maxAttempts, Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(9)
		t.Progress().Set(7, "seven of nine")
		a.entered <- t.Attempt()
		select {
		case <-a.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}}
	return a
}

func (a *attemptsEnv) manager() (*bgtask.Manager, context.CancelFunc) {
	a.t.Helper()
	reg := bgtask.NewRegistry()
	reg.MustAdd(a.defs[0])
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: a.st, ProgressInterval: time.Millisecond})
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, hard := context.WithCancel(context.Background())
	if err := m.Start(ctx); err != nil {
		a.t.Fatal(err)
	}
	return m, hard
}

// handBack runs the task until it started, then stops the manager with an
// expired context: the task is handed back.
func (a *attemptsEnv) handBack(id *string) {
	a.t.Helper()
	m, hard := a.manager()
	defer hard()
	if *id == "" {
		var err error
		if *id, err = m.Submit(context.Background(), "job", nil, nil); err != nil {
			a.t.Fatal(err)
		}
	}
	if got := recv(a.t, a.entered, "run"); got != 1 {
		a.t.Fatalf("run after hand-backs has attempt %d, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Stop(ctx); err != nil {
		a.t.Fatal(err)
	}
}

// crash runs the task until it reported its progress, then hard-stops the
// manager and reopens the store (the process died).
func (a *attemptsEnv) crash(id string, wantAttempt int) {
	a.t.Helper()
	m, hard := a.manager()
	if got := recv(a.t, a.entered, "run"); got != wantAttempt {
		a.t.Fatalf("run has attempt %d, want %d", got, wantAttempt)
	}
	a.waitProgress(id, 7)
	hard()
	_ = m.Stop(context.Background())
	a.st.Close()
	a.st = openStore(a.t, a.dir)
}

func (a *attemptsEnv) waitProgress(id string, want float64) {
	a.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if r, err := a.st.Get(context.Background(), id); err == nil && r.Progress.Current == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	a.t.Fatalf("progress %v never stored", want)
}

// A hand-back at graceful shutdown does not use up an attempt: a task with
// MaxAttempts 2 handed back three times still runs, as attempt 1.
func TestHandBacksDoNotUseAttempts(t *testing.T) {
	t.Parallel()
	a := newAttemptsEnv(t, 2)
	var id string
	for range 3 {
		a.handBack(&id)
	}
	close(a.release)
	m, hard := a.manager()
	defer hard()
	defer m.Stop(context.Background())
	if got := recv(t, a.entered, "run"); got != 1 {
		t.Fatalf("attempt %d, want 1", got)
	}
	e := &env{t: t, store: a.st, m: m}
	if info := e.waitState(id, bgtask.StateSuccess); info.Attempt != 1 {
		t.Fatalf("finished at attempt %d, want 1", info.Attempt)
	}
}

// Interrupted by two hand-backs and one crash, a task with 3 attempts has
// used one: it runs again (attempt 2) instead of failing "orphaned after 3
// attempts". The record of the new attempt starts from zero progress in
// the store, not only in memory.
func TestCrashAfterHandBacksStillRetries(t *testing.T) {
	t.Parallel()
	a := newAttemptsEnv(t, 3)
	var id string
	a.handBack(&id)
	a.handBack(&id)
	a.crash(id, 1)

	m, hard := a.manager()
	defer hard()
	defer m.Stop(context.Background())
	if got := recv(t, a.entered, "run after the crash"); got != 2 {
		t.Fatalf("run after the crash has attempt %d, want 2", got)
	}
	close(a.release)
	e := &env{t: t, store: a.st, m: m}
	if info := e.waitState(id, bgtask.StateSuccess); info.Attempt != 2 {
		t.Fatalf("finished at attempt %d, want 2", info.Attempt)
	}
}

// The claim resets in the store what the new attempt does not carry over:
// every reader sees the new attempt's progress, not the old one's.
func TestClaimResetsTheStoredProgress(t *testing.T) {
	t.Parallel()
	a := newAttemptsEnv(t, 3)
	a.defs[0].Run = func(ctx context.Context, t *bgtask.Task) error {
		if t.Attempt() == 1 {
			t.Progress().SetTotal(9)
			t.Progress().Set(7, "seven of nine")
		}
		a.entered <- t.Attempt()
		select {
		case <-a.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m, hard := a.manager()
	id, err := m.Submit(context.Background(), "job", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, a.entered, "first run")
	a.waitProgress(id, 7)
	hard()
	_ = m.Stop(context.Background())
	a.st.Close()
	a.st = openStore(t, a.dir)

	m2, hard2 := a.manager()
	defer hard2()
	defer m2.Stop(context.Background())
	recv(t, a.entered, "second run") // it has reported nothing yet
	info, err := m2.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Attempt != 2 || info.Progress != (bgtask.ProgressInfo{}) {
		t.Fatalf("record during attempt 2: attempt %d progress %+v; want attempt 2, zero progress", info.Attempt, info.Progress)
	}
	close(a.release)
}

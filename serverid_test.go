package bgtask_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// idConfig is a manager config with the given server ID and short
// heartbeats.
func idConfig(id string) *bgtask.Config {
	return &bgtask.Config{ServerID: id, HeartbeatInterval: 50 * time.Millisecond, StaleAfter: 500 * time.Millisecond,
		ProgressInterval: 20 * time.Millisecond, TimeoutGrace: time.Second}
}

// A second live server with the same ID is refused at Start, and takes
// nothing from the first: it would have taken the first one's running
// tasks as records of its own earlier life (Recover ignores lease age for
// them), and the first would have taken them back at its next heartbeat,
// each run restarting until its attempts ran out.
func TestStartRefusesAServerIDInUse(t *testing.T) {
	t.Parallel()
	g := newGate()
	defs := []bgtask.Definition{{Name: "gated", Run: g.run}}
	a := setup(t, defs, idConfig("web-1"))
	id := a.submit("gated")
	g.waitEntered(t)
	waitAnnounced(t, a.store, a.m.Incarnation())

	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "gated", Run: g.run})
	cfg := idConfig("web-1")
	cfg.Registry, cfg.Store = reg, a.store
	b, err := bgtask.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start(t.Context())
	var inUse *bgtask.ServerIDInUseError
	if !errors.Is(err, bgtask.ErrServerIDInUse) || !errors.As(err, &inUse) || inUse.Other.Incarnation != a.m.Incarnation() {
		t.Fatalf("second Start with web-1: %v, want ErrServerIDInUse naming %s", err, a.m.Incarnation())
	}
	t.Logf("refused: %v", err)
	stopNow(t, b)
	info, err := a.m.Get(t.Context(), id)
	if err != nil || info.State != bgtask.StateOngoing || info.Attempt != 1 {
		t.Fatalf("the first server's task after the refused start: %+v, %v; want ONGOING, attempt 1", info, err)
	}
	g.open()
	a.waitState(id, bgtask.StateSuccess)
}

// An announcement of the ID by another incarnation that is not renewed is
// an earlier life that died before it could withdraw: Start waits two
// heartbeat intervals, then goes on.
func TestStartGoesOnWhenTheOtherIncarnationIsDead(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	ghost := store.ServerInfo{ID: "web-1", Incarnation: "web-1/ghost", Host: "h", PID: 1}
	if err := st.Announce(t.Context(), ghost, time.Hour); err != nil {
		t.Fatal(err)
	}
	e := setupOn(t, st, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}}, idConfig("web-1"))
	e.waitState(e.submit("noop"), bgtask.StateSuccess)
}

// waitAnnounced waits until the store lists incarnation as a live server.
func waitAnnounced(t *testing.T, st store.Store, incarnation string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		servers, err := st.Servers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.Incarnation == incarnation {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never announced", incarnation)
}

// stopNow stops m at once.
func stopNow(t *testing.T, m *bgtask.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// A live server that renews less often than this one is not taken for
// dead: the wait follows the other server's announced interval. (It
// followed this server's own: one started with 50 ms heartbeats waited
// 100 ms, saw no renewal of an announcement renewed every second, and
// took that server's tasks.)
func TestStartWaitsForTheOtherServersInterval(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	other := store.ServerInfo{ID: "web-1", Incarnation: "web-1/other", Host: "h", PID: 1, HeartbeatInterval: time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	announced := make(chan struct{})
	go func() { // the other server's heartbeat, bounded by the test
		defer close(announced)
		for range 1000 {
			if st.Announce(context.Background(), other, 5*time.Second) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(other.HeartbeatInterval):
			}
		}
	}()
	waitAnnounced(t, st, other.Incarnation)
	reg := bgtask.NewRegistry()
	cfg := idConfig("web-1")
	cfg.Registry, cfg.Store = reg, st
	m, err := bgtask.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckServerIDFree(t.Context()); !errors.Is(err, bgtask.ErrServerIDInUse) {
		t.Fatalf("CheckServerIDFree beside a server renewing every second: %v, want ErrServerIDInUse", err)
	}
	cancel()
	<-announced
}

// CheckServerIDFree's wait ends with its context (serve passes one that a
// signal cancels), and Start makes no second check after one that found
// the ID free.
func TestCheckServerIDFreeEndsWithItsContext(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	ghost := store.ServerInfo{ID: "web-1", Incarnation: "web-1/ghost", HeartbeatInterval: time.Hour}
	if err := st.Announce(t.Context(), ghost, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	cfg := idConfig("web-1")
	cfg.Registry, cfg.Store = bgtask.NewRegistry(), st
	m, err := bgtask.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := m.CheckServerIDFree(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CheckServerIDFree with a 50 ms context beside a ghost of 1 h heartbeats: %v, want the context's error", err)
	}
	if err := st.Withdraw(t.Context(), ghost.ID, ghost.Incarnation); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckServerIDFree(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Announce(t.Context(), ghost, 2*time.Hour); err != nil { // would hold Start up for 2 h
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopNow(t, m)
}

// A second live server with this server's ID that slipped past the start
// check (started at the same moment) is reported as an error when it
// takes one of this server's tasks.
func TestSameIDTakeoverIsReported(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	g := newGate()
	cfg := idConfig("web-1")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e := setup(t, []bgtask.Definition{{Name: "gated", Run: g.run, Retriable: true, MaxAttempts: 10}}, cfg)
	id := e.submit("gated")
	g.waitEntered(t)
	// The other server: Recover takes an earlier life's records at once
	// (attempt 2), and this one's Recover takes it back (attempt 3).
	got, err := e.store.Recover(t.Context(), store.ClaimParams{Owner: "web-1", Incarnation: "web-1/twin", Names: []string{"gated"}, Limit: 10}, nil)
	if err != nil || len(got) != 1 || got[0].Record.ID != id {
		t.Fatalf("the twin's Recover: %+v, %v; want the running task", got, err)
	}
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(logs.String(), "another live server uses this server ID") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged after the twin took %s:\n%s", id, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "task_id="+id) {
		t.Fatalf("the error does not name the task:\n%s", logs.String())
	}
	g.open()
	e.waitState(id, bgtask.StateSuccess)
}

// Invisible covers the format characters and the other code points that
// render as nothing, and nothing that renders.
func TestInvisible(t *testing.T) {
	for _, r := range []rune{0x200b, 0x202e, 0xfeff, 0x2060, 0x00ad, 0x180e, 0x034f, 0x115f, 0x3164, 0xfe0f, 0xffa0, 0xe0100, 0xe0041} {
		if !bgtask.Invisible(r) {
			t.Errorf("Invisible(%U) = false", r)
		}
	}
	for _, r := range []rune{'a', 'é', 0x0301, '✓', '-', '/', 0x4e2d} {
		if bgtask.Invisible(r) {
			t.Errorf("Invisible(%U) = true", r)
		}
	}
}

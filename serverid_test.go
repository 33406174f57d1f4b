package bgtask_test

import (
	"context"
	"errors"
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

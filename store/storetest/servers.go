package storetest

import (
	"errors"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var serverTests = []test{
	{name: "Servers/AnnounceExpireWithdraw", fn: testServers},
}

func testServers(e *env) {
	t := e.t
	ctx := t.Context()
	a := store.ServerInfo{ID: "web-1", Incarnation: "web-1/1", Host: "h1", PID: 10, StartedAt: T0, Tags: []string{"gpu"}, Names: []string{"job", "other"}, MaxWorkers: 8}
	b := store.ServerInfo{ID: "web-2", Incarnation: "web-2/1", Host: "h2", PID: 11, StartedAt: T0, Names: []string{"job"}, MaxWorkers: 4}
	for _, info := range []store.ServerInfo{a, b} {
		if err := e.s.Announce(ctx, info, 30*time.Second); err != nil {
			t.Fatalf("Announce: %v", err)
		}
	}
	r, _ := e.run(server{a.ID, a.Incarnation}, "job")
	list := func() []store.ServerInfo {
		t.Helper()
		got, err := e.s.Servers(ctx)
		if err != nil {
			t.Fatalf("Servers: %v", err)
		}
		return got
	}
	got := list()
	a.Running, a.SeenAt = []string{r.ID}, T0
	b.Running, b.SeenAt = nil, T0
	if d := DiffServers([]store.ServerInfo{a, b}, got); d != "" {
		t.Fatalf("Servers (-want +got):\n%s", d)
	}
	// Renewed: seen later; b lapses.
	e.clock.Advance(20 * time.Second)
	if err := e.s.Announce(ctx, a, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Second)
	got = list()
	if len(got) != 1 || got[0].ID != "web-1" || !got[0].SeenAt.Equal(At(20*time.Second)) {
		t.Fatalf("Servers after web-2 lapsed = %+v, want web-1 seen at %v", got, At(20*time.Second))
	}
	// A withdrawal by an older incarnation does not remove a newer one.
	if err := e.s.Withdraw(ctx, "web-1", "web-1/0"); err != nil {
		t.Fatal(err)
	}
	if len(list()) != 1 {
		t.Fatal("Withdraw by another incarnation removed the server")
	}
	if err := e.s.Withdraw(ctx, "web-1", "web-1/1"); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("Servers after Withdraw = %+v", got)
	}
	if err := e.s.Announce(ctx, store.ServerInfo{}, time.Second); err == nil || errors.Is(err, store.ErrClosed) {
		t.Fatalf("Announce without an ID: %v, want an error", err)
	}
}

// DiffServers compares server lists, treating nil and empty slices as
// equal and times by Equal.
func DiffServers(want, got []store.ServerInfo) string {
	return cmp.Diff(want, got, cmpEquateEmpty)
}

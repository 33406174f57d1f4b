package bgtask_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// countingStore counts Claim and Recover calls and signals each Recover
// (the start of a sweep).
type countingStore struct {
	store.Store
	mu       sync.Mutex
	claims   int
	recovers chan int // claims so far, at each Recover
}

func (c *countingStore) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	c.mu.Lock()
	c.claims++
	c.mu.Unlock()
	return c.Store.Claim(ctx, p)
}

func (c *countingStore) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	c.mu.Lock()
	n := c.claims
	c.mu.Unlock()
	c.recovers <- n
	return c.Store.Recover(ctx, p, held)
}

// TestFullServerSweepsWithOneClaim: a server whose normal slots are all
// busy (its idle slots free) sweeps for orphans with one claim per
// heartbeat, not a claim loop until its bound: each claim is a store call,
// a round trip on a server store.
func TestFullServerSweepsWithOneClaim(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	st := &countingStore{Store: openStoreAt(t, t.TempDir(), clk), recovers: make(chan int, 100)}
	t.Cleanup(func() { st.Close() })
	g := newGate()
	defer g.open()
	e := setupOn(t, st, []bgtask.Definition{{Name: "hold", Run: g.run}}, &bgtask.Config{
		Clock: clk, MaxWorkers: 1, HeartbeatInterval: time.Second, StaleAfter: 10 * time.Second,
		ProgressInterval: 20 * time.Millisecond, TimeoutGrace: time.Second,
	})
	e.submit("hold")
	g.waitEntered(t)
	next := func() int {
		t.Helper()
		select {
		case n := <-st.recovers:
			return n
		case <-time.After(waitFor):
			t.Fatal("no sweep")
		}
		return 0
	}
	// Drain the sweeps so far, then time two more: the claims between
	// the starts of consecutive sweeps are those of one sweep.
	for len(st.recovers) > 0 {
		<-st.recovers
	}
	clk.Advance(time.Second)
	before := next()
	clk.Advance(time.Second)
	after := next()
	if claims := after - before; claims > 2 {
		t.Fatalf("one sweep of a full server made %d claims, want at most 2", claims)
	}
}

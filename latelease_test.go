package bgtask_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// lateAnswers answers Insert and Claim late when told to: the store does
// the work at once, and the answer reaches the manager after its clock
// moved on by late (a paused Redis, a slow disk).
type lateAnswers struct {
	store.Store
	clk                   *clock.Fake
	late                  time.Duration
	lateInsert, lateClaim atomic.Bool
}

func (s *lateAnswers) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	res, err := s.Store.Insert(ctx, recs)
	if s.lateInsert.Load() {
		s.clk.Advance(s.late)
	}
	return res, err
}

func (s *lateAnswers) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	res, err := s.Store.Claim(ctx, p)
	if len(res) > 0 && s.lateClaim.Load() {
		s.clk.Advance(s.late)
	}
	return res, err
}

// A run whose lease came with a late answer is not stopped at once. The
// lease was counted from the start of the call, so an answer later than
// StaleAfter - HeartbeatInterval (a submit that waited on a paused Redis)
// handed out a run that the lease watch stopped at its next tick ("lease
// lost"), an attempt used up without running (found by a fresh user). The
// manager renews such leases before it runs them.
func TestLateLeaseAnswersDoNotStopTheRun(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"submit", "claim"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			fake := clock.NewFake(time.Now())
			hold, g := newGate(), newGate()
			t.Cleanup(hold.open)
			t.Cleanup(g.open)
			st := &lateAnswers{Store: openStoreAt(t, t.TempDir(), fake), clk: fake, late: 2500 * time.Millisecond}
			t.Cleanup(func() { st.Close() })
			e := setupOn(t, st, []bgtask.Definition{{Name: "hold", Run: hold.run}, {Name: "gated", Run: g.run}},
				&bgtask.Config{Clock: fake, HeartbeatInterval: time.Second, StaleAfter: 3 * time.Second, TimeoutGrace: time.Second, MaxWorkers: 1})
			var id string
			if path == "submit" {
				st.lateInsert.Store(true) // stored already claimed, answered late
				id = e.submit("gated")
			} else {
				e.submit("hold")
				hold.waitEntered(t)
				id = e.submit("gated") // queued: the one slot is taken
				st.lateClaim.Store(true)
				hold.open() // the claimer takes it, answered late
			}
			g.waitEntered(t)
			// Two ticks of the lease watch (every quarter interval): the old
			// code stopped the run at the first.
			for range 2 {
				fake.Advance(250 * time.Millisecond)
				time.Sleep(20 * time.Millisecond)
			}
			g.open()
			info := e.waitState(id, bgtask.StateSuccess)
			if info.Attempt != 1 {
				t.Fatalf("attempt %d, want 1", info.Attempt)
			}
		})
	}
}

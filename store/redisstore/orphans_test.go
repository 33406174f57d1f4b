package redisstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/bgtask/bgtask/store/storetest"
)

// TestOrphanRace: three servers, each on its own Store, race for 1,000
// orphans of a dead server: each orphan goes to exactly one of them, at
// attempt 2.
func TestOrphanRace(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	clk := clock.NewFake(storetest.T0)
	open := func() *redisstore.Store { return newStore(t, srv.URL(0), &redisstore.Config{Clock: clk}) }
	dead := open()
	const n = 1000
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = storetest.Owned("job", "dead", "dead/1")
	}
	if _, err := dead.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	var mu sync.Mutex
	won := map[string]int{}
	var wg sync.WaitGroup
	for i := range 3 {
		s := open()
		wg.Go(func() {
			id := fmt.Sprint("live-", i)
			p := store.ClaimParams{Owner: id, Incarnation: id + "/1", Names: []string{"job"}, Limit: 7, StaleAfter: time.Minute}
			for range n {
				got, err := s.Claim(t.Context(), p)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					won[c.Record.ID]++
					if c.Record.Attempt != 2 || c.PrevOwner != "dead" {
						t.Errorf("orphan %s claimed at attempt %d from %q, want 2 from dead", c.Record.ID, c.Record.Attempt, c.PrevOwner)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(won) != n {
		t.Fatalf("%d of %d orphans taken over", len(won), n)
	}
	for id, k := range won {
		if k != 1 {
			t.Fatalf("orphan %s taken over %d times", id, k)
		}
	}
}

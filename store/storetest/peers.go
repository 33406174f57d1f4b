package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

// peerTests run several store instances on the same data, as several
// servers do.
var peerTests = []test{
	{name: "Peers/ClaimsExclusive", fn: testPeersClaim},
	{name: "Peers/OrphansExclusive", fn: testPeersOrphans},
	{name: "Peers/FencingAcrossInstances", fn: testPeersFencing},
	{name: "Peers/CancelReachesTheOwner", fn: testPeersCancel},
	{name: "Peers/OneLogForAll", fn: testPeersLog},
}

func (e *env) peers(n int) []store.Store {
	e.t.Helper()
	out := []store.Store{e.s}
	for range n - 1 {
		out = append(out, e.opts.NewPeer(e.t, e.s, e.cfg))
	}
	return out
}

func testPeersClaim(e *env) {
	const n = 200
	e.insertMany(n, func(int) string { return "job" })
	e.racePeers(n, 0, 1)
}

// testPeersOrphans: the instances race for the orphans of a dead server;
// each is taken over once, at attempt 2.
func testPeersOrphans(e *env) {
	const n = 300
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = Owned("job", "dead", "dead/1")
	}
	e.insert(recs...)
	e.clock.Advance(time.Hour)
	e.racePeers(n, time.Minute, 2)
}

// racePeers has 4 instances claim "job" records (orphans too with stale)
// until none is left and checks that each of the n records went to
// exactly one of them, at attempt.
func (e *env) racePeers(n int, stale time.Duration, attempt int) {
	t := e.t
	ps := e.peers(4)
	var mu sync.Mutex
	won := map[string]int{}
	var wg sync.WaitGroup
	for i, s := range ps {
		wg.Go(func() {
			id := fmt.Sprint("p", i)
			p := server{id, id + "/1"}.params(3, "job")
			p.StaleAfter = stale
			for range n + 1 {
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
					if c.Record.Attempt != attempt {
						t.Errorf("%s claimed at attempt %d, want %d", c.Record.ID, c.Record.Attempt, attempt)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(won) != n {
		t.Fatalf("%d records claimed across instances, want %d", len(won), n)
	}
	for id, k := range won {
		if k != 1 {
			t.Fatalf("%s claimed %d times across instances", id, k)
		}
	}
}

func testPeersFencing(e *env) {
	t := e.t
	ps := e.peers(2)
	r := Owned("job", s1.id, s1.inc)
	res, err := ps[0].Insert(t.Context(), []*store.Record{r})
	if err != nil {
		t.Fatal(err)
	}
	old := res[0].Lease
	e.clock.Advance(time.Hour)
	p := s2.params(1, "job")
	p.StaleAfter = time.Minute
	got, err := ps[1].Claim(t.Context(), p)
	if err != nil || len(got) != 1 {
		t.Fatalf("takeover through the second instance = %v, %v", got, err)
	}
	// The first instance's owner is refused, through its own instance.
	fin, err := ps[0].Finish(t.Context(), []store.Completion{{Lease: old, State: store.Success}})
	if err != nil || fin[0].Err != store.ErrNotOwner {
		t.Fatalf("Finish under the old lease through the first instance = %+v, %v; want ErrNotOwner", fin, err)
	}
	rn, err := ps[0].Renew(t.Context(), []store.Lease{old})
	if err != nil || !cmp.Equal(rn.Lost, []store.Lease{old}) {
		t.Fatalf("Renew under the old lease = %+v, %v; want lost", rn, err)
	}
	e.wantRefused(old)
}

func testPeersCancel(e *env) {
	t := e.t
	ps := e.peers(2)
	r := Owned("job", s1.id, s1.inc)
	if _, err := ps[0].Insert(t.Context(), []*store.Record{r}); err != nil {
		t.Fatal(err)
	}
	head, err := ps[0].ReadLog(t.Context(), 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan store.LogPage, 1)
	go func() {
		page, err := ps[0].ReadLog(t.Context(), head.Head, 10, waitTimeout)
		if err != nil {
			t.Error(err)
		}
		got <- page
	}()
	if _, err := ps[1].RequestCancel(t.Context(), r.ID); err != nil {
		t.Fatalf("RequestCancel through the other instance: %v", err)
	}
	page := <-got
	if len(page.Events) == 0 || page.Events[0].Kind != store.EventCancel || page.Events[0].Owner != s1.id {
		t.Fatalf("the owner's instance read %+v, want the cancel addressed to %s", page.Events, s1.id)
	}
}

func testPeersLog(e *env) {
	t := e.t
	ps := e.peers(3)
	var wg sync.WaitGroup
	for i, s := range ps {
		wg.Go(func() {
			for range 30 {
				r := Owned("job", fmt.Sprint("p", i), "inc")
				res, err := s.Insert(t.Context(), []*store.Record{r})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Finish(t.Context(), []store.Completion{{Lease: res[0].Lease, State: store.Success}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every instance reads the same log.
	var first []store.Event
	for i, s := range ps {
		var evs []store.Event
		var after uint64
		for range 1000 {
			page, err := s.ReadLog(t.Context(), after, 50, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) == 0 {
				break
			}
			evs = append(evs, page.Events...)
			after = page.Events[len(page.Events)-1].Seq
		}
		e.checkDense(evs, 1)
		if len(evs) != 180 {
			t.Fatalf("instance %d reads %d entries, want 180", i, len(evs))
		}
		if i == 0 {
			first = evs
		} else if d := cmp.Diff(first, evs); d != "" {
			t.Fatalf("instance %d reads another log (-first +this):\n%s", i, d)
		}
	}
}

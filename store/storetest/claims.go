package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var claimTests = []test{
	{"Claim/QueuedFIFO", testClaimFIFO},
	{"Claim/OrphansAfterQueued", testClaimOrphans},
	{"Claim/OnlyOrphans", testClaimOnlyOrphans},
	{"Claim/NamesAndTags", testClaimNamesTags},
	{"Claim/ExclusiveUnderConcurrency", testClaimConcurrent},
	{"Claim/LeaseExpiry", testLeaseExpiry},
	{"Claim/RacesFinish", testClaimRacesFinish},
}

func mustClaim(t *testing.T, s store.Store, p store.ClaimParams) []store.Claimed {
	t.Helper()
	got, err := s.Claim(t.Context(), p)
	if err != nil {
		t.Fatalf("Claim(%+v): %v", p, err)
	}
	if len(got) > p.Limit {
		t.Fatalf("Claim(Limit %d) returned %d records", p.Limit, len(got))
	}
	return got
}

func claimedIDs(cs []store.Claimed) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.Record.ID)
	}
	return ids
}

func testClaimFIFO(t *testing.T, s store.Store) {
	var rs []*store.Record
	for range 5 {
		r := NewRecord("job")
		rs = append(rs, r)
	}
	// Inserted out of order: claims follow IDs (creation order), not
	// insertion order.
	mustInsert(t, s, rs[3], rs[4])
	mustInsert(t, s, rs[0])
	mustInsert(t, s, rs[2], rs[1])

	now := At(time.Minute)
	got := mustClaim(t, s, store.ClaimParams{Owner: "srv-1", Names: []string{"job"}, Limit: 2, Now: now})
	if d := cmp.Diff(recIDs(rs[0], rs[1]), claimedIDs(got)); d != "" {
		t.Fatalf("first claim (-want +got):\n%s", d)
	}
	for i, c := range got {
		want := rs[i].Clone()
		want.State = store.Ongoing
		want.Owner = "srv-1"
		want.HeartbeatAt = now
		want.StartedAt = now
		want.Attempt = 1
		if d := DiffRecord(want, c.Record); d != "" {
			t.Errorf("claimed record (-want +got):\n%s", d)
		}
		if c.PrevOwner != "" {
			t.Errorf("PrevOwner of a queued record = %q, want \"\"", c.PrevOwner)
		}
		if d := DiffRecord(c.Record, mustGet(t, s, c.Record.ID)); d != "" {
			t.Errorf("stored record differs from the claimed one (-claimed +stored):\n%s", d)
		}
	}
	got = mustClaim(t, s, store.ClaimParams{Owner: "srv-2", Names: []string{"job"}, Limit: 10, Now: now})
	if d := cmp.Diff(recIDs(rs[2], rs[3], rs[4]), claimedIDs(got)); d != "" {
		t.Fatalf("second claim (-want +got):\n%s", d)
	}
	got = mustClaim(t, s, store.ClaimParams{Owner: "srv-3", Names: []string{"job"}, Limit: 10, Now: now, StaleBefore: At(time.Second)})
	if len(got) != 0 {
		t.Fatalf("claim of an empty queue with fresh owners returned %v", claimedIDs(got))
	}
	wantCounts(t, s, 5, 0, 0, 0)
}

func testClaimOrphans(t *testing.T, s store.Store) {
	q := NewRecord("job")
	o1 := Owned("job", "dead", At(time.Second))
	o2 := Owned("job", "dead", At(0)) // older heartbeat than o1
	o2.Attempt = 2
	fresh := Owned("job", "alive", At(100*time.Second))
	mine := Owned("job", "me", At(0)) // stale but owned by the claimer
	other := Owned("other", "dead", At(time.Millisecond))
	mustInsert(t, s, o1, o2, fresh, mine, other, q)

	// Without StaleBefore only queued records are claimed.
	got := mustClaim(t, s, store.ClaimParams{Owner: "me", Names: []string{"job"}, Limit: 10, Now: At(200 * time.Second)})
	if d := cmp.Diff(recIDs(q), claimedIDs(got)); d != "" {
		t.Fatalf("claim without StaleBefore (-want +got):\n%s", d)
	}
	if err := s.Release(t.Context(), "me", []string{q.ID}); err != nil {
		t.Fatalf("Release: %v", err)
	}

	now := At(200 * time.Second)
	got = mustClaim(t, s, store.ClaimParams{Owner: "me", Names: []string{"job"}, Limit: 10, Now: now, StaleBefore: At(50 * time.Second)})
	if d := cmp.Diff(recIDs(q, o2, o1), claimedIDs(got)); d != "" {
		t.Fatalf("claim with StaleBefore: queued first, then orphans oldest heartbeat first (-want +got):\n%s", d)
	}
	wantPrev := []string{"", "dead", "dead"}
	wantAttempt := []int{2, 3, 2}
	for i, c := range got {
		if c.PrevOwner != wantPrev[i] {
			t.Errorf("%s: PrevOwner = %q, want %q", c.Record.ID, c.PrevOwner, wantPrev[i])
		}
		if c.Record.Attempt != wantAttempt[i] {
			t.Errorf("%s: Attempt = %d, want %d", c.Record.ID, c.Record.Attempt, wantAttempt[i])
		}
		if c.Record.Owner != "me" || !c.Record.HeartbeatAt.Equal(now) || !c.Record.StartedAt.Equal(now) {
			t.Errorf("%s: owner %q heartbeat %v started %v, want me and %v", c.Record.ID, c.Record.Owner, c.Record.HeartbeatAt, c.Record.StartedAt, now)
		}
	}
	// Fresh leases, the claimer's own records and other names stay.
	for _, r := range []*store.Record{fresh, mine, other} {
		if got := mustGet(t, s, r.ID); got.Owner != r.Owner {
			t.Errorf("%s: owner %q, want %q (not an orphan for this claimer)", r.ID, got.Owner, r.Owner)
		}
	}

	// Limit counts queued and orphans together.
	s2q := NewRecord("job")
	mustInsert(t, s, s2q)
	got = mustClaim(t, s, store.ClaimParams{Owner: "late", Names: []string{"job", "other"}, Limit: 2, Now: At(time.Hour), StaleBefore: At(time.Hour)})
	if d := cmp.Diff(recIDs(s2q, mine), claimedIDs(got)); d != "" {
		t.Fatalf("claim with Limit 2 over one queued and many orphans (-want +got):\n%s", d)
	}
}

func testClaimOnlyOrphans(t *testing.T, s store.Store) {
	q := NewRecord("job")
	o := Owned("job", "dead", At(0))
	mustInsert(t, s, q, o)
	got := mustClaim(t, s, store.ClaimParams{Owner: "me", Names: []string{"job"}, Limit: 10, Now: At(time.Hour), StaleBefore: At(time.Minute), OnlyOrphans: true})
	if d := cmp.Diff(recIDs(o), claimedIDs(got)); d != "" {
		t.Fatalf("OnlyOrphans claim (-want +got):\n%s", d)
	}
	got = mustClaim(t, s, store.ClaimParams{Owner: "me", Names: []string{"job"}, Limit: 10, Now: At(time.Hour)})
	if d := cmp.Diff(recIDs(q), claimedIDs(got)); d != "" {
		t.Fatalf("the queued record after an OnlyOrphans claim (-want +got):\n%s", d)
	}
}

func tagged(name string, tags ...string) *store.Record {
	r := NewRecord(name)
	r.Tags = tags
	return r
}

func testClaimNamesTags(t *testing.T, s store.Store) {
	aPlain := tagged("a")
	aGPU := tagged("a", "gpu")
	aGPUEU := tagged("a", "gpu", "eu")
	bPlain := tagged("b")
	aCPU := tagged("a", "cpu")
	cPlain := tagged("c")
	mustInsert(t, s, aPlain, aGPU, aGPUEU, bPlain, aCPU, cPlain)
	now := At(time.Minute)
	claim := func(owner string, names, tags []string, stale time.Time) []string {
		at := now
		if !stale.IsZero() {
			at = stale.Add(time.Hour) // orphans taken now are fresh
		}
		return claimedIDs(mustClaim(t, s, store.ClaimParams{Owner: owner, Names: names, Tags: tags, Limit: 100, Now: at, StaleBefore: stale}))
	}

	if got := claim("s0", []string{"zzz"}, []string{"gpu"}, time.Time{}); len(got) != 0 {
		t.Fatalf("claim of an unknown name took %v", got)
	}
	// No tags: only untagged records of the names.
	if d := cmp.Diff(recIDs(aPlain), claim("s1", []string{"a"}, nil, time.Time{})); d != "" {
		t.Fatalf("claim of a without tags (-want +got):\n%s", d)
	}
	// Tagged records need a shared tag; one sharing two is claimed once.
	if d := cmp.Diff(recIDs(aGPU, aGPUEU), claim("s2", []string{"a"}, []string{"eu", "gpu", "x"}, time.Time{})); d != "" {
		t.Fatalf("claim of a with tags eu,gpu (-want +got):\n%s", d)
	}
	// Several names: one FIFO over all of them.
	if d := cmp.Diff(recIDs(bPlain, aCPU), claim("s3", []string{"a", "b"}, []string{"cpu"}, time.Time{})); d != "" {
		t.Fatalf("claim of a,b with tag cpu (-want +got):\n%s", d)
	}
	// Orphans obey the same filters (ties in heartbeat: any order).
	later := now.Add(time.Hour)
	sorted := func(ids []string) []string { slices.Sort(ids); return ids }
	if d := cmp.Diff(sorted(recIDs(aPlain, aGPU, aGPUEU)), sorted(claim("s4", []string{"a"}, []string{"gpu"}, later))); d != "" {
		t.Fatalf("orphan claim of a with tag gpu (-want +got):\n%s", d)
	}
	if d := cmp.Diff(recIDs(bPlain), claim("s5", []string{"a", "b"}, nil, later)); d != "" {
		t.Fatalf("orphan claim of a,b without tags (-want +got):\n%s", d)
	}
	if d := cmp.Diff(recIDs(aCPU), claim("s6", []string{"a"}, []string{"cpu"}, later)); d != "" {
		t.Fatalf("orphan claim of a with tag cpu (-want +got):\n%s", d)
	}
	if got := mustGet(t, s, cPlain.ID); got.Owner != "" {
		t.Fatalf("record of name c claimed by %q", got.Owner)
	}
}

func testClaimConcurrent(t *testing.T, s store.Store) {
	const n, claimers = 300, 8
	insertMany(t, s, n, func(int) string { return "job" })

	run := func(round int, stale time.Time) map[string]int {
		var mu sync.Mutex
		won := make(map[string]int)
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for c := range claimers {
			wg.Go(func() {
				owner := fmt.Sprintf("r%d-s%d", round, c)
				for i := 0; ; i++ {
					got, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Names: []string{"job"}, Limit: 1 + (c+i)%7, Now: At(time.Duration(round) * time.Hour), StaleBefore: stale})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, g := range got {
						won[g.Record.ID]++
						if g.Record.Owner != owner || g.Record.Attempt != round {
							errs <- fmt.Errorf("claimed %s: owner %q attempt %d, want %q and %d", g.Record.ID, g.Record.Owner, g.Record.Attempt, owner, round)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return won
	}
	check := func(what string, won map[string]int) {
		t.Helper()
		if len(won) != n {
			t.Fatalf("%s: %d distinct records claimed, want %d", what, len(won), n)
		}
		for id, k := range won {
			if k != 1 {
				t.Fatalf("%s: %s claimed %d times, want exactly once", what, id, k)
			}
		}
	}
	check("queued", run(1, time.Time{}))
	// Every owner is now stale: the orphans are taken over, each once.
	check("orphans", run(2, At(90*time.Minute)))
	wantCounts(t, s, n, 0, 0, 0)
}

func testLeaseExpiry(t *testing.T, s store.Store) {
	kept := Owned("job", "s1", At(0))
	lapsed := Owned("job", "s1", At(0))
	mustInsert(t, s, kept, lapsed)
	hb, err := s.Heartbeat(t.Context(), "s1", []string{kept.ID}, At(40*time.Second))
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if len(hb.Lost) != 0 || len(hb.CancelRequested) != 0 {
		t.Fatalf("Heartbeat = %+v, want nothing lost or cancelled", hb)
	}
	if got := mustGet(t, s, kept.ID).HeartbeatAt; !got.Equal(At(40 * time.Second)) {
		t.Fatalf("HeartbeatAt after Heartbeat = %v, want %v", got, At(40*time.Second))
	}
	// Stale threshold 30 s at T0+45s: the renewed lease holds, the other
	// one lapsed.
	got := mustClaim(t, s, store.ClaimParams{Owner: "s2", Names: []string{"job"}, Limit: 10, Now: At(45 * time.Second), StaleBefore: At(15 * time.Second)})
	if d := cmp.Diff(recIDs(lapsed), claimedIDs(got)); d != "" {
		t.Fatalf("claim of lapsed leases (-want +got):\n%s", d)
	}
	if got[0].PrevOwner != "s1" || got[0].Record.Attempt != 2 {
		t.Fatalf("takeover: PrevOwner %q attempt %d, want s1 and 2", got[0].PrevOwner, got[0].Record.Attempt)
	}
	// The old owner learns it lost the record and must not write it.
	hb, err = s.Heartbeat(t.Context(), "s1", []string{kept.ID, lapsed.ID}, At(46*time.Second))
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if d := cmp.Diff([]string{lapsed.ID}, hb.Lost); d != "" {
		t.Fatalf("Heartbeat.Lost of the old owner (-want +got):\n%s", d)
	}
	if got := mustGet(t, s, lapsed.ID); got.Owner != "s2" || !got.HeartbeatAt.Equal(At(45*time.Second)) {
		t.Fatalf("the old owner's heartbeat changed the taken-over record: owner %q heartbeat %v", got.Owner, got.HeartbeatAt)
	}
	if len(hb.CancelRequested) != 0 {
		t.Fatalf("Heartbeat.CancelRequested = %v, want none", hb.CancelRequested)
	}
}

// testClaimRacesFinish: a stale owner finishing its records while another
// server takes them over as orphans. Each record has exactly one winner:
// either Finish succeeded and nobody claimed it, or the claim won and
// Finish returned ErrNotOwner.
func testClaimRacesFinish(t *testing.T, s store.Store) {
	const n = 200
	rs := make([]*store.Record, n)
	for i := range rs {
		rs[i] = Owned("job", "slow", At(0))
	}
	mustInsert(t, s, rs...)
	finished := make([]bool, n)
	claimed := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		for i, r := range rs {
			_, err := s.Finish(t.Context(), "slow", r.ID, store.Completion{State: store.Success, FinishedAt: At(time.Minute)})
			switch {
			case err == nil:
				finished[i] = true
			case !errors.Is(err, store.ErrNotOwner):
				errs <- fmt.Errorf("Finish(%s): %v, want nil or ErrNotOwner", r.ID, err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			got, err := s.Claim(t.Context(), store.ClaimParams{Owner: "taker", Names: []string{"job"}, Limit: 3, Now: At(time.Hour), StaleBefore: At(time.Minute)})
			if err != nil {
				errs <- err
				return
			}
			if len(got) == 0 {
				return
			}
			for _, c := range got {
				claimed[c.Record.ID] = true
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, r := range rs {
		got := mustGet(t, s, r.ID)
		switch {
		case finished[i] && claimed[r.ID]:
			t.Fatalf("%s was both finished by its owner and claimed by another server", r.ID)
		case finished[i] && got.State != store.Success:
			t.Fatalf("%s: Finish succeeded but the record is %s owned by %q", r.ID, got.State, got.Owner)
		case !finished[i] && (!claimed[r.ID] || got.State != store.Ongoing || got.Owner != "taker"):
			t.Fatalf("%s: Finish lost but the record is %s owned by %q (claimed: %v)", r.ID, got.State, got.Owner, claimed[r.ID])
		}
	}
}

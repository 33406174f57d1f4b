package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var claimTests = []test{
	{name: "Claim/QueuedFIFO", fn: testClaimFIFO},
	{name: "Claim/OrphansAfterQueued", fn: testClaimOrphans},
	{name: "Claim/NamesAndTags", fn: testClaimNamesTags},
	{name: "Claim/PriorityLimits", fn: testClaimPriorities},
	{name: "Claim/ExclusiveUnderConcurrency", fn: testClaimConcurrent},
	{name: "Claim/LeaseAgeByStoreClock", fn: testLeaseExpiry},
	{name: "Claim/LeaseAgeAfterRenewingAll", fn: testLeaseAgeAfterRenewingAll},
	{name: "Claim/RacesFinish", fn: testClaimRacesFinish},
	{name: "Claim/ExhaustedAttempts", fn: testClaimExhausted},
	{name: "Claim/EndedByTheStoreEndsSubtasks", fn: testEndedSubtasks},
	{name: "Claim/ResetsTheAttempt", fn: testClaimResets},
}

var (
	s1 = server{"srv-1", "srv-1/i1"}
	s2 = server{"srv-2", "srv-2/i1"}
	s3 = server{"srv-3", "srv-3/i1"}
)

func testClaimFIFO(e *env) {
	t := e.t
	var rs []*store.Record
	for range 5 {
		rs = append(rs, NewRecord("job"))
	}
	// Inserted out of order: claims follow IDs (creation order), not
	// insertion order.
	e.insert(rs[3], rs[4])
	e.insert(rs[0])
	e.insert(rs[2], rs[1])

	e.clock.Advance(time.Minute)
	head := e.head()
	got := e.claim(s1.params(2, "job"))
	if d := cmp.Diff(recIDs(rs[0], rs[1]), claimedIDs(got)); d != "" {
		t.Fatalf("first claim (-want +got):\n%s", d)
	}
	for i, c := range got {
		want := rs[i].Clone()
		want.State = store.Ongoing
		want.Owner, want.Incarnation = s1.id, s1.inc
		want.HeartbeatAt, want.StartedAt = At(time.Minute), At(time.Minute)
		want.Attempt, want.Fence = 1, 1
		want.EventSeq = head + 1 + uint64(i)
		if d := DiffRecord(want, c.Record); d != "" {
			t.Errorf("claimed record (-want +got):\n%s", d)
		}
		if c.PrevOwner != "" || c.Exhausted {
			t.Errorf("claim of a queued record: PrevOwner %q, Exhausted %v; want \"\", false", c.PrevOwner, c.Exhausted)
		}
		if wantL := (store.Lease{ID: rs[i].ID, Owner: s1.id, Incarnation: s1.inc, Attempt: 1, Fence: 1}); c.Lease != wantL {
			t.Errorf("lease = %v, want %v", c.Lease, wantL)
		}
		if d := DiffRecord(c.Record, e.get(c.Record.ID)); d != "" {
			t.Errorf("stored record differs from the claimed one (-claimed +stored):\n%s", d)
		}
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff([]string{ev(store.EventStarted, rs[0].ID), ev(store.EventStarted, rs[1].ID)}, evs); d != "" {
		t.Errorf("events of the claim (-want +got):\n%s", d)
	}
	got = e.claim(s2.params(10, "job"))
	if d := cmp.Diff(recIDs(rs[2], rs[3], rs[4]), claimedIDs(got)); d != "" {
		t.Fatalf("second claim (-want +got):\n%s", d)
	}
	p := s3.params(10, "job")
	p.StaleAfter = 30 * time.Second
	if got := e.claim(p); len(got) != 0 {
		t.Fatalf("claim of an empty queue with fresh owners returned %v", claimedIDs(got))
	}
	e.wantCounts(5, 0, 0, 0)
}

func testClaimOrphans(e *env) {
	t := e.t
	dead := server{"dead", "dead/1"}
	alive := server{"alive", "alive/1"}
	me := server{"me", "me/1"}
	o2, _ := e.run(dead, "job") // oldest renewal
	e.clock.Advance(time.Second)
	o1, _ := e.run(dead, "job")
	mine, _ := e.run(me, "job") // stale, but the claimer's own: not an orphan for Claim
	other, _ := e.run(dead, "other")
	e.clock.Advance(100 * time.Second)
	fresh, _ := e.run(alive, "job")
	q := NewRecord("job")
	e.insert(q)

	// Without StaleAfter only queued records are claimed.
	got := e.claim(me.params(10, "job"))
	if d := cmp.Diff(recIDs(q), claimedIDs(got)); d != "" {
		t.Fatalf("claim without StaleAfter (-want +got):\n%s", d)
	}
	if lost := e.release(store.Patch{Lease: got[0].Lease}); len(lost) != 0 {
		t.Fatalf("Release of the claimer's own lease reported lost %v", lost)
	}

	p := me.params(10, "job")
	p.StaleAfter = 50 * time.Second
	got = e.claim(p)
	if d := cmp.Diff(recIDs(q, o2, o1), claimedIDs(got)); d != "" {
		t.Fatalf("claim with StaleAfter: queued first, then orphans oldest renewal first (-want +got):\n%s", d)
	}
	wantPrev := []string{"", "dead", "dead"}
	for i, c := range got {
		if c.PrevOwner != wantPrev[i] || c.Record.Attempt != 2-boolInt(i == 0) {
			t.Errorf("%s: PrevOwner %q attempt %d, want %q and %d", c.Record.ID, c.PrevOwner, c.Record.Attempt, wantPrev[i], 2-boolInt(i == 0))
		}
		if c.Record.Owner != me.id || c.Record.Incarnation != me.inc || !c.Record.HeartbeatAt.Equal(e.clock.Now()) || !c.Record.StartedAt.Equal(e.clock.Now()) {
			t.Errorf("%s: owner %q/%q heartbeat %v started %v, want me at %v", c.Record.ID, c.Record.Owner, c.Record.Incarnation, c.Record.HeartbeatAt, c.Record.StartedAt, e.clock.Now())
		}
	}
	// Fresh leases, the claimer's own records and other names stay.
	for _, r := range []*store.Record{fresh, mine, other} {
		if got := e.get(r.ID); got.Owner != r.Owner || got.Fence != r.Fence {
			t.Errorf("%s: owner %q fence %d, want %q %d (not an orphan for this claimer)", r.ID, got.Owner, got.Fence, r.Owner, r.Fence)
		}
	}

	// Limit counts queued and orphans together.
	q2 := NewRecord("job")
	e.insert(q2)
	e.clock.Advance(time.Hour)
	p = server{"late", "late/1"}.params(2, "job", "other")
	p.StaleAfter = time.Minute
	got = e.claim(p)
	if len(got) != 2 || got[0].Record.ID != q2.ID {
		t.Fatalf("claim with Limit 2 over one queued and many orphans = %v, want %s first", claimedIDs(got), q2.ID)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tagged(name string, tags ...string) *store.Record {
	r := NewRecord(name)
	r.Tags = tags
	return r
}

func testClaimNamesTags(e *env) {
	t := e.t
	aPlain := tagged("a")
	aGPU := tagged("a", "gpu")
	aGPUEU := tagged("a", "gpu", "eu")
	bPlain := tagged("b")
	aCPU := tagged("a", "cpu")
	cPlain := tagged("c")
	e.insert(aPlain, aGPU, aGPUEU, bPlain, aCPU, cPlain)
	claim := func(id string, names, tags []string, orphans bool) []string {
		p := server{id, id + "/1"}.params(100, names...)
		p.Tags = tags
		if orphans {
			// Records claimed before the jump are orphans now; those
			// claimed after it are fresh.
			p.StaleAfter = time.Minute
		}
		return claimedIDs(e.claim(p))
	}

	if got := claim("s0", []string{"zzz"}, []string{"gpu"}, false); len(got) != 0 {
		t.Fatalf("claim of an unknown name took %v", got)
	}
	if got := claim("s0", nil, nil, false); len(got) != 0 {
		t.Fatalf("claim with no names took %v", got)
	}
	// No tags: only untagged records of the names.
	if d := cmp.Diff(recIDs(aPlain), claim("s1", []string{"a"}, nil, false)); d != "" {
		t.Fatalf("claim of a without tags (-want +got):\n%s", d)
	}
	// Tagged records need a shared tag; one sharing two is claimed once.
	if d := cmp.Diff(recIDs(aGPU, aGPUEU), claim("s2", []string{"a"}, []string{"eu", "gpu", "x"}, false)); d != "" {
		t.Fatalf("claim of a with tags eu,gpu (-want +got):\n%s", d)
	}
	// Several names: one FIFO over all of them.
	if d := cmp.Diff(recIDs(bPlain, aCPU), claim("s3", []string{"a", "b"}, []string{"cpu"}, false)); d != "" {
		t.Fatalf("claim of a,b with tag cpu (-want +got):\n%s", d)
	}
	// Orphans obey the same filters (ties in renewal time: any order).
	e.clock.Advance(time.Hour)
	if d := cmp.Diff(sorted(recIDs(aPlain, aGPU, aGPUEU)...), sorted(claim("s4", []string{"a"}, []string{"gpu"}, true)...)); d != "" {
		t.Fatalf("orphan claim of a with tag gpu (-want +got):\n%s", d)
	}
	if d := cmp.Diff(recIDs(bPlain), claim("s5", []string{"a", "b"}, nil, true)); d != "" {
		t.Fatalf("orphan claim of a,b without tags (-want +got):\n%s", d)
	}
	if d := cmp.Diff(recIDs(aCPU), claim("s6", []string{"a"}, []string{"cpu"}, true)); d != "" {
		t.Fatalf("orphan claim of a with tag cpu (-want +got):\n%s", d)
	}
	if got := e.get(cPlain.ID); got.Owner != "" {
		t.Fatalf("record of name c claimed by %q", got.Owner)
	}
}

func testClaimPriorities(e *env) {
	t := e.t
	var normal, idle []*store.Record
	for i := range 6 {
		r := NewRecord("job")
		if i%2 == 1 {
			r.Priority = store.PriorityIdle
			idle = append(idle, r)
		} else {
			normal = append(normal, r)
		}
		e.insert(r)
	}
	// Limit and IdleLimit are separate budgets, each FIFO.
	p := s1.params(0, "job")
	p.Limit, p.IdleLimit = 1, 2
	got := e.claim(p)
	if d := cmp.Diff(sorted(recIDs(normal[0], idle[0], idle[1])...), sorted(claimedIDs(got)...)); d != "" {
		t.Fatalf("claim with Limit 1, IdleLimit 2 (-want +got):\n%s", d)
	}
	p.Limit, p.IdleLimit = 5, 0
	if d := cmp.Diff(recIDs(normal[1], normal[2]), claimedIDs(e.claim(p))); d != "" {
		t.Fatalf("claim with IdleLimit 0 (-want +got):\n%s", d)
	}
	p.Limit, p.IdleLimit = 0, 5
	if d := cmp.Diff(recIDs(idle[2]), claimedIDs(e.claim(p))); d != "" {
		t.Fatalf("claim with Limit 0 (-want +got):\n%s", d)
	}
	// Orphans too.
	e.clock.Advance(time.Hour)
	p = s2.params(0, "job")
	p.IdleLimit, p.StaleAfter = 10, time.Minute
	if d := cmp.Diff(sorted(recIDs(idle...)...), sorted(claimedIDs(e.claim(p))...)); d != "" {
		t.Fatalf("orphan claim with Limit 0 (-want +got):\n%s", d)
	}
}

func testClaimConcurrent(e *env) {
	t := e.t
	const n, claimers = 300, 8
	e.insertMany(n, func(int) string { return "job" })

	run := func(round int, stale time.Duration) map[string]int {
		var mu sync.Mutex
		won := make(map[string]int)
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for c := range claimers {
			wg.Go(func() {
				id := fmt.Sprintf("r%d-s%d", round, c)
				sv := server{id, id + "/1"}
				for i := range n + 1 {
					p := sv.params(1+(c+i)%7, "job")
					p.StaleAfter = stale
					got, err := e.s.Claim(t.Context(), p)
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
						if g.Record.Owner != sv.id || g.Record.Attempt != round || g.Lease.Attempt != round {
							errs <- fmt.Errorf("claimed %s: owner %q attempt %d, want %q and %d", g.Record.ID, g.Record.Owner, g.Record.Attempt, sv.id, round)
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
	check("queued", run(1, 0))
	// Every owner is now stale: the orphans are taken over, each once.
	e.clock.Advance(time.Hour)
	check("orphans", run(2, time.Minute))
	e.wantCounts(n, 0, 0, 0)
}

func testLeaseExpiry(e *env) {
	t := e.t
	kept, kl := e.run(s1, "job")
	lapsed, ll := e.run(s1, "job")
	e.clock.Advance(40 * time.Second)
	res := e.renew(kl)
	if len(res.Lost) != 0 || len(res.CancelRequested) != 0 {
		t.Fatalf("Renew = %+v, want nothing lost or cancelled", res)
	}
	if got := e.get(kept.ID).HeartbeatAt; !got.Equal(At(40 * time.Second)) {
		t.Fatalf("HeartbeatAt after Renew = %v, want the store's clock %v", got, At(40*time.Second))
	}
	// Stale threshold 30 s at T0+45s: the renewed lease holds, the other
	// one lapsed.
	e.clock.Advance(5 * time.Second)
	p := s2.params(10, "job")
	p.StaleAfter = 30 * time.Second
	got := e.claim(p)
	if d := cmp.Diff(recIDs(lapsed), claimedIDs(got)); d != "" {
		t.Fatalf("claim of lapsed leases (-want +got):\n%s", d)
	}
	if got[0].PrevOwner != s1.id || got[0].Record.Attempt != 2 || got[0].Lease.Fence != ll.Fence+1 {
		t.Fatalf("takeover: PrevOwner %q attempt %d fence %d, want %s, 2, %d", got[0].PrevOwner, got[0].Record.Attempt, got[0].Lease.Fence, s1.id, ll.Fence+1)
	}
	// The old owner learns it lost the record and cannot renew it.
	e.clock.Advance(time.Second)
	res = e.renew(kl, ll)
	if d := cmp.Diff([]store.Lease{ll}, res.Lost); d != "" {
		t.Fatalf("Renew.Lost of the old owner (-want +got):\n%s", d)
	}
	if got := e.get(lapsed.ID); got.Owner != s2.id || !got.HeartbeatAt.Equal(At(45*time.Second)) {
		t.Fatalf("the old owner's renewal changed the taken-over record: owner %q heartbeat %v", got.Owner, got.HeartbeatAt)
	}
}

// testLeaseAgeAfterRenewingAll: a Renew of every lease a server holds
// renews exactly those: a record it claims afterwards ages from its own
// claim, and a record it gave up before the Renew is not renewed by it.
func testLeaseAgeAfterRenewingAll(e *env) {
	t := e.t
	a, al := e.run(s1, "job")
	b, bl := e.run(s1, "job")
	given, gl := e.run(s1, "job")
	if lost := e.release(store.Patch{Lease: gl}); len(lost) != 0 {
		t.Fatalf("Release = %v", lost)
	}
	e.clock.Advance(40 * time.Second)
	if res := e.renew(al, bl); len(res.Lost) != 0 || len(res.CancelRequested) != 0 {
		t.Fatalf("Renew of every held lease = %+v, want nothing lost or cancelled", res)
	}
	e.clock.Advance(5 * time.Second)
	c, _ := e.run(s1, "job")
	e.clock.Advance(5 * time.Second)
	for _, w := range []struct {
		id   string
		want time.Duration
	}{{a.ID, 40 * time.Second}, {b.ID, 40 * time.Second}, {c.ID, 45 * time.Second}} {
		if got := e.get(w.id).HeartbeatAt; !got.Equal(At(w.want)) {
			t.Errorf("%s: HeartbeatAt = %v, want %v", w.id, got, At(w.want))
		}
	}
	// At T0+71s with a 30 s threshold: a and b (renewed at 40 s) lapsed,
	// c (claimed at 45 s) did not; the released record is queued.
	e.clock.Advance(21 * time.Second)
	p := s2.params(10, "job")
	p.StaleAfter = 30 * time.Second
	got := e.claim(p)
	if d := cmp.Diff(recIDs(given, a, b), claimedIDs(got)); d != "" {
		t.Fatalf("claim at T0+71s (-want +got):\n%s", d)
	}
	if got := e.get(c.ID); got.Owner != s1.id {
		t.Fatalf("%s, claimed 26 s ago, was taken over by %q", c.ID, got.Owner)
	}
}

// testClaimRacesFinish: a stale owner finishing its records while another
// server takes them over as orphans. Each record has exactly one winner:
// either Finish succeeded and nobody claimed it, or the claim won and
// Finish returned ErrNotOwner.
func testClaimRacesFinish(e *env) {
	t := e.t
	const n = 200
	slow := server{"slow", "slow/1"}
	rs := make([]*store.Record, n)
	ls := make([]store.Lease, n)
	for i := range rs {
		rs[i], ls[i] = e.run(slow, "job")
	}
	e.clock.Advance(time.Hour)
	finished := make([]bool, n)
	claimed := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		for i, l := range ls {
			res, err := e.s.Finish(t.Context(), []store.Completion{{Lease: l, State: store.Success}})
			switch {
			case err != nil:
				errs <- err
				return
			case res[0].Err == nil:
				finished[i] = true
			case res[0].Err != store.ErrNotOwner:
				errs <- fmt.Errorf("Finish(%s): %v, want nil or ErrNotOwner", l, res[0].Err)
				return
			}
		}
	})
	wg.Go(func() {
		for range n + 1 {
			p := server{"taker", "taker/1"}.params(3, "job")
			p.StaleAfter = time.Minute
			got, err := e.s.Claim(t.Context(), p)
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
		got := e.get(r.ID)
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

// testClaimExhausted: every claim checks the attempt limit. An orphan at its
// limit ends FAILURE with its attempt unchanged and a failed event; one
// below it runs again.
func testClaimExhausted(e *env) {
	t := e.t
	once := Owned("job", s1.id, s1.inc)
	once.MaxAttempts = 1
	twice := Owned("job", s1.id, s1.inc)
	twice.MaxAttempts = 2
	unlimited := Owned("job", s1.id, s1.inc)
	e.insert(once, twice, unlimited)
	e.clock.Advance(time.Hour)
	head := e.head()
	p := s2.params(10, "job")
	p.StaleAfter = time.Minute
	got := e.claim(p)
	if d := cmp.Diff(sorted(recIDs(once, twice, unlimited)...), sorted(claimedIDs(got)...)); d != "" {
		t.Fatalf("claim of three orphans (-want +got):\n%s", d)
	}
	for _, c := range got {
		switch c.Record.ID {
		case once.ID:
			r := c.Record
			if !c.Exhausted || !c.Lease.IsZero() || r.State != store.Failure || r.Attempt != 1 || r.Owner != "" ||
				r.Error != "orphaned after 1 attempt" || r.ExitCode == nil || *r.ExitCode != 1 || !r.FinishedAt.Equal(e.clock.Now()) {
				t.Errorf("orphan at its limit: exhausted %v lease %v record %+v; want FAILURE \"orphaned after 1 attempt\", attempt 1, exit 1", c.Exhausted, c.Lease, r)
			}
			if d := DiffRecord(r, e.get(r.ID)); d != "" {
				t.Errorf("stored exhausted record differs (-claimed +stored):\n%s", d)
			}
		default:
			if c.Exhausted || c.Record.Attempt != 2 || c.Record.State != store.Ongoing {
				t.Errorf("orphan below its limit: exhausted %v attempt %d state %s; want a run at attempt 2", c.Exhausted, c.Record.Attempt, c.Record.State)
			}
		}
	}
	evs, events := e.eventsSince(head)
	if d := cmp.Diff(sorted(ev(store.EventFailed, once.ID), ev(store.EventStarted, twice.ID), ev(store.EventStarted, unlimited.ID)), sorted(evs...)); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	for _, ev := range events {
		if ev.Kind == store.EventFailed && (ev.Error != "orphaned after 1 attempt" || ev.Attempt != 1 || ev.State != store.Failure) {
			t.Errorf("failed event %+v", ev)
		}
	}
	// Twice at its limit now: the next takeover ends it.
	e.clock.Advance(time.Hour)
	p = s3.params(10, "job")
	p.StaleAfter = time.Minute
	for _, c := range e.claim(p) {
		if c.Record.ID == twice.ID && (!c.Exhausted || c.Record.Error != "orphaned after 2 attempts" || c.Record.Attempt != 2) {
			t.Errorf("second takeover at the limit: %+v, want exhausted after 2 attempts", c)
		}
		if c.Record.ID == unlimited.ID && (c.Exhausted || c.Record.Attempt != 3) {
			t.Errorf("unlimited record: %+v, want attempt 3", c)
		}
	}
	e.wantCounts(1, 0, 2, 0)
}

// testClaimResets: the stored record describes the current attempt. What a
// new attempt does not carry over (progress, unfinished subtasks' state,
// progress and errors) is reset in the store at the claim.
func testClaimResets(e *env) {
	t := e.t
	r, l := e.run(s1, "job")
	subs := []store.Subtask{
		{Key: "a", State: store.Success, Progress: store.Progress{Current: 1, Total: 1, Message: "a done"}},
		{Key: "b", State: store.Ongoing, Progress: store.Progress{Current: 0.5, Total: 1, Message: "b half"}},
		{Key: "c", State: store.Failure, Error: "c broke"},
	}
	if lost := e.update(store.Patch{Lease: l, Progress: &store.Progress{Current: 7, Total: 9, Message: "old"}, Subtasks: subs}); len(lost) != 0 {
		t.Fatalf("Update lost %v", lost)
	}
	e.clock.Advance(time.Hour)
	p := s2.params(1, "job")
	p.StaleAfter = time.Minute
	got := e.claim(p)
	if len(got) != 1 {
		t.Fatalf("takeover claimed %d records", len(got))
	}
	want := []store.Subtask{subs[0], {Key: "b", State: store.SubtaskPending}, {Key: "c", State: store.SubtaskPending}}
	for _, rec := range []*store.Record{got[0].Record, e.get(r.ID)} {
		if rec.Progress != (store.Progress{}) {
			t.Errorf("progress after takeover = %+v, want zero (a new attempt starts from zero)", rec.Progress)
		}
		if d := cmp.Diff(want, rec.Subtasks); d != "" {
			t.Errorf("subtasks after takeover: succeeded kept, the rest pending (-want +got):\n%s", d)
		}
	}
}

// testEndedSubtasks: a parallel record the store ends itself (an orphan
// out of attempts, a cancel of an unowned record) gives its subtasks
// that never finished its state and error, as a run's outcome does, so
// that a retry re-runs an orphan's; succeeded subtasks keep theirs.
func testEndedSubtasks(e *env) {
	t := e.t
	subs := func() []store.Subtask {
		return []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Ongoing}, {Key: "c", State: store.SubtaskPending}}
	}
	orphan := Owned("job", s1.id, s1.inc)
	orphan.MaxAttempts = 1
	orphan.Subtasks = subs()
	queued := NewRecord("job", "q")
	queued.Subtasks = subs()
	e.insert(orphan, queued)
	if _, err := e.s.RequestCancel(t.Context(), queued.ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	e.clock.Advance(time.Hour)
	p := s2.params(10, "other")
	p.StaleAfter = time.Minute
	p.Names = []string{"job"}
	e.claim(p)
	for _, c := range []struct {
		id  string
		st  store.State
		err string
	}{{orphan.ID, store.Failure, "orphaned after 1 attempt"}, {queued.ID, store.Cancelled, "cancelled"}} {
		r := e.get(c.id)
		want := []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: c.st, Error: c.err}, {Key: "c", State: c.st, Error: c.err}}
		if r.State != c.st {
			t.Fatalf("%s is %s, want %s", c.id, r.State, c.st)
		}
		if d := cmp.Diff(want, r.Subtasks); d != "" {
			t.Errorf("%s: subtasks (-want +got):\n%s", c.id, d)
		}
		if c.st != store.Failure {
			continue // (Retry re-runs failed subtasks: a cancelled task's are not)
		}
		got, err := e.s.Retry(t.Context(), c.id, store.RetryParams{Attempts: 1})
		if err != nil || got.State != store.Ongoing {
			t.Errorf("%s: Retry = %+v, %v; want it ONGOING again", c.id, got, err)
		}
	}
}

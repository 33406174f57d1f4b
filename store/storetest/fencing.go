package storetest

import (
	"errors"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var fencingTests = []test{
	{name: "Fencing/OldAttemptAfterTakeover", fn: testFenceTakeover},
	{name: "Fencing/OldAttemptAfterRetryOnSameServer", fn: testFenceRetrySameServer},
	{name: "Fencing/OldLeaseAfterReleaseAndReclaim", fn: testFenceRelease},
	{name: "Fencing/FinishIsIdempotentByLease", fn: testFinishIdempotent},
	{name: "Recover/EarlierLifeOfThisServer", fn: testRecoverEarlierLife},
	{name: "Recover/ClaimedButNeverStarted", fn: testRecoverNeverStarted},
	{name: "Recover/AbandonedRunIsAnAttempt", fn: testRecoverAbandoned},
	{name: "Recover/ExhaustedAndLimits", fn: testRecoverExhausted},
}

// wantRefused checks that every owner write under l is refused and changes
// nothing.
func (e *env) wantRefused(l store.Lease) {
	e.t.Helper()
	before := e.get(l.ID)
	p := &store.Progress{Current: 99, Message: "stale writer"}
	if res := e.renew(l); !cmp.Equal(res.Lost, []store.Lease{l}) {
		e.t.Errorf("Renew under a stale lease: lost %v, want it", res.Lost)
	}
	if lost := e.update(store.Patch{Lease: l, Progress: p}); !cmp.Equal(lost, []store.Lease{l}) {
		e.t.Errorf("Update under a stale lease: lost %v, want it", lost)
	}
	if res := e.finishAll(store.Completion{Lease: l, State: store.Failure, Error: "stale"}); !errors.Is(res[0].Err, store.ErrNotOwner) {
		e.t.Errorf("Finish under a stale lease: %v, want ErrNotOwner", res[0].Err)
	}
	if lost := e.release(store.Patch{Lease: l, Progress: p}); !cmp.Equal(lost, []store.Lease{l}) {
		e.t.Errorf("Release under a stale lease: lost %v, want it", lost)
	}
	if d := DiffRecord(before, e.get(l.ID)); d != "" {
		e.t.Errorf("writes under a stale lease changed the record (-before +after):\n%s", d)
	}
}

func testFenceTakeover(e *env) {
	t := e.t
	r, old := e.run(s1, "job")
	e.clock.Advance(time.Hour)
	p := s2.params(1, "job")
	p.StaleAfter = time.Minute
	got := e.claim(p)
	if len(got) != 1 || got[0].Record.ID != r.ID {
		t.Fatalf("takeover = %v", claimedIDs(got))
	}
	e.wantRefused(old)
	// The new owner writes as usual.
	if lost := e.update(store.Patch{Lease: got[0].Lease, Progress: &store.Progress{Current: 1}}); len(lost) != 0 {
		t.Fatalf("Update by the new owner lost %v", lost)
	}
	e.finish(got[0].Lease, store.Success)
	e.wantRefused(old)
}

// testFenceRetrySameServer: the same server (same incarnation) runs the
// task again after Retry; the run it gave up on must not write into the
// new attempt.
func testFenceRetrySameServer(e *env) {
	t := e.t
	r := Owned("job", s1.id, s1.inc)
	r.Subtasks = []store.Subtask{{Key: "a", State: store.Ongoing}}
	old := e.insert(r)[0].Lease
	e.finishAll(store.Completion{Lease: old, State: store.Failure, Subtasks: []store.Subtask{{Key: "a", State: store.Failure, Error: "x"}}})
	if _, err := e.s.Retry(t.Context(), r.ID, store.RetryParams{}); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	got := e.claim(s1.params(1, "job"))
	if len(got) != 1 || got[0].Lease == old || got[0].Lease.Fence <= old.Fence {
		t.Fatalf("claim after Retry = %+v, want a new lease with a higher fence than %v", got, old)
	}
	e.wantRefused(old)
}

func testFenceRelease(e *env) {
	t := e.t
	_, l := e.run(s1, "job")
	if lost := e.release(store.Patch{Lease: l}); len(lost) != 0 {
		t.Fatalf("Release lost %v", lost)
	}
	got := e.claim(s1.params(1, "job"))
	if len(got) != 1 {
		t.Fatalf("reclaim after Release = %v", claimedIDs(got))
	}
	if got[0].Record.Attempt != 1 {
		t.Errorf("attempt after a hand-back and a reclaim = %d, want 1 (a hand-back gives its attempt back)", got[0].Record.Attempt)
	}
	if got[0].Lease == l {
		t.Fatalf("the reclaim by the same incarnation returned the released lease %v again", l)
	}
	e.wantRefused(l)
}

func testFinishIdempotent(e *env) {
	t := e.t
	r, l := e.run(s1, "job")
	head := e.head()
	c := store.Completion{Lease: l, State: store.Success, Progress: &store.Progress{Current: 1, Total: 1}}
	first := e.finishAll(c)[0]
	if first.Err != nil {
		t.Fatalf("Finish: %v", first.Err)
	}
	firstRec := e.get(r.ID)
	e.clock.Advance(time.Minute)
	// The answer was lost; the caller repeats the call.
	again := e.finishAll(c)[0]
	if again.Err != nil {
		t.Fatalf("repeated Finish under the same lease: %v, want the stored record", again.Err)
	}
	if d := DiffRecord(firstRec, e.get(r.ID)); d != "" {
		t.Fatalf("repeated Finish changed the record (-first +again):\n%s", d)
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff([]string{ev(store.EventUpdated, r.ID), ev(store.EventDone, r.ID)}, evs); d != "" {
		t.Fatalf("events of a repeated Finish: the final progress and one terminal event (-want +got):\n%s", d)
	}
	// Another outcome under the same lease does not overwrite the first.
	if res := e.finishAll(store.Completion{Lease: l, State: store.Failure})[0]; res.Err != nil {
		t.Fatalf("second Finish with another state = %+v, want no error", res)
	}
	if got := e.get(r.ID); got.State != store.Success {
		t.Fatalf("second Finish with another state stored %s, want the first SUCCESS kept", got.State)
	}
	// Unknown record.
	if res := e.finishAll(store.Completion{Lease: store.Lease{ID: NewID(), Owner: "x", Incarnation: "x", Fence: 1}, State: store.Success})[0]; !errors.Is(res.Err, store.ErrNotFound) {
		t.Fatalf("Finish of an unknown record: %v, want ErrNotFound", res.Err)
	}
}

// testRecoverEarlierLife: a server restarted with the same ID (a new
// incarnation) gets the records of its earlier life back at once, as
// orphans, without waiting for their leases to age.
func testRecoverEarlierLife(e *env) {
	t := e.t
	old := server{"web-1", "web-1/life-1"}
	now := server{"web-1", "web-1/life-2"}
	a, al := e.run(old, "job")
	b, _ := e.run(old, "job")
	otherName, _ := e.run(old, "other")
	alive, _ := e.run(s2, "job") // another live server: never recovered
	e.clock.Advance(time.Second)
	head := e.head()
	got := e.recover(now.params(10, "job"))
	if d := cmp.Diff(sorted(recIDs(a, b)...), sorted(claimedIDs(got)...)); d != "" {
		t.Fatalf("Recover by the new life (-want +got):\n%s", d)
	}
	for _, c := range got {
		if c.Record.Attempt != 2 || c.PrevOwner != "web-1" || c.Record.Incarnation != now.inc || c.Lease.Incarnation != now.inc {
			t.Errorf("recovered %s: attempt %d prev %q incarnation %q, want attempt 2 from web-1 under %s", c.Record.ID, c.Record.Attempt, c.PrevOwner, c.Record.Incarnation, now.inc)
		}
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff(sorted(ev(store.EventStarted, a.ID), ev(store.EventStarted, b.ID)), sorted(evs...)); d != "" {
		t.Errorf("events of Recover (-want +got):\n%s", d)
	}
	if got := e.get(otherName.ID); got.Incarnation != old.inc {
		t.Errorf("Recover took a record of a name the server cannot run")
	}
	if got := e.get(alive.ID); got.Owner != s2.id {
		t.Errorf("Recover took another live server's record")
	}
	e.wantRefused(al)
	// Recovering again finds nothing: the records are held now.
	var held []store.Lease
	for _, c := range got {
		held = append(held, c.Lease)
	}
	if again := e.recover(now.params(10, "job"), held...); len(again) != 0 {
		t.Fatalf("second Recover with the leases held = %v, want none", claimedIDs(again))
	}
}

// testRecoverNeverStarted: a claim whose answer was lost leaves records
// owned by this incarnation that it does not run. Recover hands them back
// to it with the same attempt (they never started) under a new lease.
func testRecoverNeverStarted(e *env) {
	t := e.t
	running, rl := e.run(s1, "job")
	lostAnswer := NewRecord("job")
	e.insert(lostAnswer)
	cl := e.claim(s1.params(1, "job"))
	if len(cl) != 1 {
		t.Fatalf("claim = %v", claimedIDs(cl))
	}
	got := e.recover(s1.params(10, "job"), rl)
	if d := cmp.Diff(recIDs(lostAnswer), claimedIDs(got)); d != "" {
		t.Fatalf("Recover of a claimed but not started record (-want +got):\n%s", d)
	}
	if c := got[0]; c.Record.Attempt != 1 || c.Lease.Attempt != 1 || c.Lease == cl[0].Lease || c.PrevOwner != s1.id {
		t.Fatalf("recovered record: attempt %d lease %v prev %q; want attempt 1, a new lease, prev %s", c.Record.Attempt, c.Lease, c.PrevOwner, s1.id)
	}
	if got := e.get(running.ID); got.Fence != rl.Fence {
		t.Fatalf("Recover re-leased a record under a held lease")
	}
}

// testRecoverAbandoned: runs this incarnation started and stopped without
// an outcome (its lease could not be renewed in time) are recovered as a
// new attempt, not as claims whose answer was lost: a record out of
// attempts ends FAILURE, the others run again with Attempt + 1. (Found by
// a tester: after a store outage longer than the lease, a non-retriable
// task ran twice, both times as attempt 1.)
func testRecoverAbandoned(e *env) {
	t := e.t
	once := Owned("job", s1.id, s1.inc)
	once.MaxAttempts = 1
	onceLease := e.insert(once)[0].Lease
	twice := Owned("job", s1.id, s1.inc)
	twice.MaxAttempts = 3
	twiceLease := e.insert(twice)[0].Lease
	lostAnswer := NewRecord("job")
	e.insert(lostAnswer)
	if cl := e.claim(s1.params(1, "job")); len(cl) != 1 || cl[0].Record.ID != lostAnswer.ID {
		t.Fatalf("claim = %v", claimedIDs(cl))
	}
	// A stale fence in Abandoned does not count: only the lease the
	// record holds.
	stale := store.Lease{ID: lostAnswer.ID, Owner: s1.id, Incarnation: s1.inc, Attempt: 1, Fence: 99}
	p := s1.params(10, "job")
	p.Abandoned = []store.Lease{onceLease, twiceLease, stale}
	got := e.recover(p)
	byID := map[string]store.Claimed{}
	for _, c := range got {
		byID[c.Record.ID] = c
	}
	if len(got) != 3 {
		t.Fatalf("Recover took %v, want the 3 records", claimedIDs(got))
	}
	if c := byID[once.ID]; !c.Exhausted || c.Record.State != store.Failure || c.Record.Attempt != 1 || c.Record.Error != "orphaned after 1 attempt" {
		t.Errorf("abandoned record out of attempts: %+v exhausted %v, want FAILURE \"orphaned after 1 attempt\" at attempt 1", c.Record, c.Exhausted)
	}
	if c := byID[twice.ID]; c.Exhausted || c.Record.Attempt != 2 || c.Lease.Attempt != 2 || c.Lease.Fence != twiceLease.Fence+1 {
		t.Errorf("abandoned record with attempts left: attempt %d lease %v, want attempt 2 under fence %d", c.Record.Attempt, c.Lease, twiceLease.Fence+1)
	}
	if c := byID[lostAnswer.ID]; c.Exhausted || c.Record.Attempt != 1 {
		t.Errorf("claimed-but-never-started record: attempt %d, want 1 (same attempt)", c.Record.Attempt)
	}
	e.wantRefused(twiceLease)
}

func testRecoverExhausted(e *env) {
	t := e.t
	old := server{"web-1", "web-1/life-1"}
	now := server{"web-1", "web-1/life-2"}
	r := Owned("job", old.id, old.inc)
	r.MaxAttempts = 1
	e.insert(r)
	for range 3 {
		e.run(old, "job")
	}
	idle := Owned("job", old.id, old.inc)
	idle.Priority = store.PriorityIdle
	e.insert(idle)
	p := now.params(0, "job")
	p.Limit, p.IdleLimit = 2, 0
	got := e.recover(p)
	if len(got) != 2 {
		t.Fatalf("Recover with Limit 2 took %d records", len(got))
	}
	var exhausted int
	for _, c := range got {
		if c.Record.Idle() {
			t.Errorf("Recover with IdleLimit 0 took an idle record")
		}
		if c.Exhausted {
			exhausted++
			if c.Record.State != store.Failure || c.Record.Attempt != 1 || c.Record.Error != "orphaned after 1 attempt" {
				t.Errorf("exhausted record %+v", c.Record)
			}
		}
	}
	if exhausted != 1 {
		t.Errorf("Recover ended %d exhausted records, want 1 (the oldest first)", exhausted)
	}
	p.Limit, p.IdleLimit = 10, 10
	if got := e.recover(p, leasesOf(got)...); len(got) != 3 {
		t.Fatalf("second Recover took %d records, want the 3 left", len(got))
	}
}

func leasesOf(cs []store.Claimed) []store.Lease {
	var ls []store.Lease
	for _, c := range cs {
		if !c.Exhausted {
			ls = append(ls, c.Lease)
		}
	}
	return ls
}

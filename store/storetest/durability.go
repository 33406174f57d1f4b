package storetest

import (
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var durabilityTests = []test{
	{name: "Durability/Reopen", fn: testReopen},
	{name: "Durability/SeqsIncreaseAcrossRestartsAndClockSteps", fn: testReopenClockBack},
}

func (e *env) reopen() {
	e.t.Helper()
	e.s = e.opts.Reopen(e.t, e.s, e.cfg)
}

func testReopen(e *env) {
	t := e.t
	queued := NewRecord("job", "q")
	queued.IdempotencyKey = "idem"
	queued.Tags = []string{"t1"}
	e.insert(queued)
	running := Owned("job", "web-1", "web-1/life-1")
	running.Subtasks = []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Failure, Error: "x"}}
	rl := e.insert(running)[0].Lease
	e.update(store.Patch{Lease: rl, Progress: &store.Progress{Current: -0.5, Total: 1.5, Message: "half"}})
	cancelled, _ := e.run(server{"web-1", "web-1/life-1"}, "job")
	if _, err := e.s.RequestCancel(t.Context(), cancelled.ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	done := e.ended("job", store.Success)
	ids := []string{queued.ID, running.ID, cancelled.ID, done.ID}
	before := map[string]*store.Record{}
	for _, id := range ids {
		before[id] = e.get(id)
	}
	counts := e.counts()
	list := pageIDs(e.list(store.ListParams{}))
	log := e.readLog(0)

	e.reopen()

	for _, id := range ids {
		if d := DiffRecord(before[id], e.get(id)); d != "" {
			t.Errorf("record %s after reopen (-before +after):\n%s", id, d)
		}
	}
	if d := cmp.Diff(counts, e.counts()); d != "" {
		t.Errorf("Counts after reopen (-before +after):\n%s", d)
	}
	if d := cmp.Diff(list, pageIDs(e.list(store.ListParams{}))); d != "" {
		t.Errorf("List after reopen (-before +after):\n%s", d)
	}
	if d := cmp.Diff(log, e.readLog(0)); d != "" {
		t.Errorf("log after reopen (-before +after):\n%s", d)
	}
	again := NewRecord("job")
	again.IdempotencyKey = "idem"
	if res := e.insert(again); res[0] != (store.InsertResult{ID: queued.ID, Existing: true}) {
		t.Errorf("idempotency key after reopen: %+v, want existing %s", res[0], queued.ID)
	}
	// Indexes survive: the queued record is claimable by tag; the server
	// restarted with its ID recovers its runs with their cancel request.
	p := server{"web-1", "web-1/life-2"}.params(10, "job")
	p.Tags = []string{"t1"}
	cl := e.claim(p)
	if !cmp.Equal(claimedIDs(cl), []string{queued.ID}) {
		t.Fatalf("claim after reopen = %v, want %s", claimedIDs(cl), queued.ID)
	}
	rec := e.recover(p, cl[0].Lease)
	if d := cmp.Diff(sorted(running.ID, cancelled.ID), sorted(claimedIDs(rec)...)); d != "" {
		t.Fatalf("Recover after reopen (-want +got):\n%s", d)
	}
	for _, c := range rec {
		if c.Record.Attempt != 2 || (c.Record.ID == cancelled.ID) != c.Record.CancelRequested {
			t.Errorf("recovered %s: attempt %d cancel %v", c.Record.ID, c.Record.Attempt, c.Record.CancelRequested)
		}
		if c.Record.ID == running.ID && c.Record.Subtasks[0].State != store.Success {
			t.Errorf("recovered parallel record lost its succeeded subtask: %+v", c.Record.Subtasks)
		}
	}
	e.clock.Advance(time.Hour)
	if n, err := e.s.DeleteFinished(t.Context(), time.Minute, 10); err != nil || n != 1 {
		t.Fatalf("DeleteFinished after reopen = %d, %v; want 1", n, err)
	}
}

// testReopenClockBack: event IDs never come from a clock. Events appended
// with the clock an hour ahead, then after a restart with the clock set
// right, keep increasing, and a reader resuming from before the restart
// gets every entry after its position.
func testReopenClockBack(e *env) {
	t := e.t
	e.clock.Advance(time.Hour)
	_, l := e.run(s1, "job")
	e.update(store.Patch{Lease: l, Progress: &store.Progress{Current: 1}})
	seen := e.head()

	e.clock = clock.NewFake(T0)
	e.cfg.Clock = e.clock
	e.reopen()

	r, l2 := e.run(s2, "job")
	e.finish(l2, store.Success)
	got, evs := e.eventsSince(seen)
	if d := cmp.Diff([]string{ev(store.EventStarted, r.ID), ev(store.EventDone, r.ID)}, got); d != "" {
		t.Fatalf("entries after the position seen before the restart (-want +got):\n%s", d)
	}
	e.checkDense(evs, seen+1)
}

package storetest

import (
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

type reopenTest struct {
	name string
	fn   func(t *testing.T, s store.Store, reopen func(*testing.T, store.Store) store.Store)
}

var durabilityTests = []reopenTest{
	{"Durability/Reopen", testReopen},
}

func testReopen(t *testing.T, s store.Store, reopen func(*testing.T, store.Store) store.Store) {
	queued := NewRecord("job", "q")
	queued.IdempotencyKey = "idem"
	queued.Tags = []string{"t1"}
	running := Owned("job", "s1", At(0))
	running.Progress = store.Progress{Current: -0.5, Total: 1.5, Message: "half"}
	running.Subtasks = []store.Subtask{{Key: "a", State: store.Failure, Error: "x"}}
	cancelled := Owned("job", "s1", At(time.Millisecond))
	done := NewRecord("job")
	mustInsert(t, s, queued, running, cancelled, done)
	finishQueued(t, s, done.ID, store.Success, At(time.Second))
	if _, err := s.RequestCancel(t.Context(), cancelled.ID, At(time.Second)); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	seq := mustPublish(t, s, store.Message{Kind: store.MsgEvent})
	ids := []string{queued.ID, running.ID, cancelled.ID, done.ID}
	before := map[string]*store.Record{}
	for _, id := range ids {
		before[id] = mustGet(t, s, id)
	}
	counts := mustCounts(t, s)
	list := pageIDs(mustList(t, s, store.ListParams{}))

	s = reopen(t, s)

	for _, id := range ids {
		if d := DiffRecord(before[id], mustGet(t, s, id)); d != "" {
			t.Errorf("record %s after reopen (-before +after):\n%s", id, d)
		}
	}
	if d := cmp.Diff(counts, mustCounts(t, s)); d != "" {
		t.Errorf("Counts after reopen (-before +after):\n%s", d)
	}
	if d := cmp.Diff(list, pageIDs(mustList(t, s, store.ListParams{}))); d != "" {
		t.Errorf("List after reopen (-before +after):\n%s", d)
	}
	again := NewRecord("job")
	again.IdempotencyKey = "idem"
	if res := mustInsert(t, s, again); res[0] != (store.InsertResult{ID: queued.ID, Existing: true}) {
		t.Errorf("idempotency key after reopen: %+v, want existing %s", res[0], queued.ID)
	}
	if next := mustPublish(t, s, store.Message{Kind: store.MsgEvent}); next <= seq {
		t.Errorf("seq after reopen %d, want above %d", next, seq)
	}
	// Indexes survive: the queued record is claimable by tag, the running
	// ones are orphans with their cancel request.
	cl := mustClaim(t, s, store.ClaimParams{Owner: "s2", Names: []string{"job"}, Tags: []string{"t1"}, Limit: 10, Now: At(time.Hour), StaleBefore: At(time.Minute)})
	if d := cmp.Diff([]string{queued.ID, running.ID, cancelled.ID}, claimedIDs(cl)); d != "" {
		t.Fatalf("claim after reopen (-want +got):\n%s", d)
	}
	if !cl[2].Record.CancelRequested || cl[1].Record.Attempt != 2 {
		t.Fatalf("orphans after reopen: %+v", cl)
	}
	if n, err := s.DeleteFinished(t.Context(), At(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("DeleteFinished after reopen = %d, %v; want 1", n, err)
	}
}

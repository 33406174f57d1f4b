package storetest

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var lifecycleTests = []test{
	{"Heartbeat/LostAndCancel", testHeartbeat},
	{"Update/OnlyOwner", testUpdate},
	{"Finish/OwnerAndFinal", testFinish},
	{"Finish/Queued", testFinishQueued},
	{"Release/Requeues", testRelease},
	{"RequestCancel/Queued", testCancelQueued},
	{"RequestCancel/Owned", testCancelOwned},
	{"RequestCancel/Errors", testCancelErrors},
	{"Retry/FailedSubtasksOnly", testRetry},
	{"Retry/NothingToRetry", testRetryNothing},
	{"RoundTrip/ProgressAndSubtasks", testRoundTrip},
	{"DeleteFinished/Retention", testDeleteFinished},
}

func testHeartbeat(t *testing.T, s store.Store) {
	a := Owned("job", "s1", At(0))
	b := Owned("job", "s1", At(0))
	other := Owned("job", "s2", At(0))
	done := Owned("job", "s1", At(0))
	queued := NewRecord("job")
	mustInsert(t, s, a, b, other, done, queued)
	if _, err := s.Finish(t.Context(), "s1", done.ID, store.Completion{State: store.Success, FinishedAt: At(time.Second)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if _, err := s.RequestCancel(t.Context(), b.ID, At(time.Second)); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	unknown := NewID()
	hb, err := s.Heartbeat(t.Context(), "s1", []string{a.ID, b.ID, other.ID, done.ID, queued.ID, unknown}, At(5*time.Second))
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	sorted := func(ids []string) []string { slices.Sort(ids); return ids }
	if d := cmp.Diff(sorted([]string{other.ID, done.ID, queued.ID, unknown}), sorted(hb.Lost)); d != "" {
		t.Errorf("Heartbeat.Lost (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{b.ID}, hb.CancelRequested); d != "" {
		t.Errorf("Heartbeat.CancelRequested (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		r    *store.Record
		want time.Time
	}{{a, At(5 * time.Second)}, {b, At(5 * time.Second)}, {other, At(0)}} {
		if got := mustGet(t, s, tc.r.ID).HeartbeatAt; !got.Equal(tc.want) {
			t.Errorf("%s HeartbeatAt = %v, want %v", tc.r.ID, got, tc.want)
		}
	}
	if got := mustGet(t, s, queued.ID); got.Owner != "" || got.State != store.Ongoing {
		t.Errorf("Heartbeat by s1 took the queued record: %+v", got)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	queued := NewRecord("job")
	mustInsert(t, s, r, queued)
	started := At(3 * time.Second)
	subs := []store.Subtask{{Key: "x", State: store.Success, Progress: store.Progress{Current: 1, Total: 1}}, {Key: "y", State: store.Ongoing, Progress: store.Progress{Current: 0.5, Total: 2, Message: "y"}}}
	lost, err := s.Update(t.Context(), "s1", []store.Patch{{ID: r.ID, Progress: &store.Progress{Current: 1, Total: 3, Message: "one"}, Subtasks: subs, StartedAt: &started}})
	if err != nil || len(lost) != 0 {
		t.Fatalf("Update by the owner = %v, %v; want no lost IDs", lost, err)
	}
	want := mustGet(t, s, r.ID)
	if want.Progress != (store.Progress{Current: 1, Total: 3, Message: "one"}) || !want.StartedAt.Equal(started) {
		t.Fatalf("after Update: progress %+v started %v", want.Progress, want.StartedAt)
	}
	if d := cmp.Diff(subs, want.Subtasks); d != "" {
		t.Fatalf("subtasks after Update (-want +got):\n%s", d)
	}
	// Nil fields are left alone.
	if lost, err := s.Update(t.Context(), "s1", []store.Patch{{ID: r.ID, Subtasks: []store.Subtask{{Key: "x", State: store.Failure, Error: "e"}}}}); err != nil || len(lost) != 0 {
		t.Fatalf("Update = %v, %v", lost, err)
	}
	got := mustGet(t, s, r.ID)
	if got.Progress != want.Progress || !got.StartedAt.Equal(started) || len(got.Subtasks) != 1 {
		t.Fatalf("Update with only Subtasks changed other fields: %+v", got)
	}
	// Not the owner, not owned, unknown: lost and unchanged.
	unknown := NewID()
	p := &store.Progress{Current: 99}
	lost, err = s.Update(t.Context(), "s2", []store.Patch{{ID: r.ID, Progress: p}, {ID: queued.ID, Progress: p}, {ID: unknown, Progress: p}})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if d := cmp.Diff([]string{r.ID, queued.ID, unknown}, lost); d != "" {
		t.Fatalf("lost of a non-owner's Update (-want +got):\n%s", d)
	}
	if got := mustGet(t, s, r.ID).Progress.Current; got != 1 {
		t.Fatalf("a non-owner's Update changed progress to %v", got)
	}
	if got := mustGet(t, s, queued.ID).Progress.Current; got != 0 {
		t.Fatalf("Update changed a queued record's progress to %v", got)
	}
	// Finished: lost for its former owner too.
	if _, err := s.Finish(t.Context(), "s1", r.ID, store.Completion{State: store.Success, FinishedAt: At(time.Minute)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	lost, err = s.Update(t.Context(), "s1", []store.Patch{{ID: r.ID, Progress: p}})
	if err != nil || !slices.Equal(lost, []string{r.ID}) {
		t.Fatalf("Update of a finished record = %v, %v; want it lost", lost, err)
	}
}

func testFinish(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	r.Progress = store.Progress{Current: 1, Total: 2}
	mustInsert(t, s, r)
	c := store.Completion{State: store.Failure, FinishedAt: At(time.Minute), Error: "boom", ExitCode: 3}
	for _, owner := range []string{"s2", ""} {
		if _, err := s.Finish(t.Context(), owner, r.ID, c); !errors.Is(err, store.ErrNotOwner) {
			t.Fatalf("Finish by %q of s1's record: %v, want ErrNotOwner", owner, err)
		}
	}
	if _, err := s.Finish(t.Context(), "s1", NewID(), c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Finish of an unknown ID: %v, want ErrNotFound", err)
	}
	got, err := s.Finish(t.Context(), "s1", r.ID, c)
	if err != nil {
		t.Fatalf("Finish by the owner: %v", err)
	}
	want := r.Clone()
	want.State = store.Failure
	want.Owner = ""
	want.Error = "boom"
	code := 3
	want.ExitCode = &code
	want.FinishedAt = At(time.Minute)
	// HeartbeatAt may be kept or cleared; CancelRequested is moot.
	want.HeartbeatAt = got.HeartbeatAt
	if d := DiffRecord(want, got); d != "" {
		t.Fatalf("finished record (-want +got):\n%s", d)
	}
	if d := DiffRecord(got, mustGet(t, s, r.ID)); d != "" {
		t.Fatalf("stored record differs from Finish's (-returned +stored):\n%s", d)
	}
	// Terminal is final, for everyone.
	for _, owner := range []string{"s1", "s2", ""} {
		if _, err := s.Finish(t.Context(), owner, r.ID, store.Completion{State: store.Success, FinishedAt: At(time.Hour)}); !errors.Is(err, store.ErrFinished) {
			t.Fatalf("second Finish by %q: %v, want ErrFinished", owner, err)
		}
	}
	if got := mustGet(t, s, r.ID); got.State != store.Failure || !got.FinishedAt.Equal(At(time.Minute)) {
		t.Fatalf("a second Finish changed the record: %+v", got)
	}
	// Finished records are never claimed, as queued or as orphans.
	if got := mustClaim(t, s, store.ClaimParams{Owner: "s3", Names: []string{"job"}, Limit: 10, Now: At(time.Hour), StaleBefore: At(time.Hour)}); len(got) != 0 {
		t.Fatalf("Claim took a finished record: %v", claimedIDs(got))
	}
	// Exit code 0 is stored as 0 (not nil), and a final progress and
	// subtask list replace the old ones.
	r2 := Owned("job", "s1", At(0))
	r2.Progress = store.Progress{Current: 1, Total: 2}
	mustInsert(t, s, r2)
	subs := []store.Subtask{{Key: "a", State: store.Success}}
	fin, err := s.Finish(t.Context(), "s1", r2.ID, store.Completion{State: store.Success, FinishedAt: At(time.Second), Progress: &store.Progress{Current: 2, Total: 2, Message: "done"}, Subtasks: subs})
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got = mustGet(t, s, r2.ID)
	if d := DiffRecord(fin, got); d != "" {
		t.Fatalf("stored record differs from Finish's (-returned +stored):\n%s", d)
	}
	if got.ExitCode == nil || *got.ExitCode != 0 || got.Progress != (store.Progress{Current: 2, Total: 2, Message: "done"}) {
		t.Fatalf("finished with code 0 and final progress: exit %v progress %+v", got.ExitCode, got.Progress)
	}
	if d := cmp.Diff(subs, got.Subtasks); d != "" {
		t.Fatalf("final subtasks (-want +got):\n%s", d)
	}
	wantCounts(t, s, 0, 1, 1, 0)
}

func testFinishQueued(t *testing.T, s store.Store) {
	q := NewRecord("job")
	mustInsert(t, s, q)
	if _, err := s.Finish(t.Context(), "s1", q.ID, store.Completion{State: store.Failure, FinishedAt: At(time.Second)}); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("Finish by s1 of a queued record: %v, want ErrNotOwner", err)
	}
	got, err := s.Finish(t.Context(), "", q.ID, store.Completion{State: store.Failure, FinishedAt: At(time.Second), Error: "no server can run it"})
	if err != nil {
		t.Fatalf("Finish of a queued record by \"\": %v", err)
	}
	if got.State != store.Failure || got.Error != "no server can run it" || got.Owner != "" {
		t.Fatalf("finished queued record: %+v", got)
	}
	if got := mustClaim(t, s, store.ClaimParams{Owner: "s1", Names: []string{"job"}, Limit: 10, Now: At(time.Minute)}); len(got) != 0 {
		t.Fatalf("Claim took a finished record: %v", claimedIDs(got))
	}
}

func testRelease(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	other := Owned("job", "s2", At(0))
	mustInsert(t, s, r, other)
	if err := s.Release(t.Context(), "s1", []string{r.ID, other.ID, NewID()}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := mustGet(t, s, r.ID); got.Owner != "" || got.State != store.Ongoing || got.Attempt != 1 {
		t.Fatalf("released record: owner %q state %s attempt %d, want queued at attempt 1", got.Owner, got.State, got.Attempt)
	}
	if got := mustGet(t, s, other.ID); got.Owner != "s2" {
		t.Fatalf("Release by s1 released s2's record (owner now %q)", got.Owner)
	}
	// The next claim takes it as a queued record at once, no staleness.
	got := mustClaim(t, s, store.ClaimParams{Owner: "s3", Names: []string{"job"}, Limit: 10, Now: At(time.Second)})
	if d := cmp.Diff(recIDs(r), claimedIDs(got)); d != "" {
		t.Fatalf("claim after Release (-want +got):\n%s", d)
	}
	if got[0].PrevOwner != "" || got[0].Record.Attempt != 2 || got[0].Record.Owner != "s3" {
		t.Fatalf("claimed released record: PrevOwner %q attempt %d owner %q, want \"\", 2, s3", got[0].PrevOwner, got[0].Record.Attempt, got[0].Record.Owner)
	}
	// The old owner's heartbeat reports it lost.
	hb, err := s.Heartbeat(t.Context(), "s1", []string{r.ID}, At(2*time.Second))
	if err != nil || !slices.Equal(hb.Lost, []string{r.ID}) {
		t.Fatalf("Heartbeat of the releasing owner = %+v, %v; want lost", hb, err)
	}
}

func testCancelQueued(t *testing.T, s store.Store) {
	q := NewRecord("job")
	mustInsert(t, s, q)
	got, err := s.RequestCancel(t.Context(), q.ID, At(time.Second))
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State != store.Cancelled || !got.FinishedAt.Equal(At(time.Second)) || got.Owner != "" {
		t.Fatalf("cancelled queued record: state %s finished %v owner %q, want CANCELLED at %v", got.State, got.FinishedAt, got.Owner, At(time.Second))
	}
	if d := DiffRecord(got, mustGet(t, s, q.ID)); d != "" {
		t.Fatalf("stored record differs from RequestCancel's (-returned +stored):\n%s", d)
	}
	if got := mustClaim(t, s, store.ClaimParams{Owner: "s1", Names: []string{"job"}, Limit: 10, Now: At(time.Minute)}); len(got) != 0 {
		t.Fatalf("Claim took a cancelled record: %v", claimedIDs(got))
	}
	wantCounts(t, s, 0, 0, 0, 1)
}

func testCancelOwned(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	mustInsert(t, s, r)
	msgs, stop := s.Subscribe(t.Context())
	defer stop()
	got, err := s.RequestCancel(t.Context(), r.ID, At(time.Second))
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State != store.Ongoing || !got.CancelRequested || got.Owner != "s1" {
		t.Fatalf("RequestCancel of an owned record returned state %s cancel %v owner %q, want ONGOING, true, s1", got.State, got.CancelRequested, got.Owner)
	}
	m := recvKind(t, msgs, store.MsgCancel)
	if m.TaskID != r.ID || m.Owner != "s1" {
		t.Fatalf("MsgCancel for task %q owner %q, want %s and s1", m.TaskID, m.Owner, r.ID)
	}
	// Asking again is harmless.
	if _, err := s.RequestCancel(t.Context(), r.ID, At(2*time.Second)); err != nil {
		t.Fatalf("second RequestCancel: %v", err)
	}
	// The request survives a hand-back: the next owner sees it in the claim.
	if err := s.Release(t.Context(), "s1", []string{r.ID}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := mustGet(t, s, r.ID); got.State != store.Ongoing || !got.CancelRequested {
		t.Fatalf("released record with a cancel request: state %s cancel %v", got.State, got.CancelRequested)
	}
	cl := mustClaim(t, s, store.ClaimParams{Owner: "s2", Names: []string{"job"}, Limit: 1, Now: At(3 * time.Second)})
	if len(cl) != 1 || !cl[0].Record.CancelRequested {
		t.Fatalf("claim of a record with a pending cancel: %+v, want CancelRequested", cl)
	}
	// The owner finishes it CANCELLED.
	fin, err := s.Finish(t.Context(), "s2", r.ID, store.Completion{State: store.Cancelled, FinishedAt: At(4 * time.Second)})
	if err != nil || fin.State != store.Cancelled {
		t.Fatalf("Finish CANCELLED = %+v, %v", fin, err)
	}
}

func testCancelErrors(t *testing.T, s store.Store) {
	if _, err := s.RequestCancel(t.Context(), NewID(), At(0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RequestCancel of an unknown ID: %v, want ErrNotFound", err)
	}
	q := NewRecord("job")
	mustInsert(t, s, q)
	finishQueued(t, s, q.ID, store.Success, At(time.Second))
	if _, err := s.RequestCancel(t.Context(), q.ID, At(2*time.Second)); !errors.Is(err, store.ErrFinished) {
		t.Fatalf("RequestCancel of a finished record: %v, want ErrFinished", err)
	}
	if got := mustGet(t, s, q.ID); got.State != store.Success {
		t.Fatalf("RequestCancel changed a finished record to %s", got.State)
	}
}

func testRetry(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	r.Subtasks = []store.Subtask{{Key: "a", State: store.Ongoing}, {Key: "b", State: store.Ongoing}, {Key: "c", State: store.Ongoing}}
	mustInsert(t, s, r)
	final := []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Failure, Error: "b broke"}, {Key: "c", State: store.Failure, Error: "c broke"}}
	if _, err := s.Finish(t.Context(), "s1", r.ID, store.Completion{State: store.Success, FinishedAt: At(time.Minute), Error: "2 of 3 subtasks failed", ExitCode: 0, Subtasks: final}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	msgs, stop := s.Subscribe(t.Context())
	defer stop()
	got, err := s.Retry(t.Context(), r.ID, At(2*time.Minute))
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if got.State != store.Ongoing || got.Owner != "" || !got.FinishedAt.IsZero() || got.Error != "" || got.ExitCode != nil || got.Attempt != 1 {
		t.Fatalf("retried record: state %s owner %q finished %v error %q exit %v attempt %d; want ONGOING, queued, cleared, attempt 1",
			got.State, got.Owner, got.FinishedAt, got.Error, got.ExitCode, got.Attempt)
	}
	var states []store.State
	for _, st := range got.Subtasks {
		states = append(states, st.State)
	}
	if d := cmp.Diff([]store.State{store.Success, store.SubtaskPending, store.SubtaskPending}, states); d != "" {
		t.Fatalf("subtask states after Retry (-want +got):\n%s", d)
	}
	if d := DiffRecord(got, mustGet(t, s, r.ID)); d != "" {
		t.Fatalf("stored record differs from Retry's (-returned +stored):\n%s", d)
	}
	if m := recvKind(t, msgs, store.MsgEnqueued); m.TaskID != r.ID {
		t.Fatalf("MsgEnqueued for %q, want %s", m.TaskID, r.ID)
	}
	// It is queued again: in the ONGOING list, claimable, attempt + 1.
	if ids := pageIDs(mustList(t, s, store.ListParams{State: store.Ongoing})); !slices.Equal(ids, []string{r.ID}) {
		t.Fatalf("ONGOING list after Retry = %v", ids)
	}
	if ids := pageIDs(mustList(t, s, store.ListParams{State: store.Success})); len(ids) != 0 {
		t.Fatalf("SUCCESS list after Retry = %v, want empty", ids)
	}
	wantCounts(t, s, 1, 0, 0, 0)
	cl := mustClaim(t, s, store.ClaimParams{Owner: "s2", Names: []string{"job"}, Limit: 10, Now: At(3 * time.Minute)})
	if len(cl) != 1 || cl[0].Record.Attempt != 2 {
		t.Fatalf("claim after Retry = %+v, want the record at attempt 2", cl)
	}
	// A retried record is not deleted by retention as finished.
	if n, err := s.DeleteFinished(t.Context(), At(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("DeleteFinished after Retry = %d, %v; want 0", n, err)
	}
}

func testRetryNothing(t *testing.T, s store.Store) {
	if _, err := s.Retry(t.Context(), NewID(), At(0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Retry of an unknown ID: %v, want ErrNotFound", err)
	}
	ongoing := Owned("job", "s1", At(0))
	ongoing.Subtasks = []store.Subtask{{Key: "a", State: store.Failure}}
	plain := NewRecord("job")
	allOK := NewRecord("job")
	allOK.Subtasks = []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Cancelled}}
	mustInsert(t, s, ongoing, plain, allOK)
	finishQueued(t, s, plain.ID, store.Failure, At(time.Second))
	finishQueued(t, s, allOK.ID, store.Success, At(time.Second))
	for _, id := range []string{ongoing.ID, plain.ID, allOK.ID} {
		if _, err := s.Retry(t.Context(), id, At(time.Minute)); !errors.Is(err, store.ErrNothingToRetry) {
			t.Errorf("Retry(%s): %v, want ErrNothingToRetry", id, err)
		}
	}
	wantCounts(t, s, 1, 1, 1, 0)
}

func testRoundTrip(t *testing.T, s store.Store) {
	progresses := []store.Progress{
		{Current: -1.5, Total: 2.25, Message: "négatif ✓"},
		{Current: 0.1 + 0.2, Total: 1.0 / 3.0, Message: ""},
		{Current: -0.000001, Total: -7},
		{Current: 1e-300, Total: 1e300, Message: "line\nbreak\x00nul"},
		{Current: math.MaxFloat64, Total: math.SmallestNonzeroFloat64},
		{Current: math.Inf(-1), Total: math.Inf(1)},
		{Current: math.Copysign(0, -1), Total: 123456789.123456789},
	}
	subtasks := []store.Subtask{
		{Key: "a", State: store.SubtaskPending},
		{Key: "b/ü", State: store.Ongoing, Progress: store.Progress{Current: -0.25, Total: 1.0 / 3.0, Message: "sub ✓"}},
		{Key: "", State: store.Success, Progress: store.Progress{Current: 1e300, Total: 1e300}},
		{Key: "d", State: store.Failure, Error: "exit status 3\nstack...", Progress: store.Progress{Current: 2, Total: 5, Message: "2/5"}},
		{Key: "e", State: store.Cancelled, Error: "ctx"},
	}
	r := Owned("job", "s1", At(0))
	r.Args = []string{"", " spaced ", "--flag=1", "ünï"}
	r.Progress = progresses[0]
	r.Subtasks = subtasks
	mustInsert(t, s, r)
	if got := mustGet(t, s, r.ID); got.Progress != progresses[0] || !slices.Equal(got.Args, r.Args) {
		t.Fatalf("inserted progress %+v args %q, want %+v %q", got.Progress, got.Args, progresses[0], r.Args)
	}
	if d := cmp.Diff(subtasks, mustGet(t, s, r.ID).Subtasks); d != "" {
		t.Fatalf("inserted subtasks (-want +got):\n%s", d)
	}
	for _, p := range progresses {
		if _, err := s.Update(t.Context(), "s1", []store.Patch{{ID: r.ID, Progress: &p}}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		got := mustGet(t, s, r.ID).Progress
		if math.Float64bits(got.Current) != math.Float64bits(p.Current) || math.Float64bits(got.Total) != math.Float64bits(p.Total) || got.Message != p.Message {
			t.Fatalf("progress round trip: got %+v, want %+v (bit for bit)", got, p)
		}
	}
	many := make([]store.Subtask, 1000)
	for i := range many {
		many[i] = store.Subtask{Key: string(rune('a'+i%26)) + string(rune('0'+i%10)), State: []store.State{store.SubtaskPending, store.Ongoing, store.Success, store.Failure, store.Cancelled}[i%5],
			Progress: store.Progress{Current: float64(i) / 7, Total: -float64(i)}}
	}
	fin, err := s.Finish(t.Context(), "s1", r.ID, store.Completion{State: store.Success, FinishedAt: At(time.Second), Progress: &progresses[2], Subtasks: many})
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got := mustGet(t, s, r.ID)
	if d := cmp.Diff(many, got.Subtasks); d != "" {
		t.Fatalf("1000 subtasks round trip (-want +got):\n%s", d)
	}
	if got.Progress != progresses[2] || fin.Progress != progresses[2] {
		t.Fatalf("final progress %+v, want %+v", got.Progress, progresses[2])
	}
}

func testDeleteFinished(t *testing.T, s store.Store) {
	var fin []*store.Record
	for i := range 4 {
		r := NewRecord("job")
		r.IdempotencyKey = "fin-" + string(rune('0'+i))
		fin = append(fin, r)
	}
	queued := NewRecord("job")
	queued.IdempotencyKey = "queued"
	owned := Owned("job", "s1", At(0))
	mustInsert(t, s, append(slices.Clone(fin), queued, owned)...)
	// Finished out of ID order: retention goes by FinishedAt.
	for i, at := range []time.Duration{2 * time.Second, 0, time.Second, 10 * time.Second} {
		finishQueued(t, s, fin[i].ID, []store.State{store.Success, store.Failure, store.Cancelled, store.Success}[i], At(at))
	}
	cutoff := At(5 * time.Second)
	n, err := s.DeleteFinished(t.Context(), cutoff, 2)
	if err != nil || n != 2 {
		t.Fatalf("DeleteFinished(limit 2) = %d, %v; want 2", n, err)
	}
	wantNotFound(t, s, fin[1].ID)
	wantNotFound(t, s, fin[2].ID)
	mustGet(t, s, fin[0].ID)
	if n, err := s.DeleteFinished(t.Context(), cutoff, 100); err != nil || n != 1 {
		t.Fatalf("DeleteFinished = %d, %v; want 1", n, err)
	}
	wantNotFound(t, s, fin[0].ID)
	if n, err := s.DeleteFinished(t.Context(), cutoff, 100); err != nil || n != 0 {
		t.Fatalf("DeleteFinished with nothing left = %d, %v; want 0", n, err)
	}
	// Finished after the cutoff and ONGOING records stay.
	for _, r := range []*store.Record{fin[3], queued, owned} {
		mustGet(t, s, r.ID)
	}
	wantCounts(t, s, 2, 1, 0, 0)
	if ids := pageIDs(mustList(t, s, store.ListParams{})); len(ids) != 3 {
		t.Fatalf("List after DeleteFinished returned %d records, want 3", len(ids))
	}
	// Deleted records free their idempotency keys; kept ones do not.
	again := NewRecord("job")
	again.IdempotencyKey = "fin-1"
	if res := mustInsert(t, s, again); res[0] != (store.InsertResult{ID: again.ID}) {
		t.Fatalf("insert with a deleted record's key = %+v, want a new record", res[0])
	}
	dup := NewRecord("job")
	dup.IdempotencyKey = "fin-3"
	if res := mustInsert(t, s, dup); res[0] != (store.InsertResult{ID: fin[3].ID, Existing: true}) {
		t.Fatalf("insert with a kept record's key = %+v, want existing %s", res[0], fin[3].ID)
	}
	// A deleted record is lost to its former owner and gone for every call.
	if _, err := s.Finish(t.Context(), "", fin[0].ID, store.Completion{State: store.Success}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Finish of a deleted record: %v, want ErrNotFound", err)
	}
}

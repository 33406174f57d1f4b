package storetest

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var lifecycleTests = []test{
	{name: "Renew/LostAndCancel", fn: testRenew},
	{name: "Update/OnlyUnderLease", fn: testUpdate},
	{name: "Finish/UnderLeaseAndFinal", fn: testFinish},
	{name: "Finish/Batch", fn: testFinishBatch},
	{name: "Finish/AgeDatesTheOutcomeBack", fn: testFinishAge},
	{name: "Release/GivesTheAttemptBack", fn: testRelease},
	{name: "RequestCancel/Queued", fn: testCancelQueued},
	{name: "RequestCancel/Owned", fn: testCancelOwned},
	{name: "RequestCancel/Errors", fn: testCancelErrors},
	{name: "Retry/FailedSubtasksOnly", fn: testRetry},
	{name: "Retry/NothingToRetry", fn: testRetryNothing},
	{name: "RoundTrip/ProgressAndSubtasks", fn: testRoundTrip},
	{name: "DeleteFinished/Retention", fn: testDeleteFinished},
	{name: "Close/ErrClosed", fn: testClose},
}

func testRenew(e *env) {
	t := e.t
	a, al := e.run(s1, "job")
	b, bl := e.run(s1, "job")
	_, ol := e.run(s2, "job")
	_, dl := e.run(s1, "job")
	e.finish(dl, store.Success)
	if _, err := e.s.RequestCancel(t.Context(), b.ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	unknown := store.Lease{ID: NewID(), Owner: s1.id, Incarnation: s1.inc, Attempt: 1, Fence: 1}
	foreign := ol
	foreign.Owner, foreign.Incarnation = s1.id, s1.inc // s1 claiming s2's record
	e.clock.Advance(5 * time.Second)
	res := e.renew(al, bl, foreign, dl, unknown)
	if d := cmp.Diff(sorted(foreign.ID, dl.ID, unknown.ID), leaseIDs(res.Lost)); d != "" {
		t.Errorf("Renew.Lost (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{b.ID}, res.CancelRequested); d != "" {
		t.Errorf("Renew.CancelRequested (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		id   string
		want time.Time
	}{{a.ID, At(5 * time.Second)}, {b.ID, At(5 * time.Second)}, {ol.ID, At(0)}} {
		if got := e.get(tc.id).HeartbeatAt; !got.Equal(tc.want) {
			t.Errorf("%s HeartbeatAt = %v, want %v", tc.id, got, tc.want)
		}
	}
	if res := e.renew(); len(res.Lost)+len(res.CancelRequested) != 0 {
		t.Errorf("Renew of nothing = %+v", res)
	}
}

func testUpdate(e *env) {
	t := e.t
	r, l := e.run(s1, "job")
	head := e.head()
	e.clock.Advance(time.Second)
	subs := []store.Subtask{{Key: "x", State: store.Success, Progress: store.Progress{Current: 1, Total: 1}}, {Key: "y", State: store.Ongoing, Progress: store.Progress{Current: 0.5, Total: 2, Message: "y"}}}
	if lost := e.update(store.Patch{Lease: l, Progress: &store.Progress{Current: 1, Total: 3, Message: "one"}, Subtasks: subs}); len(lost) != 0 {
		t.Fatalf("Update under the lease lost %v", lost)
	}
	want := e.get(r.ID)
	if want.Progress != (store.Progress{Current: 1, Total: 3, Message: "one"}) {
		t.Fatalf("after Update: progress %+v", want.Progress)
	}
	if d := cmp.Diff(subs, want.Subtasks); d != "" {
		t.Fatalf("subtasks after Update (-want +got):\n%s", d)
	}
	_, evs := e.eventsSince(head)
	if len(evs) != 1 || evs[0].Kind != store.EventUpdated || evs[0].Progress != want.Progress || evs[0].State != store.Ongoing || evs[0].Attempt != 1 || !evs[0].Time.Equal(At(time.Second)) {
		t.Fatalf("events of Update = %+v, want one updated event with the new progress", evs)
	}
	// Nil fields are left alone.
	if lost := e.update(store.Patch{Lease: l, Subtasks: []store.Subtask{{Key: "x", State: store.Failure, Error: "e"}}}); len(lost) != 0 {
		t.Fatalf("Update lost %v", lost)
	}
	if got := e.get(r.ID); got.Progress != want.Progress || len(got.Subtasks) != 1 {
		t.Fatalf("Update with only Subtasks changed other fields: %+v", got)
	}
	// A queued record and an unknown one: lost and unchanged.
	q := NewRecord("job")
	e.insert(q)
	p := &store.Progress{Current: 99}
	ql := store.Lease{ID: q.ID, Owner: s1.id, Incarnation: s1.inc, Attempt: 1, Fence: 0}
	ul := store.Lease{ID: NewID(), Owner: s1.id, Incarnation: s1.inc, Fence: 1}
	if lost := e.update(store.Patch{Lease: ql, Progress: p}, store.Patch{Lease: ul, Progress: p}); cmp.Diff(sorted(q.ID, ul.ID), leaseIDs(lost)) != "" {
		t.Fatalf("lost of Updates without a lease = %v", lost)
	}
	if got := e.get(q.ID).Progress.Current; got != 0 {
		t.Fatalf("Update changed a queued record's progress to %v", got)
	}
}

func testFinish(e *env) {
	t := e.t
	r, l := e.run(s1, "job")
	if lost := e.update(store.Patch{Lease: l, Progress: &store.Progress{Current: 1, Total: 2}}); len(lost) != 0 {
		t.Fatal(lost)
	}
	e.clock.Advance(time.Minute)
	head := e.head()
	c := store.Completion{Lease: l, State: store.Failure, Error: "boom", ExitCode: 3}
	res := e.finishAll(c)[0]
	if res.Err != nil {
		t.Fatalf("Finish under the lease: %v", res.Err)
	}
	want := e.get(r.ID)
	if want.State != store.Failure || want.Owner != "" || want.Error != "boom" || want.ExitCode == nil || *want.ExitCode != 3 ||
		!want.FinishedAt.Equal(At(time.Minute)) || want.Progress != (store.Progress{Current: 1, Total: 2}) || want.CancelRequested {
		t.Fatalf("finished record %+v", want)
	}
	_, evs := e.eventsSince(head)
	if len(evs) != 1 || evs[0].Kind != store.EventFailed || evs[0].Error != "boom" || evs[0].ExitCode == nil || *evs[0].ExitCode != 3 || evs[0].State != store.Failure {
		t.Fatalf("events of Finish = %+v, want one failed event with the error and exit code", evs)
	}
	// Terminal is final: no claim, no cancel.
	e.clock.Advance(time.Hour)
	p := s3.params(10, "job")
	p.StaleAfter = time.Minute
	if got := e.claim(p); len(got) != 0 {
		t.Fatalf("Claim took a finished record: %v", claimedIDs(got))
	}
	// Exit code 0 is stored as 0 (not nil); a final progress and subtask
	// list replace the old ones; failed subtasks make a partial success.
	r2, l2 := e.run(s1, "job")
	subs := []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Failure, Error: "b broke"}}
	head = e.head()
	res = e.finishAll(store.Completion{Lease: l2, State: store.Success, Progress: &store.Progress{Current: 2, Total: 2, Message: "done"}, Subtasks: subs})[0]
	if res.Err != nil {
		t.Fatalf("Finish: %v", res.Err)
	}
	got := e.get(r2.ID)
	if got.ExitCode == nil || *got.ExitCode != 0 || got.Progress != (store.Progress{Current: 2, Total: 2, Message: "done"}) {
		t.Fatalf("finished with code 0 and final progress: exit %v progress %+v", got.ExitCode, got.Progress)
	}
	if d := cmp.Diff(subs, got.Subtasks); d != "" {
		t.Fatalf("final subtasks (-want +got):\n%s", d)
	}
	_, evs = e.eventsSince(head)
	if len(evs) != 2 || evs[0].Kind != store.EventUpdated || evs[0].State != store.Ongoing || evs[0].Progress != (store.Progress{Current: 2, Total: 2, Message: "done"}) {
		t.Fatalf("events of a finish that changes the progress = %+v, want an updated event with the final progress first", evs)
	}
	if evs[1].Kind != store.EventPartialSuccess || !cmp.Equal(evs[1].SubtaskErrors, map[string]string{"b": "b broke"}) || evs[1].Progress != evs[0].Progress {
		t.Fatalf("terminal event of a success with a failed subtask = %+v, want partial_success with b's error", evs[1])
	}
	e.wantCounts(0, 1, 1, 0)
}

// A completion's Age dates FinishedAt back (an outcome written late, after
// the store was away, records when the run ended), never before StartedAt;
// an Age of 0 is the store's time. The retention of finished records
// counts from that FinishedAt.
func testFinishAge(e *env) {
	t := e.t
	start := e.clock.Now()
	a, la := e.run(s1, "job")
	b, lb := e.run(s1, "job")
	c, lc := e.run(s1, "job")
	e.clock.Advance(10 * time.Minute)
	res := e.finishAll(
		store.Completion{Lease: la, State: store.Success, Age: 3 * time.Minute},
		store.Completion{Lease: lb, State: store.Failure, Error: "x", ExitCode: 1, Age: time.Hour},
		store.Completion{Lease: lc, State: store.Success},
	)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Finish %d: %v", i, r.Err)
		}
	}
	if got, want := e.get(a.ID).FinishedAt, start.Add(7*time.Minute); !got.Equal(want) {
		t.Errorf("finished with Age 3m at store time +10m: FinishedAt %v, want %v", got, want)
	}
	if got := e.get(b.ID).FinishedAt; !got.Equal(b.StartedAt) {
		t.Errorf("Age longer than the run: FinishedAt %v, want StartedAt %v", got, b.StartedAt)
	}
	if got, want := e.get(c.ID).FinishedAt, start.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("Age 0: FinishedAt %v, want the store's time %v", got, want)
	}
	// Retention counts from FinishedAt: 5 minutes later, a (finished at
	// +7m) and b (+0) are older than 6 minutes, c (+10m) is not.
	e.clock.Advance(5 * time.Minute)
	n, err := e.s.DeleteFinished(t.Context(), 6*time.Minute, 10)
	if err != nil || n != 2 {
		t.Fatalf("DeleteFinished(6m) = %d, %v; want the 2 records dated back", n, err)
	}
	if _, err := e.s.Get(t.Context(), c.ID); err != nil {
		t.Fatalf("the record finished at the store's time was deleted: %v", err)
	}
}

func testFinishBatch(e *env) {
	t := e.t
	var cs []store.Completion
	states := []store.State{store.Success, store.Failure, store.Cancelled}
	kinds := []store.EventKind{store.EventDone, store.EventFailed, store.EventCancelled}
	var want []string
	for i := range 30 {
		r, l := e.run(s1, "job")
		cs = append(cs, store.Completion{Lease: l, State: states[i%3]})
		want = append(want, ev(kinds[i%3], r.ID))
	}
	stale := cs[4].Lease
	stale.Fence++
	cs = append(cs, store.Completion{Lease: stale, State: store.Success})
	head := e.head()
	res := e.finishAll(cs...)
	for i, r := range res[:30] {
		if r.Err != nil || e.get(cs[i].Lease.ID).State != states[i%3] {
			t.Fatalf("completion %d: %+v", i, r)
		}
	}
	if !errors.Is(res[30].Err, store.ErrNotOwner) {
		t.Fatalf("completion under a lease that is not current: %+v, want ErrNotOwner", res[30])
	}
	got, _ := e.eventsSince(head)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("terminal events of a batch, in order (-want +got):\n%s", d)
	}
	e.wantCounts(0, 10, 10, 10)
}

func testRelease(e *env) {
	t := e.t
	r := Owned("job", s1.id, s1.inc)
	r.Subtasks = []store.Subtask{{Key: "a", State: store.Ongoing}, {Key: "b", State: store.Ongoing}}
	l := e.insert(r)[0].Lease
	head := e.head()
	final := []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Ongoing}}
	if lost := e.release(store.Patch{Lease: l, Subtasks: final}); len(lost) != 0 {
		t.Fatalf("Release lost %v", lost)
	}
	got := e.get(r.ID)
	if got.Owner != "" || got.State != store.Ongoing || got.Attempt != 0 || !cmp.Equal(got.Subtasks, final) {
		t.Fatalf("released record: owner %q state %s attempt %d subtasks %v, want queued, attempt 0 (the attempt given back), the patch applied", got.Owner, got.State, got.Attempt, got.Subtasks)
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff([]string{ev(store.EventEnqueued, r.ID)}, evs); d != "" {
		t.Fatalf("events of Release (-want +got):\n%s", d)
	}
	// The next claim takes it as a queued record at once, no staleness,
	// at attempt 1 again, keeping the subtask that succeeded.
	cl := e.claim(s3.params(10, "job"))
	if d := cmp.Diff(recIDs(r), claimedIDs(cl)); d != "" {
		t.Fatalf("claim after Release (-want +got):\n%s", d)
	}
	if cl[0].PrevOwner != "" || cl[0].Record.Attempt != 1 || cl[0].Record.Owner != s3.id || cl[0].Record.Subtasks[0].State != store.Success {
		t.Fatalf("claimed released record: %+v", cl[0])
	}
}

func testCancelQueued(e *env) {
	t := e.t
	q := NewRecord("job")
	e.insert(q)
	e.clock.Advance(time.Second)
	head := e.head()
	got, err := e.s.RequestCancel(t.Context(), q.ID)
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State != store.Cancelled || !got.FinishedAt.Equal(At(time.Second)) || got.Owner != "" || got.ExitCode == nil {
		t.Fatalf("cancelled queued record: %+v, want CANCELLED at %v with an exit code", got, At(time.Second))
	}
	if d := DiffRecord(got, e.get(q.ID)); d != "" {
		t.Fatalf("stored record differs from RequestCancel's (-returned +stored):\n%s", d)
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff([]string{ev(store.EventCancelled, q.ID)}, evs); d != "" {
		t.Fatalf("events of cancelling a queued record (-want +got):\n%s", d)
	}
	if got := e.claim(s1.params(10, "job")); len(got) != 0 {
		t.Fatalf("Claim took a cancelled record: %v", claimedIDs(got))
	}
	e.wantCounts(0, 0, 0, 1)
}

func testCancelOwned(e *env) {
	t := e.t
	r, l := e.run(s1, "job")
	head := e.head()
	got, err := e.s.RequestCancel(t.Context(), r.ID)
	if err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	if got.State != store.Ongoing || !got.CancelRequested || got.Owner != s1.id {
		t.Fatalf("RequestCancel of an owned record returned state %s cancel %v owner %q, want ONGOING, true, %s", got.State, got.CancelRequested, got.Owner, s1.id)
	}
	_, evs := e.eventsSince(head)
	if len(evs) != 1 || evs[0].Kind != store.EventCancel || evs[0].TaskID != r.ID || evs[0].Owner != s1.id {
		t.Fatalf("events of cancelling an owned record = %+v, want one cancel event addressed to %s", evs, s1.id)
	}
	// Asking again is harmless.
	if _, err := e.s.RequestCancel(t.Context(), r.ID); err != nil {
		t.Fatalf("second RequestCancel: %v", err)
	}
	// The request survives a hand-back: the next owner sees it in the claim.
	if lost := e.release(store.Patch{Lease: l}); len(lost) != 0 {
		t.Fatalf("Release lost %v", lost)
	}
	if got := e.get(r.ID); got.State != store.Ongoing || !got.CancelRequested {
		t.Fatalf("released record with a cancel request: state %s cancel %v", got.State, got.CancelRequested)
	}
	cl := e.claim(s2.params(1, "job"))
	if len(cl) != 1 || !cl[0].Record.CancelRequested {
		t.Fatalf("claim of a record with a pending cancel: %+v, want CancelRequested", cl)
	}
	if fin := e.finish(cl[0].Lease, store.Cancelled); fin.State != store.Cancelled || fin.CancelRequested {
		t.Fatalf("Finish CANCELLED = %+v", fin)
	}
}

func testCancelErrors(e *env) {
	t := e.t
	if _, err := e.s.RequestCancel(t.Context(), NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RequestCancel of an unknown ID: %v, want ErrNotFound", err)
	}
	done := e.ended("job", store.Success)
	if _, err := e.s.RequestCancel(t.Context(), done.ID); !errors.Is(err, store.ErrFinished) {
		t.Fatalf("RequestCancel of a finished record: %v, want ErrFinished", err)
	}
	if got := e.get(done.ID); got.State != store.Success {
		t.Fatalf("RequestCancel changed a finished record to %s", got.State)
	}
}

func testRetry(e *env) {
	t := e.t
	r := Owned("job", s1.id, s1.inc)
	r.MaxAttempts = 1
	r.Subtasks = []store.Subtask{{Key: "a", State: store.Ongoing}, {Key: "b", State: store.Ongoing}, {Key: "c", State: store.Ongoing}}
	l := e.insert(r)[0].Lease
	final := []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Failure, Error: "b broke"}, {Key: "c", State: store.Failure, Error: "c broke"}}
	e.finishAll(store.Completion{Lease: l, State: store.Success, Error: "2 of 3 subtasks failed", Subtasks: final})
	head := e.head()
	got, err := e.s.Retry(t.Context(), r.ID, store.RetryParams{Attempts: 2})
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if got.State != store.Ongoing || got.Owner != "" || !got.FinishedAt.IsZero() || got.Error != "" || got.ExitCode != nil || got.Attempt != 1 || got.MaxAttempts != 3 {
		t.Fatalf("retried record: %+v; want ONGOING, queued, cleared, attempt 1, max attempts 1+2", got)
	}
	var states []store.State
	for _, st := range got.Subtasks {
		states = append(states, st.State)
	}
	if d := cmp.Diff([]store.State{store.Success, store.SubtaskPending, store.SubtaskPending}, states); d != "" {
		t.Fatalf("subtask states after Retry (-want +got):\n%s", d)
	}
	if d := DiffRecord(got, e.get(r.ID)); d != "" {
		t.Fatalf("stored record differs from Retry's (-returned +stored):\n%s", d)
	}
	evs, _ := e.eventsSince(head)
	if d := cmp.Diff([]string{ev(store.EventEnqueued, r.ID)}, evs); d != "" {
		t.Fatalf("events of Retry (-want +got):\n%s", d)
	}
	// It is queued again: in the ONGOING list, claimable, attempt + 1.
	if ids := pageIDs(e.list(store.ListParams{State: store.Ongoing})); !slices.Equal(ids, []string{r.ID}) {
		t.Fatalf("ONGOING list after Retry = %v", ids)
	}
	if ids := pageIDs(e.list(store.ListParams{State: store.Success})); len(ids) != 0 {
		t.Fatalf("SUCCESS list after Retry = %v, want empty", ids)
	}
	e.wantCounts(1, 0, 0, 0)
	cl := e.claim(s2.params(10, "job"))
	if len(cl) != 1 || cl[0].Record.Attempt != 2 || cl[0].Exhausted {
		t.Fatalf("claim after Retry = %+v, want the record running at attempt 2", cl)
	}
	// A retried record is not deleted by retention as finished.
	e.clock.Advance(time.Hour)
	if n, err := e.s.DeleteFinished(t.Context(), time.Minute, 10); err != nil || n != 0 {
		t.Fatalf("DeleteFinished after Retry = %d, %v; want 0", n, err)
	}
}

func testRetryNothing(e *env) {
	t := e.t
	if _, err := e.s.Retry(t.Context(), NewID(), store.RetryParams{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Retry of an unknown ID: %v, want ErrNotFound", err)
	}
	ongoing := Owned("job", s1.id, s1.inc)
	ongoing.Subtasks = []store.Subtask{{Key: "a", State: store.Failure}}
	e.insert(ongoing)
	plain := e.ended("job", store.Failure)
	allOK := Owned("job", s1.id, s1.inc)
	l := e.insert(allOK)[0].Lease
	e.finishAll(store.Completion{Lease: l, State: store.Success, Subtasks: []store.Subtask{{Key: "a", State: store.Success}, {Key: "b", State: store.Cancelled}}})
	for _, id := range []string{ongoing.ID, plain.ID, allOK.ID} {
		if _, err := e.s.Retry(t.Context(), id, store.RetryParams{}); !errors.Is(err, store.ErrNothingToRetry) {
			t.Errorf("Retry(%s): %v, want ErrNothingToRetry", id, err)
		}
	}
	e.wantCounts(1, 1, 1, 0)
}

func testRoundTrip(e *env) {
	t := e.t
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
	r := Owned("job", s1.id, s1.inc)
	r.Args = []string{"", " spaced ", "--flag=1", "ünï"}
	r.Progress = progresses[0]
	r.Subtasks = subtasks
	l := e.insert(r)[0].Lease
	if got := e.get(r.ID); got.Progress != progresses[0] || !slices.Equal(got.Args, r.Args) {
		t.Fatalf("inserted progress %+v args %q, want %+v %q", got.Progress, got.Args, progresses[0], r.Args)
	}
	if d := cmp.Diff(subtasks, e.get(r.ID).Subtasks); d != "" {
		t.Fatalf("inserted subtasks (-want +got):\n%s", d)
	}
	for _, p := range progresses {
		e.update(store.Patch{Lease: l, Progress: &p})
		got := e.get(r.ID).Progress
		if math.Float64bits(got.Current) != math.Float64bits(p.Current) || math.Float64bits(got.Total) != math.Float64bits(p.Total) || got.Message != p.Message {
			t.Fatalf("progress round trip: got %+v, want %+v (bit for bit)", got, p)
		}
	}
	many := make([]store.Subtask, 1000)
	for i := range many {
		many[i] = store.Subtask{Key: string(rune('a'+i%26)) + string(rune('0'+i%10)), State: []store.State{store.SubtaskPending, store.Ongoing, store.Success, store.Failure, store.Cancelled}[i%5],
			Progress: store.Progress{Current: float64(i) / 7, Total: -float64(i)}}
	}
	res := e.finishAll(store.Completion{Lease: l, State: store.Success, Progress: &progresses[2], Subtasks: many})[0]
	if res.Err != nil {
		t.Fatalf("Finish: %v", res.Err)
	}
	got := e.get(r.ID)
	if d := cmp.Diff(many, got.Subtasks); d != "" {
		t.Fatalf("1000 subtasks round trip (-want +got):\n%s", d)
	}
	if got.Progress != progresses[2] {
		t.Fatalf("final progress %+v, want %+v", got.Progress, progresses[2])
	}
}

func testDeleteFinished(e *env) {
	t := e.t
	var fin []*store.Record
	var ls []store.Lease
	for i := range 4 {
		r := Owned("job", s1.id, s1.inc)
		r.IdempotencyKey = "fin-" + string(rune('0'+i))
		fin = append(fin, r)
		ls = append(ls, e.insert(r)[0].Lease)
	}
	queued := NewRecord("job")
	queued.IdempotencyKey = "queued"
	e.insert(queued)
	_, owned := e.run(s1, "job")
	// Finished out of ID order: retention goes by FinishedAt.
	e.finish(ls[1], store.Failure) // T0
	e.clock.Advance(time.Second)
	e.finish(ls[2], store.Cancelled) // T0+1s
	e.clock.Advance(time.Second)
	e.finish(ls[0], store.Success) // T0+2s
	e.clock.Advance(8 * time.Second)
	e.finish(ls[3], store.Success) // T0+10s
	e.clock.Advance(5 * time.Second)
	// Now T0+15s; older than 10s means finished before T0+5s.
	n, err := e.s.DeleteFinished(t.Context(), 10*time.Second, 2)
	if err != nil || n != 2 {
		t.Fatalf("DeleteFinished(limit 2) = %d, %v; want 2", n, err)
	}
	e.wantNotFound(fin[1].ID)
	e.wantNotFound(fin[2].ID)
	e.get(fin[0].ID)
	if n, err := e.s.DeleteFinished(t.Context(), 10*time.Second, 100); err != nil || n != 1 {
		t.Fatalf("DeleteFinished = %d, %v; want 1", n, err)
	}
	e.wantNotFound(fin[0].ID)
	if n, err := e.s.DeleteFinished(t.Context(), 10*time.Second, 100); err != nil || n != 0 {
		t.Fatalf("DeleteFinished with nothing left = %d, %v; want 0", n, err)
	}
	if n, err := e.s.DeleteFinished(t.Context(), 10*time.Second, 0); err != nil || n != 0 {
		t.Fatalf("DeleteFinished(limit 0) = %d, %v; want 0", n, err)
	}
	// Finished after the cutoff and ONGOING records stay.
	for _, id := range []string{fin[3].ID, queued.ID, owned.ID} {
		e.get(id)
	}
	e.wantCounts(2, 1, 0, 0)
	if ids := pageIDs(e.list(store.ListParams{})); len(ids) != 3 {
		t.Fatalf("List after DeleteFinished returned %d records, want 3", len(ids))
	}
	// Deleted records free their idempotency keys; kept ones do not.
	again := NewRecord("job")
	again.IdempotencyKey = "fin-1"
	if res := e.insert(again); res[0] != (store.InsertResult{ID: again.ID}) {
		t.Fatalf("insert with a deleted record's key = %+v, want a new record", res[0])
	}
	dup := NewRecord("job")
	dup.IdempotencyKey = "fin-3"
	if res := e.insert(dup); res[0] != (store.InsertResult{ID: fin[3].ID, Existing: true}) {
		t.Fatalf("insert with a kept record's key = %+v, want existing %s", res[0], fin[3].ID)
	}
	// A deleted record is gone for its former owner too.
	if res := e.finishAll(store.Completion{Lease: ls[0], State: store.Success})[0]; !errors.Is(res.Err, store.ErrNotFound) {
		t.Fatalf("Finish of a deleted record: %v, want ErrNotFound", res.Err)
	}
}

func testClose(e *env) {
	t := e.t
	r := NewRecord("job")
	e.insert(r)
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	checks := map[string]error{}
	_, checks["Insert"] = e.s.Insert(ctx, []*store.Record{NewRecord("job")})
	_, checks["Get"] = e.s.Get(ctx, r.ID)
	_, checks["List"] = e.s.List(ctx, store.ListParams{})
	_, checks["Counts"] = e.s.Counts(ctx)
	_, checks["Claim"] = e.s.Claim(ctx, s1.params(1, "job"))
	_, checks["Recover"] = e.s.Recover(ctx, s1.params(1, "job"), nil)
	_, checks["Renew"] = e.s.Renew(ctx, []store.Lease{{ID: r.ID}})
	_, checks["Update"] = e.s.Update(ctx, []store.Patch{{Lease: store.Lease{ID: r.ID}}})
	_, checks["Finish"] = e.s.Finish(ctx, []store.Completion{{Lease: store.Lease{ID: r.ID}, State: store.Success}})
	_, checks["Release"] = e.s.Release(ctx, []store.Patch{{Lease: store.Lease{ID: r.ID}}})
	_, checks["RequestCancel"] = e.s.RequestCancel(ctx, r.ID)
	_, checks["Retry"] = e.s.Retry(ctx, r.ID, store.RetryParams{})
	_, checks["DeleteFinished"] = e.s.DeleteFinished(ctx, 0, 1)
	_, checks["ReadLog"] = e.s.ReadLog(ctx, 0, 1, 0)
	checks["Announce"] = e.s.Announce(ctx, store.ServerInfo{ID: "x", Incarnation: "x"}, time.Second)
	checks["Withdraw"] = e.s.Withdraw(ctx, "x", "x")
	_, checks["Servers"] = e.s.Servers(ctx)
	checks["Close"] = e.s.Close()
	for op, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
}

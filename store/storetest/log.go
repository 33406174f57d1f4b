package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var logTests = []test{
	{name: "Log/DenseIncreasingSeqs", fn: testLogDense},
	{name: "Log/ReadAfterAndLimit", fn: testLogPaging},
	{name: "Log/ReadInsideOneCallsEvents", fn: testLogPagingOneCall},
	{name: "Log/WaitWakesOnAppend", fn: testLogWait},
	{name: "Log/WaitEndsWithContext", fn: testLogWaitCtx},
	{name: "Log/TrimmedByCount", fn: testLogTrimCount, log: 10},
	{name: "Log/TrimmedByCountAfterLargeCalls", fn: testLogTrimCountLargeCalls, log: 100},
	{name: "Log/TrimmedByAge", fn: testLogTrimAge, age: time.Hour},
	{name: "Log/PositionPastHead", fn: testLogPastHead},
	{name: "Log/ConcurrentWritersOneOrder", fn: testLogConcurrent},
	{name: "Log/RecordKnowsItsNewestEvent", fn: testLogEventSeq},
	{name: "Log/RecordsEventSeqIsNeverPastTheHead", fn: testLogEventSeqNotAhead},
}

// testLogEventSeqNotAhead: the EventSeq of a record a reader sees is never
// past the log's head as ReadLog sees it, however soon after the write it
// reads (a stream resumes from a record's EventSeq: past the head it would
// be a reset). The embedded store made a commit visible to Get before it
// raised the log's head in memory.
func testLogEventSeqNotAhead(e *env) {
	t := e.t
	const n = 300
	ids := make(chan string, n)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ids)
		for range n {
			r := NewRecord("job")
			ids <- r.ID // the reader polls for it while it is written
			if _, err := e.s.Insert(t.Context(), []*store.Record{r}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for id := range ids {
			var r *store.Record
			var err error
			for range 1_000_000 {
				if r, err = e.s.Get(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
					break
				}
				runtime.Gosched()
			}
			if err != nil {
				t.Error(err)
				return
			}
			page, err := e.s.ReadLog(t.Context(), r.EventSeq, 10, 0)
			if err != nil || page.Truncated {
				t.Errorf("ReadLog after the EventSeq %d of a record just read = %+v, %v; want not truncated", r.EventSeq, page, err)
				return
			}
		}
	})
	wg.Wait()
}

// testLogEventSeq: every task event about a record sets its EventSeq in
// the same step; control entries do not.
func testLogEventSeq(e *env) {
	t := e.t
	want := func(id string, seq uint64, what string) {
		t.Helper()
		if got := e.get(id).EventSeq; got != seq {
			t.Fatalf("EventSeq after %s = %d, want %d", what, got, seq)
		}
	}
	q := NewRecord("job")
	e.insert(q)
	want(q.ID, 0, "a queued insert (enqueued is a control entry)")
	cl := e.claim(s1.params(1, "job"))
	want(q.ID, e.head(), "the claim's started event")
	e.update(store.Patch{Lease: cl[0].Lease, Progress: &store.Progress{Current: 1}})
	upd := e.head()
	want(q.ID, upd, "an update")
	if _, err := e.s.RequestCancel(t.Context(), q.ID); err != nil {
		t.Fatal(err)
	}
	want(q.ID, upd, "a cancel request (a control entry)")
	fin := e.finish(cl[0].Lease, store.Cancelled)
	want(q.ID, e.head(), "the terminal event")
	if fin.EventSeq != e.head() {
		t.Fatalf("Finish returned EventSeq %d, want %d", fin.EventSeq, e.head())
	}
	r, _ := e.run(s1, "job")
	want(r.ID, e.head(), "an owned insert")
	q2 := NewRecord("job")
	e.insert(q2)
	if c, err := e.s.RequestCancel(t.Context(), q2.ID); err != nil || c.EventSeq != e.head() {
		t.Fatalf("RequestCancel of a queued record = %+v, %v; want EventSeq %d", c, err, e.head())
	}
}

// checkDense fails unless evs have the Seqs from, from+1, ...
func (e *env) checkDense(evs []store.Event, from uint64) {
	e.t.Helper()
	for i, ev := range evs {
		if ev.Seq != from+uint64(i) {
			e.t.Fatalf("entry %d has Seq %d, want %d (dense, increasing)", i, ev.Seq, from+uint64(i))
		}
	}
}

func testLogDense(e *env) {
	t := e.t
	if page := e.readLog(0); len(page.Events) != 0 || page.Head != 0 || page.Truncated {
		t.Fatalf("log of an empty store = %+v, want empty, head 0", page)
	}
	e.insert(NewRecord("job"))
	_, l := e.run(s1, "job")
	e.update(store.Patch{Lease: l, Progress: &store.Progress{Current: 1}})
	e.finish(l, store.Success)
	page := e.readLog(0)
	if len(page.Events) != 4 || page.Head != 4 || page.Truncated {
		t.Fatalf("log after four changes: %d entries, head %d, truncated %v; want 4, 4, false", len(page.Events), page.Head, page.Truncated)
	}
	e.checkDense(page.Events, 1)
	kinds := []store.EventKind{store.EventEnqueued, store.EventStarted, store.EventUpdated, store.EventDone}
	for i, ev := range page.Events {
		if ev.Kind != kinds[i] {
			t.Errorf("entry %d is %s, want %s", i+1, ev.Kind, kinds[i])
		}
	}
	// Calls that change nothing append nothing.
	e.claim(s2.params(0, "job"))
	e.renew(l)
	e.update(store.Patch{Lease: l})
	if h := e.head(); h != 4 {
		t.Fatalf("head after calls that change nothing = %d, want 4", h)
	}
}

func testLogPaging(e *env) {
	t := e.t
	for range 25 {
		e.insert(NewRecord("job"))
	}
	for _, tc := range []struct {
		after    uint64
		limit    int
		from, n  int
		wantHead uint64
	}{{0, 10, 1, 10, 25}, {10, 10, 11, 10, 25}, {20, 10, 21, 5, 25}, {25, 10, 0, 0, 25}, {3, 1, 4, 1, 25}} {
		page, err := e.s.ReadLog(t.Context(), tc.after, tc.limit, 0)
		if err != nil {
			t.Fatalf("ReadLog(%d, %d): %v", tc.after, tc.limit, err)
		}
		if len(page.Events) != tc.n || page.Head != tc.wantHead || page.Truncated {
			t.Fatalf("ReadLog(%d, %d) = %d entries head %d truncated %v; want %d, %d, false", tc.after, tc.limit, len(page.Events), page.Head, page.Truncated, tc.n, tc.wantHead)
		}
		e.checkDense(page.Events, uint64(tc.from))
	}
	// A limit of 0 or less still reads (a default page).
	if page, err := e.s.ReadLog(t.Context(), 0, 0, 0); err != nil || len(page.Events) == 0 {
		t.Fatalf("ReadLog(limit 0) = %d entries, %v; want a default page", len(page.Events), err)
	}
}

// testLogPagingOneCall: one call that appends many events (a claim of
// 150 records: 150 started events) is read like many calls: any
// position, any limit, the events in order, never more than the limit (a
// store may keep a call's events together, as the Redis store does).
func testLogPagingOneCall(e *env) {
	t := e.t
	recs := make([]*store.Record, 150)
	for i := range recs {
		recs[i] = NewRecord("job")
	}
	e.insert(recs...) // Seq 1: enqueued
	cl := e.claim(s1.params(150, "job"))
	if len(cl) != 150 {
		t.Fatalf("claimed %d of 150", len(cl))
	}
	e.finish(cl[0].Lease, store.Success) // and one more call after it
	byID := map[string]bool{}
	for _, c := range cl {
		byID[c.Lease.ID] = true
	}
	const head = 152
	for _, tc := range []struct {
		after uint64
		limit int
		n     int
	}{{0, 1, 1}, {0, 10, 10}, {1, 1, 1}, {5, 100, 100}, {63, 2, 2}, {64, 1, 1}, {60, 10, 10}, {120, 100, 32}, {149, 5, 3}, {151, 5, 1}, {152, 5, 0}, {0, 1000, 152}} {
		page, err := e.s.ReadLog(t.Context(), tc.after, tc.limit, 0)
		if err != nil {
			t.Fatalf("ReadLog(%d, %d): %v", tc.after, tc.limit, err)
		}
		if len(page.Events) != tc.n || page.Head != head || page.Truncated {
			t.Fatalf("ReadLog(%d, %d) = %d events head %d truncated %v; want %d, %d, false", tc.after, tc.limit, len(page.Events), page.Head, page.Truncated, tc.n, head)
		}
		e.checkDense(page.Events, tc.after+1)
		for _, ev := range page.Events {
			if ev.Seq >= 2 && ev.Seq <= 151 && (ev.Kind != store.EventStarted || !byID[ev.TaskID] || ev.Attempt != 1) {
				t.Fatalf("event %d = %s of %s attempt %d; want started of a claimed record, attempt 1", ev.Seq, ev.Kind, ev.TaskID, ev.Attempt)
			}
		}
	}
}

func testLogWait(e *env) {
	t := e.t
	e.insert(NewRecord("job"))
	head := e.head()
	got := make(chan store.LogPage, 1)
	errs := make(chan error, 1)
	go func() {
		page, err := e.s.ReadLog(t.Context(), head, 10, waitTimeout)
		errs <- err
		got <- page
	}()
	// Whether the reader is already waiting or not, it must see this entry
	// and not time out empty.
	q := NewRecord("job")
	e.insert(q)
	if err := <-errs; err != nil {
		t.Fatalf("ReadLog with wait: %v", err)
	}
	page := <-got
	if len(page.Events) == 0 || page.Events[0].TaskID != q.ID || page.Events[0].Seq != head+1 {
		t.Fatalf("waiting ReadLog returned %+v, want the entry appended meanwhile", page.Events)
	}
	// Nothing new: a short wait returns empty, without error.
	page, err := e.s.ReadLog(t.Context(), head+1, 10, time.Millisecond)
	if err != nil || len(page.Events) != 0 || page.Head != head+1 {
		t.Fatalf("ReadLog with nothing new = %+v, %v; want empty at head %d", page, err, head+1)
	}
}

func testLogWaitCtx(e *env) {
	t := e.t
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The error may be the context's or nil with no entries.
		page, _ := e.s.ReadLog(ctx, 0, 10, time.Hour)
		if len(page.Events) != 0 {
			t.Errorf("ReadLog of an empty log returned %d entries", len(page.Events))
		}
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("ReadLog kept waiting after its context ended")
	}
}

func testLogTrimCount(e *env) {
	t := e.t
	for range 60 {
		e.insert(NewRecord("job"))
	}
	page := e.readLog(0)
	if !page.Truncated || page.Head != 60 {
		t.Fatalf("log of 60 entries bounded to 10, read from 0: truncated %v head %d; want truncated, head 60", page.Truncated, page.Head)
	}
	if len(page.Events) < 10 || len(page.Events) > 30 {
		t.Fatalf("log bounded to 10 keeps %d entries", len(page.Events))
	}
	e.checkDense(page.Events, 61-uint64(len(page.Events)))
	// The newest ten are always there.
	if page := e.readLog(50); page.Truncated || len(page.Events) != 10 {
		t.Fatalf("ReadLog(50): truncated %v, %d entries; want the last 10", page.Truncated, len(page.Events))
	}
}

// testLogTrimCountLargeCalls: calls of many events each (claims of 90
// records) are trimmed to the bound too (within a call's events), and
// what is kept is the newest.
func testLogTrimCountLargeCalls(e *env) {
	t := e.t
	for range 10 {
		recs := make([]*store.Record, 90)
		for i := range recs {
			recs[i] = NewRecord("job")
		}
		e.insert(recs...)
		if cl := e.claim(s1.params(90, "job")); len(cl) != 90 {
			t.Fatalf("claimed %d of 90", len(cl))
		}
	}
	page, err := e.s.ReadLog(t.Context(), 0, 10_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !page.Truncated || page.Head != 910 {
		t.Fatalf("log of 910 events bounded to 100, read from 0: truncated %v head %d; want truncated, head 910", page.Truncated, page.Head)
	}
	if n := len(page.Events); n < 100 || n > 300 {
		t.Fatalf("log bounded to 100 keeps %d events", n)
	}
	e.checkDense(page.Events, 911-uint64(len(page.Events)))
	if page := e.readLog(810); page.Truncated || len(page.Events) != 100 {
		t.Fatalf("ReadLog(810): truncated %v, %d events; want the last 100", page.Truncated, len(page.Events))
	}
}

func testLogTrimAge(e *env) {
	t := e.t
	for range 5 {
		e.insert(NewRecord("job"))
	}
	e.clock.Advance(2 * time.Hour)
	q := NewRecord("job")
	e.insert(q)
	// Retention also trims the log.
	if _, err := e.s.DeleteFinished(t.Context(), time.Hour, 10); err != nil {
		t.Fatal(err)
	}
	page := e.readLog(0)
	if !page.Truncated || len(page.Events) != 1 || page.Events[0].TaskID != q.ID || page.Events[0].Seq != 6 {
		t.Fatalf("log after entries aged out: truncated %v entries %+v; want only entry 6 and truncated", page.Truncated, page.Events)
	}
	if page := e.readLog(5); page.Truncated || len(page.Events) != 1 {
		t.Fatalf("ReadLog(5) after the age trim: %+v, want entry 6, not truncated", page)
	}
}

func testLogPastHead(e *env) {
	t := e.t
	e.insert(NewRecord("job"))
	// A position the log never reached (from another store, or a clock
	// based ID of another version): the reader missed whatever it thinks
	// it saw.
	page, err := e.s.ReadLog(t.Context(), 1_000_000, 10, 0)
	if err != nil || !page.Truncated || page.Head != 1 {
		t.Fatalf("ReadLog past the head = %+v, %v; want truncated at head 1", page, err)
	}
	if len(page.Events) != 1 || page.Events[0].Seq != 1 {
		t.Fatalf("ReadLog past the head returned %+v, want the log from its oldest entry", page.Events)
	}
}

func testLogConcurrent(e *env) {
	t := e.t
	const writers, each = 6, 40
	var wg sync.WaitGroup
	ids := make([][]string, writers)
	for w := range writers {
		wg.Go(func() {
			sv := server{fmt.Sprint("w", w), fmt.Sprint("w", w, "/1")}
			for range each {
				r := Owned("job", sv.id, sv.inc)
				res, err := e.s.Insert(t.Context(), []*store.Record{r})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := e.s.Finish(t.Context(), []store.Completion{{Lease: res[0].Lease, State: store.Success}}); err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], r.ID)
			}
		})
	}
	wg.Wait()
	page := e.readLog(0)
	e.checkDense(page.Events, 1)
	if len(page.Events) != 2*writers*each {
		t.Fatalf("%d entries, want %d", len(page.Events), 2*writers*each)
	}
	// Each task's started comes before its done.
	started := map[string]bool{}
	var order []string
	for _, ev := range page.Events {
		switch ev.Kind {
		case store.EventStarted:
			started[ev.TaskID] = true
		case store.EventDone:
			if !started[ev.TaskID] {
				t.Fatalf("done of %s before its started", ev.TaskID)
			}
			order = append(order, ev.TaskID)
		}
	}
	// And each writer's tasks end in the order it finished them.
	for w := range writers {
		var got []string
		for _, id := range order {
			for _, mine := range ids[w] {
				if id == mine {
					got = append(got, id)
				}
			}
		}
		if d := cmp.Diff(ids[w], got); d != "" {
			t.Fatalf("writer %d's done events out of order (-want +got):\n%s", w, d)
		}
	}
}

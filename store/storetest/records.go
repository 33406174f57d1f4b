package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var recordTests = []test{
	{name: "Insert/StoresQueuedAndOwned", fn: testInsertGet},
	{name: "Insert/IdempotencyKey", fn: testInsertIdempotency},
	{name: "Insert/IdempotencyKeyConcurrent", fn: testInsertIdempotencyConcurrent},
	{name: "Insert/DuplicateID", fn: testInsertDuplicateID},
	{name: "Get/NotFound", fn: testGetNotFound},
	{name: "List/OrderAndFilters", fn: testListFilters},
	{name: "List/Pagination", fn: testListPagination},
	{name: "List/PaginationStableUnderInserts", fn: testListPaginationConcurrent},
	{name: "List/Limits", fn: testListLimits},
	{name: "List/IDPrefix", fn: testListIDPrefix},
	{name: "List/ManyNamesAndStates", fn: testListManyNames},
	{name: "Counts", fn: testCounts},
	{name: "CountsByName", fn: testCountsByName},
}

func testInsertGet(e *env) {
	t := e.t
	queued := NewRecord("alpha", "a", "b c", "")
	queued.Attempt = 7 // a queued record starts at attempt 0 whatever is given
	queued.Fence = 9
	queued.Tags = []string{"gpu", "eu"}
	queued.Priority = store.PriorityIdle
	queued.Timeout = 90 * time.Second
	queued.IdleTimeout = 1500 * time.Millisecond
	queued.IdempotencyKey = "key-1"
	queued.MaxAttempts = 3
	queued.Progress = store.Progress{Total: 10, Message: "waiting"}
	owned := Owned("beta", "srv-1", "srv-1/a")
	owned.Subtasks = []store.Subtask{{Key: "k1", State: store.SubtaskPending}}
	owned.MaxAttempts = 1

	head := e.head()
	e.clock.Advance(time.Second)
	res := e.insert(queued, owned)
	wantLease := store.Lease{ID: owned.ID, Owner: "srv-1", Incarnation: "srv-1/a", Attempt: 1, Fence: 1}
	want := []store.InsertResult{{ID: queued.ID}, {ID: owned.ID, Lease: wantLease}}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("Insert results (-want +got):\n%s", d)
	}

	wantQ := queued.Clone()
	wantQ.State = store.Ongoing
	wantQ.Attempt = 0
	wantQ.Fence = 0
	if d := DiffRecord(wantQ, e.get(queued.ID)); d != "" {
		t.Errorf("queued record (-want +got):\n%s", d)
	}
	wantO := owned.Clone()
	wantO.State = store.Ongoing
	wantO.Attempt = 1
	wantO.Fence = 1
	wantO.HeartbeatAt = At(time.Second)
	wantO.StartedAt = At(time.Second)
	wantO.EventSeq = e.get(owned.ID).EventSeq // checked against the log below
	if d := DiffRecord(wantO, e.get(owned.ID)); d != "" {
		t.Errorf("owned record (-want +got):\n%s", d)
	}
	if l := e.get(owned.ID).Lease(); l != wantLease {
		t.Errorf("stored record's lease = %v, want %v", l, wantLease)
	}
	e.wantCounts(2, 0, 0, 0)

	// The log says one run started and queued work is waiting.
	got, evs := e.eventsSince(head)
	if d := cmp.Diff(sorted(ev(store.EventEnqueued, queued.ID), ev(store.EventStarted, owned.ID)), sorted(got...)); d != "" {
		t.Errorf("events of Insert (-want +got):\n%s", d)
	}
	for _, ev := range evs {
		if !ev.Time.Equal(At(time.Second)) {
			t.Errorf("%s event time %v, want the store's clock %v", ev.Kind, ev.Time, At(time.Second))
		}
		if ev.Kind == store.EventStarted && (ev.Name != "beta" || ev.State != store.Ongoing || ev.Attempt != 1 || ev.Seq != wantO.EventSeq) {
			t.Errorf("started event %+v, want beta ONGOING attempt 1 at the record's EventSeq %d", ev, wantO.EventSeq)
		}
	}

	// The owned record is running already: no one can claim it as queued.
	if got := e.claim(server{"srv-2", "srv-2/a"}.params(10, "beta")); len(got) != 0 {
		t.Fatalf("Claim took %d records inserted as owned, want 0", len(got))
	}

	// Get returns a copy: changing it changes nothing stored.
	r := e.get(queued.ID)
	r.Args[0] = "changed"
	r.Tags[0] = "changed"
	if got := e.get(queued.ID); got.Args[0] != "a" || got.Tags[0] != "gpu" {
		t.Fatalf("changing a record returned by Get changed the store: %+v", got)
	}
}

func testInsertIdempotency(e *env) {
	t := e.t
	a1 := NewRecord("t")
	a1.IdempotencyKey = "k"
	e.insert(a1)
	a2 := NewRecord("t")
	a2.IdempotencyKey = "k"
	res := e.insert(a2)
	if want := (store.InsertResult{ID: a1.ID, Existing: true}); res[0] != want {
		t.Fatalf("second insert with key k = %+v, want %+v", res[0], want)
	}
	e.wantNotFound(a2.ID)

	// Within one batch the first record with a key wins.
	b1, b2, b3 := NewRecord("t"), NewRecord("t"), NewRecord("t")
	b1.IdempotencyKey, b2.IdempotencyKey = "k2", "k2"
	res = e.insert(b1, b2, b3)
	want := []store.InsertResult{{ID: b1.ID}, {ID: b1.ID, Existing: true}, {ID: b3.ID}}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("batch with a repeated key (-want +got):\n%s", d)
	}
	e.wantNotFound(b2.ID)

	// An owned record with a key already used is not stored (and gets no
	// lease).
	o := Owned("t", "s1", "s1/a")
	o.IdempotencyKey = "k"
	if res := e.insert(o); res[0] != (store.InsertResult{ID: a1.ID, Existing: true}) {
		t.Fatalf("owned insert with key k = %+v, want existing %s", res[0], a1.ID)
	}

	// A key stays taken after the record finishes (until it is deleted).
	if _, err := e.s.RequestCancel(t.Context(), a1.ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	a3 := NewRecord("t")
	a3.IdempotencyKey = "k"
	if res := e.insert(a3); res[0] != (store.InsertResult{ID: a1.ID, Existing: true}) {
		t.Fatalf("insert with the key of a finished record = %+v, want existing %s", res[0], a1.ID)
	}
	e.wantCounts(2, 0, 0, 1)
}

func testInsertIdempotencyConcurrent(e *env) {
	t := e.t
	const n = 16
	results := make([]store.InsertResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := NewRecord("t")
			if i%2 == 1 {
				r = Owned("t", "s", fmt.Sprint("s/", i))
			}
			r.IdempotencyKey = "same"
			var res []store.InsertResult
			res, errs[i] = e.s.Insert(t.Context(), []*store.Record{r})
			if errs[i] == nil {
				results[i] = res[0]
			}
		})
	}
	wg.Wait()
	created := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("Insert %d: %v", i, errs[i])
		}
		if res.ID != results[0].ID {
			t.Fatalf("concurrent inserts with one key got IDs %s and %s", results[0].ID, res.ID)
		}
		if !res.Existing {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent inserts with one key created %d records, want 1", n, created)
	}
	e.get(results[0].ID)
	e.wantCounts(1, 0, 0, 0)
}

func testInsertDuplicateID(e *env) {
	t := e.t
	r := NewRecord("t", "original")
	e.insert(r)
	dup := NewRecord("t", "duplicate")
	dup.ID = r.ID
	if _, err := e.s.Insert(t.Context(), []*store.Record{dup}); err == nil {
		t.Fatal("Insert of an ID already stored succeeded, want an error")
	}
	// A batch with a bad record stores none of it.
	ok := NewRecord("t", "fine")
	if _, err := e.s.Insert(t.Context(), []*store.Record{ok, dup}); err == nil {
		t.Fatal("Insert of a batch with a stored ID succeeded, want an error")
	}
	e.wantNotFound(ok.ID)
	if got := e.get(r.ID); !slices.Equal(got.Args, []string{"original"}) {
		t.Fatalf("the duplicate overwrote the record: args %q", got.Args)
	}
	e.wantCounts(1, 0, 0, 0)
}

func testGetNotFound(e *env) {
	e.wantNotFound(NewID())
	e.insert(NewRecord("t"))
	e.wantNotFound(NewID())
}

func testListFilters(e *env) {
	t := e.t
	var rs []*store.Record
	states := []store.State{store.Ongoing, store.Failure, store.Success, store.Ongoing, store.Success, store.Ongoing}
	for i, st := range states {
		name := []string{"a", "b"}[i%2]
		if st == store.Ongoing {
			r := NewRecord(name, fmt.Sprint(i))
			e.insert(r)
			rs = append(rs, r)
			continue
		}
		rs = append(rs, e.ended(name, st))
	}

	for _, tc := range []struct {
		p    store.ListParams
		want []*store.Record
	}{
		{store.ListParams{}, []*store.Record{rs[5], rs[4], rs[3], rs[2], rs[1], rs[0]}},
		{store.ListParams{State: store.Ongoing}, []*store.Record{rs[5], rs[3], rs[0]}},
		{store.ListParams{State: store.Success}, []*store.Record{rs[4], rs[2]}},
		{store.ListParams{State: store.Cancelled}, nil},
		{store.ListParams{Name: "a"}, []*store.Record{rs[4], rs[2], rs[0]}},
		{store.ListParams{Name: "b"}, []*store.Record{rs[5], rs[3], rs[1]}},
		{store.ListParams{Name: "a", State: store.Success}, []*store.Record{rs[4], rs[2]}},
		{store.ListParams{Name: "b", State: store.Success}, nil},
		{store.ListParams{Name: "nope"}, nil},
	} {
		page := e.list(tc.p)
		if d := cmp.Diff(recIDs(tc.want...), pageIDs(page)); d != "" {
			t.Errorf("List(%+v) IDs (-want +got):\n%s", tc.p, d)
		}
		if page.NextCursor != "" {
			t.Errorf("List(%+v).NextCursor = %q, want \"\" (no more records)", tc.p, page.NextCursor)
		}
	}
	// Records come back whole.
	page := e.list(store.ListParams{Name: "a", State: store.Success})
	if d := DiffRecord(e.get(rs[4].ID), page.Records[0]); d != "" {
		t.Errorf("listed record differs from Get (-get +list):\n%s", d)
	}
}

func (e *env) insertMany(n int, name func(i int) string) []*store.Record {
	e.t.Helper()
	rs := make([]*store.Record, n)
	for i := range rs {
		rs[i] = NewRecord(name(i), fmt.Sprint(i))
	}
	e.insert(rs...)
	return rs
}

func descIDs(rs []*store.Record) []string {
	ids := recIDs(rs...)
	slices.Reverse(ids)
	return ids
}

// listAll pages through List and returns every ID and the page sizes.
func (e *env) listAll(p store.ListParams, between func()) ([]string, []int) {
	e.t.Helper()
	var ids []string
	var sizes []int
	for range 10_000 {
		page := e.list(p)
		ids = append(ids, pageIDs(page)...)
		sizes = append(sizes, len(page.Records))
		if page.NextCursor == "" {
			return ids, sizes
		}
		p.Cursor = page.NextCursor
		if between != nil {
			between()
		}
	}
	e.t.Fatal("List never returned an empty NextCursor")
	return nil, nil
}

func testListPagination(e *env) {
	t := e.t
	rs := e.insertMany(250, func(i int) string { return []string{"a", "b"}[i%3/2] })
	ids, sizes := e.listAll(store.ListParams{Limit: 100}, nil)
	if d := cmp.Diff(descIDs(rs), ids); d != "" {
		t.Fatalf("paged IDs (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{100, 100, 50}, sizes); d != "" {
		t.Fatalf("page sizes (-want +got):\n%s", d)
	}
	// Exactly full last page: NextCursor may be set, the next page is empty.
	ids, _ = e.listAll(store.ListParams{Limit: 125}, nil)
	if len(ids) != 250 {
		t.Fatalf("paging by 125 returned %d IDs, want 250", len(ids))
	}

	var as []*store.Record
	for i, r := range rs {
		if i%3 != 2 {
			as = append(as, r)
		}
	}
	for _, p := range []store.ListParams{{Name: "a", Limit: 7}, {Name: "a", State: store.Ongoing, Limit: 7}, {State: store.Ongoing, Limit: 7}} {
		want := descIDs(as)
		if p.Name == "" {
			want = descIDs(rs)
		}
		ids, _ := e.listAll(p, nil)
		if d := cmp.Diff(want, ids); d != "" {
			t.Fatalf("paged IDs of %+v (-want +got):\n%s", p, d)
		}
	}
}

func testListPaginationConcurrent(e *env) {
	t := e.t
	rs := e.insertMany(120, func(int) string { return "a" })
	for _, p := range []store.ListParams{{Limit: 9}, {Name: "a", Limit: 9}, {State: store.Ongoing, Limit: 9}} {
		ids, _ := e.listAll(p, func() {
			// New records (newer IDs) arrive between pages.
			e.insertMany(3, func(int) string { return "a" })
		})
		if !slices.IsSortedFunc(ids, func(a, b string) int { return -strings.Compare(a, b) }) {
			t.Fatalf("List %+v under inserts is not strictly newest first", p)
		}
		if got := slices.Compact(slices.Clone(ids)); len(got) != len(ids) {
			t.Fatalf("List %+v under inserts returned duplicates", p)
		}
		for _, r := range rs {
			if !slices.Contains(ids, r.ID) {
				t.Fatalf("List %+v under inserts skipped %s", p, r.ID)
			}
		}
	}
}

func testListLimits(e *env) {
	t := e.t
	e.insertMany(1100, func(int) string { return "a" })
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-5, 100}, {1, 1}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
		page := e.list(store.ListParams{Limit: tc.limit})
		if len(page.Records) != tc.want {
			t.Errorf("List(Limit %d) returned %d records, want %d", tc.limit, len(page.Records), tc.want)
		}
		if page.NextCursor == "" {
			t.Errorf("List(Limit %d).NextCursor is empty with 1100 records", tc.limit)
		}
	}
}

func testCounts(e *env) {
	t := e.t
	e.wantCounts(0, 0, 0, 0)
	rs := e.insertMany(4, func(int) string { return "a" })
	e.wantCounts(4, 0, 0, 0)
	e.ended("a", store.Success)
	e.ended("a", store.Success)
	fail := e.ended("a", store.Failure)
	if _, err := e.s.RequestCancel(t.Context(), rs[3].ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	e.wantCounts(3, 2, 1, 1)
	// Failed operations change no count.
	if res := e.finishAll(store.Completion{Lease: store.Lease{ID: fail.ID, Owner: "x", Incarnation: "x", Fence: 99}, State: store.Success}); res[0].Err == nil {
		t.Fatalf("Finish of a finished record under a foreign lease succeeded")
	}
	e.wantCounts(3, 2, 1, 1)
	e.clock.Advance(time.Hour)
	if n, err := e.s.DeleteFinished(t.Context(), time.Minute, 100); err != nil || n != 4 {
		t.Fatalf("DeleteFinished = %d, %v; want 4", n, err)
	}
	e.wantCounts(3, 0, 0, 0)
}

// testListIDPrefix: an ID prefix keeps the records whose ID starts with
// it, alone and with every other filter, across pages.
func testListIDPrefix(e *env) {
	t := e.t
	rs := e.insertMany(40, func(i int) string { return []string{"a", "b"}[i%2] })
	for range 3 {
		rs = append(rs, e.ended("a", store.Success), e.ended("b", store.Failure))
	}
	last := rs[len(rs)-1].ID
	prefixes := []string{last, rs[0].ID, rs[17].ID[:len(rs[17].ID)-1], "ffff", "0000", ""}
	// Prefixes of every length of two IDs: from "everything" to "one".
	for _, id := range []string{rs[5].ID, last} {
		for n := 1; n < len(id); n += 3 {
			prefixes = append(prefixes, id[:n])
		}
	}
	for _, prefix := range prefixes {
		for _, p := range []store.ListParams{{}, {Name: "a"}, {State: store.Ongoing}, {State: store.Failure, Name: "b"}, {State: store.Success}} {
			p.IDPrefix, p.Limit = prefix, 3
			var want []string
			for _, r := range rs {
				got := e.get(r.ID)
				if strings.HasPrefix(r.ID, prefix) && (p.Name == "" || got.Name == p.Name) && (p.State == "" || got.State == p.State) {
					want = append(want, r.ID)
				}
			}
			slices.Sort(want)
			slices.Reverse(want)
			ids, _ := e.listAll(p, nil)
			if d := cmp.Diff(want, ids); d != "" {
				t.Fatalf("List %+v (-want +got):\n%s", p, d)
			}
		}
	}
	// A cursor outside the prefix's range: below it nothing, above it
	// every match.
	p := store.ListParams{IDPrefix: last[:20], Cursor: "0"}
	if page := e.list(p); len(page.Records) != 0 {
		t.Fatalf("List %+v = %v, want nothing", p, pageIDs(page))
	}
	p.Cursor = "g"
	if page := e.list(p); len(page.Records) == 0 || page.Records[0].ID != last {
		t.Fatalf("List %+v = %v, want the newest match first", p, pageIDs(page))
	}
}

// testCountsByName: per name and state, following every change.
func testCountsByName(e *env) {
	t := e.t
	counts := func() store.NameCounts {
		t.Helper()
		c, err := e.s.CountsByName(t.Context())
		if err != nil {
			t.Fatalf("CountsByName: %v", err)
		}
		return c
	}
	if c := counts(); len(c) != 0 {
		t.Fatalf("CountsByName of an empty store = %v", c)
	}
	rs := e.insertMany(5, func(i int) string { return []string{"a", "b.x"}[i%2] })
	e.ended("a", store.Success)
	e.ended("b.x", store.Failure)
	e.ended("c", store.Success)
	if _, err := e.s.RequestCancel(t.Context(), rs[0].ID); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	want := store.NameCounts{
		"a":   {store.Ongoing: 2, store.Success: 1, store.Cancelled: 1},
		"b.x": {store.Ongoing: 2, store.Failure: 1},
		"c":   {store.Success: 1},
	}
	if d := cmp.Diff(want, counts()); d != "" {
		t.Fatalf("CountsByName (-want +got):\n%s", d)
	}
	e.clock.Advance(time.Hour)
	if n, err := e.s.DeleteFinished(t.Context(), time.Minute, 100); err != nil || n != 4 {
		t.Fatalf("DeleteFinished = %d, %v; want 4", n, err)
	}
	want = store.NameCounts{"a": {store.Ongoing: 2}, "b.x": {store.Ongoing: 2}}
	if d := cmp.Diff(want, counts()); d != "" {
		t.Fatalf("CountsByName after deleting the finished records (-want +got):\n%s", d)
	}
}

// testListManyNames: pages over records of many names in every state,
// unevenly spread (one name holds most, some one each), with and
// without filters and at several page sizes, give the IDs newest first
// exactly once.
func testListManyNames(e *env) {
	t := e.t
	type rec struct {
		id, name string
		state    store.State
	}
	var all []rec
	names := func(i int) string {
		if i%10 < 6 {
			return "n0"
		}
		return fmt.Sprintf("n%d", 1+(i*7)%9)
	}
	for _, r := range e.insertMany(120, names) {
		all = append(all, rec{r.ID, r.Name, store.Ongoing})
	}
	states := []store.State{store.Success, store.Failure, store.Cancelled, store.Success}
	for i := range 30 {
		name := names(i * 3)
		r, l := e.run(s1, name)
		st := states[i%len(states)]
		e.finish(l, st)
		all = append(all, rec{r.ID, name, st})
	}
	// a name with a single record, finished
	r, l := e.run(s1, "lonely")
	e.finish(l, store.Failure)
	all = append(all, rec{r.ID, "lonely", store.Failure})
	want := func(p store.ListParams) []string {
		var ids []string
		for _, r := range all {
			if (p.State == "" || p.State == r.state) && (p.Name == "" || p.Name == r.name) && strings.HasPrefix(r.id, p.IDPrefix) {
				ids = append(ids, r.id)
			}
		}
		slices.Sort(ids)
		slices.Reverse(ids)
		return ids
	}
	prefix := all[len(all)/2].id[:9]
	for _, p := range []store.ListParams{
		{}, {State: store.Success}, {State: store.Failure}, {State: store.Ongoing}, {State: store.Cancelled},
		{Name: "n0"}, {Name: "lonely"}, {Name: "n3", State: store.Ongoing}, {IDPrefix: prefix}, {IDPrefix: prefix, State: store.Success},
	} {
		for _, limit := range []int{1, 2, 5, 13, 1000} {
			p.Limit = limit
			ids, _ := e.listAll(p, nil)
			if d := cmp.Diff(want(p), ids); d != "" {
				t.Fatalf("paged IDs of %+v (-want +got):\n%s", p, d)
			}
		}
	}
}

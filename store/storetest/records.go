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

var recordTests = []test{
	{"Insert/StoresQueuedAndOwned", testInsertGet},
	{"Insert/IdempotencyKey", testInsertIdempotency},
	{"Insert/IdempotencyKeyConcurrent", testInsertIdempotencyConcurrent},
	{"Insert/DuplicateID", testInsertDuplicateID},
	{"Get/NotFound", testGetNotFound},
	{"List/OrderAndFilters", testListFilters},
	{"List/Pagination", testListPagination},
	{"List/PaginationStableUnderInserts", testListPaginationConcurrent},
	{"List/Limits", testListLimits},
	{"Counts", testCounts},
}

func mustInsert(t *testing.T, s store.Store, recs ...*store.Record) []store.InsertResult {
	t.Helper()
	res, err := s.Insert(t.Context(), recs)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if len(res) != len(recs) {
		t.Fatalf("Insert returned %d results for %d records", len(res), len(recs))
	}
	return res
}

func mustGet(t *testing.T, s store.Store, id string) *store.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

func wantNotFound(t *testing.T, s store.Store, id string) {
	t.Helper()
	if r, err := s.Get(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%s) = %+v, %v; want ErrNotFound", id, r, err)
	}
}

func mustList(t *testing.T, s store.Store, p store.ListParams) *store.ListPage {
	t.Helper()
	page, err := s.List(t.Context(), p)
	if err != nil {
		t.Fatalf("List(%+v): %v", p, err)
	}
	return page
}

func pageIDs(p *store.ListPage) []string {
	ids := make([]string, 0, len(p.Records))
	for _, r := range p.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func recIDs(recs ...*store.Record) []string {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

func mustCounts(t *testing.T, s store.Store) store.Counts {
	t.Helper()
	c, err := s.Counts(t.Context())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	return c
}

func wantCounts(t *testing.T, s store.Store, ongoing, success, failure, cancelled int) {
	t.Helper()
	c := mustCounts(t, s)
	got := [4]int{c[store.Ongoing], c[store.Success], c[store.Failure], c[store.Cancelled]}
	if want := [4]int{ongoing, success, failure, cancelled}; got != want {
		t.Fatalf("Counts ONGOING/SUCCESS/FAILURE/CANCELLED = %v, want %v", got, want)
	}
}

func testInsertGet(t *testing.T, s store.Store) {
	queued := NewRecord("alpha", "a", "b c", "")
	queued.Attempt = 7 // a queued record starts at attempt 0 whatever is given
	queued.Tags = []string{"gpu", "eu"}
	queued.Priority = "idle"
	queued.Timeout = 90 * time.Second
	queued.IdleTimeout = 1500 * time.Millisecond
	queued.IdempotencyKey = "key-1"
	queued.Progress = store.Progress{Total: 10, Message: "waiting"}
	owned := Owned("beta", "srv-1", At(time.Second))
	owned.Subtasks = []store.Subtask{{Key: "k1", State: store.SubtaskPending}}

	res := mustInsert(t, s, queued, owned)
	want := []store.InsertResult{{ID: queued.ID}, {ID: owned.ID}}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("Insert results (-want +got):\n%s", d)
	}

	wantQ := queued.Clone()
	wantQ.State = store.Ongoing
	wantQ.Attempt = 0
	if d := DiffRecord(wantQ, mustGet(t, s, queued.ID)); d != "" {
		t.Errorf("queued record (-want +got):\n%s", d)
	}
	wantO := owned.Clone()
	wantO.State = store.Ongoing
	if d := DiffRecord(wantO, mustGet(t, s, owned.ID)); d != "" {
		t.Errorf("owned record (-want +got):\n%s", d)
	}
	wantCounts(t, s, 2, 0, 0, 0)

	// The owned record is running already: no one can claim it as queued.
	got, err := s.Claim(t.Context(), store.ClaimParams{Owner: "srv-2", Names: []string{"beta"}, Limit: 10, Now: At(2 * time.Second)})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("Claim took %d records inserted as owned, want 0", len(got))
	}

	// Get returns a copy: changing it changes nothing stored.
	r := mustGet(t, s, queued.ID)
	r.Args[0] = "changed"
	r.Tags[0] = "changed"
	if got := mustGet(t, s, queued.ID); got.Args[0] != "a" || got.Tags[0] != "gpu" {
		t.Fatalf("changing a record returned by Get changed the store: %+v", got)
	}
}

func testInsertIdempotency(t *testing.T, s store.Store) {
	a1 := NewRecord("t")
	a1.IdempotencyKey = "k"
	mustInsert(t, s, a1)
	a2 := NewRecord("t")
	a2.IdempotencyKey = "k"
	res := mustInsert(t, s, a2)
	if want := (store.InsertResult{ID: a1.ID, Existing: true}); res[0] != want {
		t.Fatalf("second insert with key k = %+v, want %+v", res[0], want)
	}
	wantNotFound(t, s, a2.ID)

	// Within one batch the first record with a key wins.
	b1, b2, b3 := NewRecord("t"), NewRecord("t"), NewRecord("t")
	b1.IdempotencyKey, b2.IdempotencyKey = "k2", "k2"
	res = mustInsert(t, s, b1, b2, b3)
	want := []store.InsertResult{{ID: b1.ID}, {ID: b1.ID, Existing: true}, {ID: b3.ID}}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("batch with a repeated key (-want +got):\n%s", d)
	}
	wantNotFound(t, s, b2.ID)

	// A key stays taken after the record finishes (until it is deleted).
	if _, err := s.Finish(t.Context(), "", a1.ID, store.Completion{State: store.Success, FinishedAt: At(time.Second)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	a3 := NewRecord("t")
	a3.IdempotencyKey = "k"
	if res := mustInsert(t, s, a3); res[0] != (store.InsertResult{ID: a1.ID, Existing: true}) {
		t.Fatalf("insert with the key of a finished record = %+v, want existing %s", res[0], a1.ID)
	}
	wantCounts(t, s, 2, 1, 0, 0)
}

func testInsertIdempotencyConcurrent(t *testing.T, s store.Store) {
	const n = 16
	results := make([]store.InsertResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := NewRecord("t")
			r.IdempotencyKey = "same"
			var res []store.InsertResult
			res, errs[i] = s.Insert(t.Context(), []*store.Record{r})
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
	mustGet(t, s, results[0].ID)
	wantCounts(t, s, 1, 0, 0, 0)
}

func testInsertDuplicateID(t *testing.T, s store.Store) {
	r := NewRecord("t", "original")
	mustInsert(t, s, r)
	dup := NewRecord("t", "duplicate")
	dup.ID = r.ID
	if _, err := s.Insert(t.Context(), []*store.Record{dup}); err == nil {
		t.Fatal("Insert of an ID already stored succeeded, want an error")
	}
	if got := mustGet(t, s, r.ID); !slices.Equal(got.Args, []string{"original"}) {
		t.Fatalf("the duplicate overwrote the record: args %q", got.Args)
	}
	wantCounts(t, s, 1, 0, 0, 0)
}

func testGetNotFound(t *testing.T, s store.Store) {
	wantNotFound(t, s, NewID())
	mustInsert(t, s, NewRecord("t"))
	wantNotFound(t, s, NewID())
}

func finishQueued(t *testing.T, s store.Store, id string, st store.State, at time.Time) *store.Record {
	t.Helper()
	r, err := s.Finish(t.Context(), "", id, store.Completion{State: st, FinishedAt: at})
	if err != nil {
		t.Fatalf("Finish(%s): %v", id, err)
	}
	return r
}

func testListFilters(t *testing.T, s store.Store) {
	var rs []*store.Record
	for i := range 6 {
		r := NewRecord([]string{"a", "b"}[i%2], fmt.Sprint(i))
		mustInsert(t, s, r)
		rs = append(rs, r)
	}
	finishQueued(t, s, rs[1].ID, store.Failure, At(time.Second))
	finishQueued(t, s, rs[2].ID, store.Success, At(time.Second))
	finishQueued(t, s, rs[4].ID, store.Success, At(time.Second))

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
		page := mustList(t, s, tc.p)
		if d := cmp.Diff(recIDs(tc.want...), pageIDs(page)); d != "" {
			t.Errorf("List(%+v) IDs (-want +got):\n%s", tc.p, d)
		}
		if page.NextCursor != "" {
			t.Errorf("List(%+v).NextCursor = %q, want \"\" (no more records)", tc.p, page.NextCursor)
		}
	}
	// Records come back whole.
	page := mustList(t, s, store.ListParams{Name: "a", State: store.Success})
	if d := DiffRecord(mustGet(t, s, rs[4].ID), page.Records[0]); d != "" {
		t.Errorf("listed record differs from Get (-get +list):\n%s", d)
	}
}

func insertMany(t *testing.T, s store.Store, n int, name func(i int) string) []*store.Record {
	t.Helper()
	rs := make([]*store.Record, n)
	for i := range rs {
		rs[i] = NewRecord(name(i), fmt.Sprint(i))
	}
	mustInsert(t, s, rs...)
	return rs
}

func descIDs(rs []*store.Record) []string {
	ids := recIDs(rs...)
	slices.Reverse(ids)
	return ids
}

// listAll pages through List and returns every ID and the page sizes.
func listAll(t *testing.T, s store.Store, p store.ListParams, between func()) ([]string, []int) {
	t.Helper()
	var ids []string
	var sizes []int
	for range 10_000 {
		page := mustList(t, s, p)
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
	t.Fatal("List never returned an empty NextCursor")
	return nil, nil
}

func testListPagination(t *testing.T, s store.Store) {
	rs := insertMany(t, s, 250, func(i int) string { return []string{"a", "b"}[i%3/2] })
	ids, sizes := listAll(t, s, store.ListParams{Limit: 100}, nil)
	if d := cmp.Diff(descIDs(rs), ids); d != "" {
		t.Fatalf("paged IDs (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{100, 100, 50}, sizes); d != "" {
		t.Fatalf("page sizes (-want +got):\n%s", d)
	}
	// Exactly full last page: NextCursor may be set, the next page is empty.
	ids, _ = listAll(t, s, store.ListParams{Limit: 125}, nil)
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
		ids, _ := listAll(t, s, p, nil)
		if d := cmp.Diff(want, ids); d != "" {
			t.Fatalf("paged IDs of %+v (-want +got):\n%s", p, d)
		}
	}
}

func testListPaginationConcurrent(t *testing.T, s store.Store) {
	rs := insertMany(t, s, 120, func(int) string { return "a" })
	for _, p := range []store.ListParams{{Limit: 9}, {Name: "a", Limit: 9}, {State: store.Ongoing, Limit: 9}} {
		ids, _ := listAll(t, s, p, func() {
			// New records (newer IDs) arrive between pages.
			insertMany(t, s, 3, func(int) string { return "a" })
		})
		if !slices.IsSortedFunc(ids, func(a, b string) int { return -cmp3(a, b) }) {
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

func cmp3(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testListLimits(t *testing.T, s store.Store) {
	insertMany(t, s, 1100, func(int) string { return "a" })
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-5, 100}, {1, 1}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
		page := mustList(t, s, store.ListParams{Limit: tc.limit})
		if len(page.Records) != tc.want {
			t.Errorf("List(Limit %d) returned %d records, want %d", tc.limit, len(page.Records), tc.want)
		}
		if page.NextCursor == "" {
			t.Errorf("List(Limit %d).NextCursor is empty with 1100 records", tc.limit)
		}
	}
}

func testCounts(t *testing.T, s store.Store) {
	wantCounts(t, s, 0, 0, 0, 0)
	rs := insertMany(t, s, 7, func(int) string { return "a" })
	wantCounts(t, s, 7, 0, 0, 0)
	finishQueued(t, s, rs[0].ID, store.Success, At(time.Second))
	finishQueued(t, s, rs[1].ID, store.Success, At(time.Second))
	finishQueued(t, s, rs[2].ID, store.Failure, At(time.Second))
	if _, err := s.RequestCancel(t.Context(), rs[3].ID, At(time.Second)); err != nil {
		t.Fatalf("RequestCancel: %v", err)
	}
	wantCounts(t, s, 3, 2, 1, 1)
	// Failed operations change no count.
	if _, err := s.Finish(t.Context(), "", rs[0].ID, store.Completion{State: store.Failure, FinishedAt: At(time.Second)}); !errors.Is(err, store.ErrFinished) {
		t.Fatalf("Finish of a finished record: %v, want ErrFinished", err)
	}
	wantCounts(t, s, 3, 2, 1, 1)
	if n, err := s.DeleteFinished(t.Context(), At(time.Hour), 100); err != nil || n != 4 {
		t.Fatalf("DeleteFinished = %d, %v; want 4", n, err)
	}
	wantCounts(t, s, 3, 0, 0, 0)
}

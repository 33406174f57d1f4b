package redisstore

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
)

// TestRecordHashStaysCompact: a record with a long argument, error and
// subtask list is stored in 64-byte pieces, so its hash stays a listpack
// (the compact encoding) through insert, update and finish, and reads
// back whole.
func TestRecordHashStaysCompact(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	long := strings.Repeat("0123456789", 25)
	r := storetest.Owned("job", "web-1", "web-1/1")
	r.Args = []string{long, long}
	res, err := s.Insert(ctx, []*store.Record{r})
	if err != nil {
		t.Fatal(err)
	}
	encoding := func(when string) {
		t.Helper()
		if enc := s.rdb.ObjectEncoding(ctx, s.cfg.Prefix+"t:"+r.ID).Val(); enc != "listpack" {
			t.Fatalf("record hash after %s is a %q, want a listpack", when, enc)
		}
	}
	encoding("insert")
	subs := []store.Subtask{{Key: "a", State: store.Failure, Error: long}, {Key: "b", State: store.Success}}
	l := res[0].Lease
	if _, err := s.Update(ctx, []store.Patch{{Lease: l, Progress: &store.Progress{Current: 1, Total: 2, Message: long}, Subtasks: subs}}); err != nil {
		t.Fatal(err)
	}
	encoding("update")
	fin, err := s.Finish(ctx, []store.Completion{{Lease: l, State: store.Failure, Error: long + long, Progress: &store.Progress{Message: "short"}}})
	if err != nil || fin[0].Err != nil {
		t.Fatalf("Finish = %+v, %v", fin, err)
	}
	encoding("finish")
	got, err := s.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Args[0] != long || got.Error != long+long || got.Subtasks[0].Error != long || got.Progress.Message != "short" {
		t.Fatalf("long values did not read back whole: %+v", got)
	}
	// The shorter progress message left no stale piece behind.
	if n := s.rdb.HExists(ctx, s.cfg.Prefix+"t:"+r.ID, "p2").Val(); n {
		t.Fatal("a stale piece of the old progress is still stored")
	}
}

// oldLayout rewrites record id's hash as a store before the packed hot
// fields wrote it: each of z's fields in a hash field of its own.
func oldLayout(t *testing.T, s *Store, id string) {
	t.Helper()
	ctx := t.Context()
	key := s.cfg.Prefix + "t:" + id
	z, err := s.rdb.HGet(ctx, key, "z").Result()
	if err != nil {
		t.Fatalf("record %s has no z: %v", id, err)
	}
	f := map[string]string{}
	if err := unpackHot(f, z); err != nil {
		t.Fatal(err)
	}
	var set []any
	for k, v := range f {
		if v != "" {
			set = append(set, k, v)
		}
	}
	if err := s.rdb.HDel(ctx, key, "z").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, key, set...).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestOldLayoutRecords: records stored before the hot fields were packed
// into z (each in a field of its own) read the same, are claimed,
// finished and cancelled as before, and are moved to the packed layout by
// their first write.
func TestOldLayoutRecords(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	queued, owned, other := storetest.NewRecord("job", "q"), storetest.Owned("job", "web-1", "web-1/1"), storetest.NewRecord("other", "c")
	res, err := s.Insert(ctx, []*store.Record{queued, owned, other})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{queued.ID, owned.ID, other.ID} {
		before, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		oldLayout(t, s, id)
		after, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("record of the old layout reads\n%+v\nwant\n%+v", after, before)
		}
	}
	// a claim of a queued record, a finish of an owned one, a cancel
	cl, err := s.Claim(ctx, store.ClaimParams{Owner: "web-2", Incarnation: "web-2/1", Names: []string{"job"}, Limit: 10})
	if err != nil || len(cl) != 1 || cl[0].Record.ID != queued.ID {
		t.Fatalf("Claim = %+v, %v; want the queued record", cl, err)
	}
	if r := cl[0].Record; r.Attempt != 1 || r.Owner != "web-2" || r.Incarnation != "web-2/1" || r.Fence != 1 || r.StartedAt.IsZero() || r.Args[0] != "q" {
		t.Fatalf("claimed record = %+v", r)
	}
	fin, err := s.Finish(ctx, []store.Completion{{Lease: res[1].Lease, State: store.Success}, {Lease: cl[0].Lease, State: store.Failure, Error: "boom"}})
	if err != nil || fin[0].Err != nil || fin[1].Err != nil {
		t.Fatalf("Finish = %+v, %v", fin, err)
	}
	if _, err := s.RequestCancel(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.State{queued.ID: store.Failure, owned.ID: store.Success, other.ID: store.Cancelled}
	for id, st := range want {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != st || r.FinishedAt.IsZero() || r.Owner != "" {
			t.Fatalf("%s = %+v, want %s", id, r, st)
		}
		if id == queued.ID && (r.Error != "boom" || r.Attempt != 1) {
			t.Fatalf("failed record = %+v", r)
		}
		fields, err := s.rdb.HKeys(ctx, s.cfg.Prefix+"t:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(fields, "z") {
			t.Fatalf("%s: no z after a write: %v", id, fields)
		}
		for _, f := range hotFields {
			if slices.Contains(fields, f) {
				t.Fatalf("%s: field %s of the old layout still stored: %v", id, f, fields)
			}
		}
	}
}

// TestIncarnationSetIsASkipList: the set of the records an incarnation
// holds is a skip list from its first claim (the 72-byte member beside
// the records; as a packed list, every claim, finish and heartbeat read
// of a server running 100 tasks walked 100 entries), and it goes with
// its last record. (That the extra member is no record, the heartbeat by
// digest shows: TestHeartbeatByDigest.)
func TestIncarnationSetIsASkipList(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	leases := claimAll(t, s, "web-1", "web-1/1", 3)
	key := s.cfg.Prefix + "li:5:web-1:web-1/1"
	if enc := s.rdb.ObjectEncoding(ctx, key).Val(); enc != "skiplist" {
		t.Errorf("incarnation set encoding %q, want skiplist", enc)
	}
	cs := make([]store.Completion, len(leases))
	for i, l := range leases {
		cs[i] = store.Completion{Lease: l, State: store.Success}
	}
	if _, err := s.Finish(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if n := s.rdb.Exists(ctx, key).Val(); n != 0 {
		t.Errorf("incarnation set still there after its last record finished")
	}
}

// TestListLeavesOutADamagedRecord: one record damaged outside bgtask (a
// hand-edited hash: `HSET P t:ID z garbage`, `p 'NaN NaN'`, `u '[['`) made
// every page it fell on a 500, so `bgtask list` and the dashboard failed
// until the key was deleted. The page now leaves it out (and the log names
// it); Get of that ID still reports the damage.
func TestListLeavesOutADamagedRecord(t *testing.T) {
	t.Parallel()
	for _, field := range [][2]string{{"z", "garbage"}, {"p", "NaN NaN"}, {"u", "[["}} {
		s := privateStore(t)
		ctx := t.Context()
		a, bad, c := storetest.NewRecord("job", "a"), storetest.NewRecord("job", "b"), storetest.NewRecord("job", "c")
		if _, err := s.Insert(ctx, []*store.Record{a, bad, c}); err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.HSet(ctx, s.cfg.Prefix+"t:"+bad.ID, field[0], field[1]).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, bad.ID); err == nil {
			t.Fatalf("%s=%q: Get of the damaged record: no error", field[0], field[1])
		}
		page, err := s.List(ctx, store.ListParams{})
		if err != nil {
			t.Fatalf("%s=%q: List: %v", field[0], field[1], err)
		}
		var ids []string
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if want := []string{c.ID, a.ID}; !slices.Equal(ids, want) {
			t.Fatalf("%s=%q: List gave %v, want the two sound records %v", field[0], field[1], ids, want)
		}
	}
}

package redisstore

import (
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

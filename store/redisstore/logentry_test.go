package redisstore

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/redis/go-redis/v9"
)

// privateStore opens a store with the default config on a private
// redis-server of t's own; both end with t.
func privateStore(t *testing.T) *Store {
	t.Helper()
	srv := redistest.Start(t, nil)
	s, err := New(t.Context(), srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLogEntryHoldsOneCallsEvents: a call's events go into one stream
// entry (at most entryMax of them), and values of any bytes (newlines,
// colons, digits, invalid UTF-8) come back from the log exactly.
func TestLogEntryHoldsOneCallsEvents(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	recs := make([]*store.Record, 150)
	for i := range recs {
		recs[i] = storetest.NewRecord("job")
	}
	if _, err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	before := s.rdb.XLen(ctx, s.cfg.Prefix+"log").Val()
	cl, err := s.Claim(ctx, store.ClaimParams{Owner: "web-1", Incarnation: "web-1/1", Names: []string{"job"}, Limit: 150})
	if err != nil || len(cl) != 150 {
		t.Fatalf("Claim = %d, %v", len(cl), err)
	}
	if n := s.rdb.XLen(ctx, s.cfg.Prefix+"log").Val() - before; n != 3 {
		t.Fatalf("a claim of 150 added %d log entries, want 3 (64 + 64 + 22 events)", n)
	}
	odd := "line 1\nline 2: 12:34 \xff\xfe k3:abc"
	// (subtasks are JSON in the record: valid UTF-8 only)
	oddUTF8 := "line 1\nline 2: 12:34 ü k3:abc"
	l := cl[0].Lease
	if _, err := s.Update(ctx, []store.Patch{{Lease: l, Subtasks: []store.Subtask{{Key: "a\nb", State: store.Failure, Error: oddUTF8}}}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Finish(ctx, []store.Completion{{Lease: l, State: store.Success, Error: odd, Progress: &store.Progress{Current: 1, Total: 2, Message: odd}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Finish = %+v, %v", res, err)
	}
	page, err := s.ReadLog(ctx, 151, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 3 || page.Truncated {
		t.Fatalf("events after 151 = %+v, want updated, updated, done", page.Events)
	}
	up, end := page.Events[1], page.Events[2]
	if up.Kind != store.EventUpdated || up.Progress.Message != odd {
		t.Fatalf("updated event = %+v, want progress message %q", up, odd)
	}
	if end.Kind != store.EventPartialSuccess || end.Error != odd || end.SubtaskErrors["a\nb"] != oddUTF8 || end.Time.IsZero() || end.TaskID != l.ID {
		t.Fatalf("terminal event = %+v, want partial_success with error %q and subtask error %q", end, odd, oddUTF8)
	}
}

// TestLogReadsOneEventEntries: entries of earlier versions (one event
// each, its fields as the entry's) are read as before, between entries
// of the current shape.
func TestLogReadsOneEventEntries(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job")}); err != nil { // Seq 1
		t.Fatal(err)
	}
	// Seqs 2 and 3 as an earlier version wrote them.
	for _, seq := range []string{"2", "3"} {
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.cfg.Prefix + "log", ID: "0-" + seq, Values: []string{
			"k", "done", "id", "old-" + seq, "n", "job", "s", "SUCCESS", "a", "1", "t", "1700000000000000", "x", "0",
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.rdb.Set(ctx, s.cfg.Prefix+"seq", "3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job")}); err != nil { // Seq 4
		t.Fatal(err)
	}
	page, err := s.ReadLog(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 4 || page.Head != 4 || page.Truncated {
		t.Fatalf("log = %+v, want 4 events", page)
	}
	for i, ev := range page.Events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has Seq %d", i, ev.Seq)
		}
	}
	old := page.Events[1]
	if old.Kind != store.EventDone || old.TaskID != "old-2" || old.ExitCode == nil || *old.ExitCode != 0 || old.Time.UnixMicro() != 1700000000000000 {
		t.Fatalf("an earlier version's entry read as %+v", old)
	}
	if page, err := s.ReadLog(ctx, 2, 1, 0); err != nil || len(page.Events) != 1 || page.Events[0].TaskID != "old-3" {
		t.Fatalf("ReadLog(2, 1) = %+v, %v; want the entry of Seq 3", page.Events, err)
	}
}

// TestDecodeEntryRefusesDamage: a damaged entry is an error naming it,
// never a panic or a made-up event.
func TestDecodeEntryRefusesDamage(t *testing.T) {
	good := "k7:started" + "id3:abc" + "n3:job" + "s7:ONGOING" + "a1:1" + "\n"
	entry := func(id, first, body string) map[string]any {
		return map[string]any{"f": first, "t": "1700000000000000", "b": body}
	}
	evs, err := decodeEntry(nil, "0-2", entry("0-2", "1", good+good), 0)
	if err != nil || len(evs) != 2 || evs[1].Seq != 2 || evs[1].TaskID != "abc" || evs[1].Attempt != 1 {
		t.Fatalf("good entry = %+v, %v", evs, err)
	}
	if evs, err := decodeEntry(nil, "0-2", entry("0-2", "1", good+good), 1); err != nil || len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("good entry after 1 = %+v, %v; want event 2 only", evs, err)
	}
	for _, tc := range []struct{ id, first, body string }{
		{"0-2", "1", good},                   // fewer events than its Seqs
		{"0-1", "1", good + good},            // more
		{"0-1", "2", good},                   // first after last
		{"0-1", "0", good},                   // Seq 0
		{"0-x", "1", good},                   // bad ID
		{"0-1", "", good},                    // no first
		{"0-1", "1", "k7:started"},           // no newline
		{"0-1", "1", "k99:started\n"},        // length past the end
		{"0-1", "1", "k-1:started\n"},        // negative length
		{"0-1", "1", "7:started\n"},          // no name
		{"0-1", "1", "kx:started\n"},         // no length
		{"0-1", "1", "k7started\n"},          // no colon
		{"0-1", "1", "a1:x\n"},               // attempt not a number
		{"0-1", "1", "x2:zz\n"},              // exit code not a number
		{"0-1", "1", "se3:{x}\n"},            // subtask errors not JSON
		{"0-1", "1", "k3:abc" + "\xff1:a\n"}, // a name not in a-z
	} {
		if evs, err := decodeEntry(nil, tc.id, entry(tc.id, tc.first, tc.body), 0); err == nil {
			t.Errorf("decodeEntry(%q, f=%q, %q) = %+v, want an error", tc.id, tc.first, tc.body, evs)
		}
	}
}

// FuzzDecodeEntry: whatever a log entry holds, decodeEntry returns an
// error or the entry's events, Seqs first to last, none at or before the
// position; never a panic. (scripts/test runs it for a bounded count.)
func FuzzDecodeEntry(f *testing.F) {
	good := "k7:started" + "id3:abc" + "n3:job" + "s7:ONGOING" + "a1:1" + "\n"
	f.Add("3", "1", good+good+good, uint64(0))
	f.Add("2", "2", "k4:done"+"id1:x"+"e5:a\nb:c"+"x1:0"+"se9:{\"a\":\"b\"}"+"\n", uint64(1))
	f.Add("1", "1", "p7:1 2 msg"+"\n", uint64(0))
	f.Fuzz(func(t *testing.T, last, first, body string, after uint64) {
		fields := map[string]any{"f": first, "t": "1700000000000000", "b": body}
		evs, err := decodeEntry(nil, "0-"+last, fields, after)
		if err != nil {
			return
		}
		lastSeq, _ := strconv.ParseUint(last, 10, 64)
		for i, ev := range evs {
			if ev.Seq <= after || ev.Seq > lastSeq || (i > 0 && ev.Seq != evs[i-1].Seq+1) {
				t.Fatalf("events %+v of entry 0-%s (first %s) after %d", evs, last, first, after)
			}
		}
	})
}

// TestLargeValuesLeaveNoHole: values up to the manager's limits (1 MiB of
// arguments, a long progress message and error) are stored and read back
// whole, and the log stays dense. A record of about 256 KiB or more failed
// inside the function (too many results to unpack: its HSET of 64-byte
// pieces), after P seq had moved: a hole in the log that made servers
// report a truncated log at every read, and a 500 to the submitter.
func TestLargeValuesLeaveNoHole(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	r := storetest.Owned("job", "web-1", "web-1/1")
	r.Args = []string{big[:300_000], big[:(1<<20)-300_000]}
	res, err := s.Insert(ctx, []*store.Record{r})
	if err != nil {
		t.Fatalf("Insert of 1 MiB of arguments: %v", err)
	}
	l := res[0].Lease
	msg := big[:500_000]
	if _, err := s.Update(ctx, []store.Patch{{Lease: l, Progress: &store.Progress{Current: 1, Total: 2, Message: msg}}}); err != nil {
		t.Fatalf("Update with a 500 kB message: %v", err)
	}
	fin, err := s.Finish(ctx, []store.Completion{{Lease: l, State: store.Failure, Error: big[:300_000], Progress: &store.Progress{Current: 2, Total: 2, Message: "short"}}})
	if err != nil || fin[0].Err != nil {
		t.Fatalf("Finish with a 300 kB error = %+v, %v", fin, err)
	}
	got, err := s.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Args[0] != r.Args[0] || got.Args[1] != r.Args[1] || got.Error != big[:300_000] || got.Progress.Message != "short" || got.State != store.Failure {
		t.Fatalf("large values did not read back whole (args %d+%d bytes, error %d bytes, message %q, state %s)",
			len(got.Args[0]), len(got.Args[1]), len(got.Error), got.Progress.Message, got.State)
	}
	// No stale piece of the long message, and the log is dense.
	if n := s.rdb.HLen(ctx, s.cfg.Prefix+"t:"+r.ID).Val(); n > 64 {
		t.Fatalf("record hash holds %d fields", n)
	}
	page, err := s.ReadLog(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Truncated || page.Head != uint64(len(page.Events)) || len(page.Events) != 4 {
		t.Fatalf("log after insert, update, finish: %d events, head %d, truncated %v; want 4 (started, updated, updated, failed), 4, false", len(page.Events), page.Head, page.Truncated)
	}
}

// TestFailedCallLeavesNoHole: a call that fails inside Redis after it
// produced events (here an Update whose second record's key is not a
// hash) moves neither P seq nor the log: the next call's events follow
// the last written one, and a reader from 0 sees no truncation.
func TestFailedCallLeavesNoHole(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	a, b := storetest.Owned("job", "web-1", "web-1/1"), storetest.Owned("job", "web-1", "web-1/1")
	res, err := s.Insert(ctx, []*store.Record{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Set(ctx, s.cfg.Prefix+"t:"+b.ID, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	head := func() uint64 {
		t.Helper()
		p, err := s.ReadLog(ctx, 0, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return p.Head
	}
	before := head()
	_, err = s.Update(ctx, []store.Patch{
		{Lease: res[0].Lease, Progress: &store.Progress{Current: 1}},
		{Lease: res[1].Lease, Progress: &store.Progress{Current: 1}},
	})
	if err == nil {
		t.Fatal("Update of a record whose key is not a hash succeeded")
	}
	if h := head(); h != before {
		t.Fatalf("a failed call moved the log's head from %d to %d", before, h)
	}
	if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job")}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ReadLog(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Truncated || page.Head != before+1 || uint64(len(page.Events)) != page.Head {
		t.Fatalf("log after a failed call and an insert: %d events, head %d (was %d), truncated %v; want dense", len(page.Events), page.Head, before, page.Truncated)
	}
}

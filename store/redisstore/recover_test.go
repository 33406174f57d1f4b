package redisstore

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/store"
)

// TestRecoverWithNothingToTakeIsOneSmallCall: a server recovers at every
// heartbeat; when its lease hash holds exactly the leases it runs, that
// is one call of a few commands that reads no record, however many it
// runs (it read every one of them before: 1,000 HGETALLs per heartbeat
// for 1,000 running tasks). A record it holds without knowing it (a
// claim whose answer was lost, an earlier life's record) is still taken
// by the second call.
func TestRecoverWithNothingToTakeIsOneSmallCall(t *testing.T) {
	t.Parallel()
	stores, calls, _ := hbStores(t, 1)
	s := stores[0]
	ctx := t.Context()
	p := store.ClaimParams{Owner: "web-1", Incarnation: "web-1/2", Names: []string{"job"}, Limit: 10}
	held := claimAll(t, s, "web-1", "web-1/2", 1000)
	hgetall := func() int64 {
		t.Helper()
		info, err := s.rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_hgetall:calls=")
		if !ok {
			return 0
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		return n
	}
	calls.take()
	before := hgetall()
	got, err := s.Recover(ctx, p, held)
	if err != nil || len(got) != 0 {
		t.Fatalf("Recover with every lease held = %d records, %v; want none", len(got), err)
	}
	if ops, trips := calls.take(); trips != 1 || ops["holdsexactly"] != 1 || ops["recover"] != 0 {
		t.Fatalf("Recover with every lease held made calls %v in %d round trips; want one holdsexactly", ops, trips)
	}
	if n := hgetall() - before; n != 0 {
		t.Fatalf("Recover with every lease held read %d records", n)
	}
	// A lost claim answer: the store holds one more than the caller knows.
	got, err = s.Recover(ctx, p, held[1:])
	if err != nil || len(got) != 1 || got[0].Record.ID != held[0].ID {
		t.Fatalf("Recover missing one lease = %+v, %v; want that record back", got, err)
	}
	if ops, _ := calls.take(); ops["holdsexactly"] != 1 || ops["recover"] != 1 {
		t.Fatalf("Recover missing one lease made calls %v; want holdsexactly then recover", ops)
	}
	// An earlier life's records under the same server ID.
	old := claimAll(t, s, "web-1", "web-1/1", 3)
	got, err = s.Recover(ctx, p, append([]store.Lease{got[0].Lease}, held[1:]...))
	if err != nil || len(got) != 3 {
		t.Fatalf("Recover with an earlier life's 3 records = %d, %v; want 3", len(got), err)
	}
	for _, c := range got {
		if c.PrevOwner != "web-1" || c.Record.Attempt != 2 {
			t.Fatalf("recovered %+v; want an earlier life's record at attempt 2", c)
		}
	}
	// Held leases of another incarnation go straight to the full call.
	calls.take()
	if _, err := s.Recover(ctx, p, old); err != nil {
		t.Fatal(err)
	}
	if ops, _ := calls.take(); ops["holdsexactly"] != 0 || ops["recover"] != 1 {
		t.Fatalf("Recover naming another incarnation's leases made calls %v; want recover only", ops)
	}
}

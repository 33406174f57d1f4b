package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
)

// TestRecoverWithNothingToTakeWritesNothing: a server recovers at every
// heartbeat; when it holds exactly the leases it runs, that is a read of
// the owned index, not a write transaction of the store's one writer
// that decodes every record the server holds (it was, at every
// heartbeat, however many ran). A record it holds without knowing it (a
// lost claim answer) and an earlier life's records are still taken.
func TestRecoverWithNothingToTakeWritesNothing(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "b.db"))
	ctx := t.Context()
	recs := make([]*store.Record, 200)
	for i := range recs {
		recs[i] = storetest.NewRecord("job")
	}
	if _, err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	claim := func(inc string, n int) []store.Lease {
		t.Helper()
		cl, err := s.Claim(ctx, store.ClaimParams{Owner: "web-1", Incarnation: inc, Names: []string{"job"}, Limit: n})
		if err != nil || len(cl) != n {
			t.Fatalf("Claim = %d, %v; want %d", len(cl), err, n)
		}
		out := make([]store.Lease, n)
		for i, c := range cl {
			out[i] = c.Lease
		}
		return out
	}
	held := claim("web-1/2", 150)
	p := store.ClaimParams{Owner: "web-1", Incarnation: "web-1/2", Names: []string{"job"}, Limit: 10}
	before := s.Stats().Transactions
	for range 3 {
		if got, err := s.Recover(ctx, p, held); err != nil || len(got) != 0 {
			t.Fatalf("Recover with every lease held = %d, %v; want none", len(got), err)
		}
	}
	if n := s.Stats().Transactions - before; n != 0 {
		t.Fatalf("Recover with every lease held went through the writer %d times", n)
	}
	// A lost claim answer.
	got, err := s.Recover(ctx, p, held[1:])
	if err != nil || len(got) != 1 || got[0].Record.ID != held[0].ID {
		t.Fatalf("Recover missing one lease = %+v, %v; want that record back", got, err)
	}
	held[0] = got[0].Lease
	// An earlier life's records under the same server ID (an incarnation
	// this store has not seen alive in this process is dead).
	claim("web-1/1", 3)
	got, err = s.Recover(ctx, p, held)
	if err != nil || len(got) != 3 {
		t.Fatalf("Recover with an earlier life's 3 records = %d, %v; want 3", len(got), err)
	}
}

package redisstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/redis/go-redis/v9"
)

// opCalls counts the library's function calls by operation, and the
// requests (a pipeline is one) that carry them.
type opCalls struct {
	mu    sync.Mutex
	ops   map[string]int
	trips int
}

func (c *opCalls) count(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fcall := false
	for _, cmd := range cmds {
		if args := cmd.Args(); cmd.Name() == "fcall" && len(args) > 3 {
			c.ops[args[3].(string)]++
			fcall = true
		}
	}
	if fcall {
		c.trips++
	}
}

// take returns the counts since the last take and resets them.
func (c *opCalls) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops, trips := c.ops, c.trips
	c.ops, c.trips = map[string]int{}, 0
	return ops, trips
}

func (c *opCalls) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *opCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}

func (c *opCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.count(cmds...)
		return next(ctx, cmds)
	}
}

// hbStores opens n stores on one fresh Redis sharing a fake clock, the
// first with an opCalls hook.
func hbStores(t *testing.T, n int) ([]*Store, *opCalls, *clock.Fake) {
	t.Helper()
	srv := redistest.Start(t, nil)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var out []*Store
	for range n {
		s, err := New(t.Context(), srv.URL(0), &Config{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	calls := &opCalls{ops: map[string]int{}}
	out[0].rdb.AddHook(calls)
	return out, calls, clk
}

// claimAll queues n records named job and claims them for owner/inc.
func claimAll(t *testing.T, s *Store, owner, inc string, n int) []store.Lease {
	t.Helper()
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = storetest.NewRecord("job")
	}
	if _, err := s.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	cl, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Incarnation: inc, Names: []string{"job"}, Limit: n})
	if err != nil || len(cl) != n {
		t.Fatalf("Claim = %d records, %v; want %d", len(cl), err, n)
	}
	out := make([]store.Lease, n)
	for i, c := range cl {
		out[i] = c.Lease
	}
	return out
}

func renewOK(t *testing.T, s *Store, leases []store.Lease) store.RenewResult {
	t.Helper()
	res, err := s.Renew(t.Context(), leases)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestHeartbeatByDigest: a Renew naming exactly the leases an
// incarnation holds is one heartbeat call (no lease renewed one by one),
// in any order, after claims, a finish and a takeover changed what it
// holds, and every record it holds reads back with the heartbeat's time;
// a cancel request reaches the owner through it; a Renew of a subset
// falls back to the per-lease call, renews only the subset, and the rest
// lapses.
func TestHeartbeatByDigest(t *testing.T) {
	t.Parallel()
	stores, calls, clk := hbStores(t, 2)
	s, other := stores[0], stores[1]
	ctx := t.Context()
	leases := claimAll(t, s, "web-1", "web-1/1", 300)
	// An owned insert and a second claim join the holding; a finish
	// leaves it.
	r := storetest.Owned("job", "web-1", "web-1/1")
	ins, err := s.Insert(ctx, []*store.Record{r})
	if err != nil {
		t.Fatal(err)
	}
	leases = append(leases, ins[0].Lease)
	leases = append(leases, claimAll(t, s, "web-1", "web-1/1", 5)...)
	if fin, err := s.Finish(ctx, []store.Completion{{Lease: leases[7], State: store.Success}}); err != nil || fin[0].Err != nil {
		t.Fatalf("Finish = %+v, %v", fin, err)
	}
	leases = slices.Delete(leases, 7, 8)
	slices.Reverse(leases)

	heartbeat := func(what string, leases []store.Lease, wantCancel []string) {
		t.Helper()
		calls.take()
		res := renewOK(t, s, leases)
		ops, trips := calls.take()
		if ops["heartbeat"] != 1 || ops["renew"] != 0 || trips != 1 {
			t.Errorf("%s: Renew of the held leases made calls %v in %d round trips, want one heartbeat", what, ops, trips)
		}
		if len(res.Lost) != 0 || !slices.Equal(res.CancelRequested, wantCancel) {
			t.Errorf("%s: Renew = %+v, want nothing lost, cancels %v", what, res, wantCancel)
		}
	}
	clk.Advance(10 * time.Second)
	heartbeat("first", leases, nil)
	for _, l := range []store.Lease{leases[0], leases[100], leases[304]} {
		got, err := s.Get(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.HeartbeatAt.Equal(clk.Now()) {
			t.Errorf("%s: HeartbeatAt = %v, want the heartbeat's %v", l.ID, got.HeartbeatAt, clk.Now())
		}
	}
	page, err := s.List(ctx, store.ListParams{State: store.Ongoing, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range page.Records {
		if !rec.HeartbeatAt.Equal(clk.Now()) {
			t.Fatalf("List: %s HeartbeatAt = %v, want %v", rec.ID, rec.HeartbeatAt, clk.Now())
		}
	}

	// A cancel request comes back through the heartbeat, every time
	// until the record ends.
	if _, err := other.RequestCancel(ctx, leases[3].ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	heartbeat("after a cancel", leases, []string{leases[3].ID})
	heartbeat("again", leases, []string{leases[3].ID})
	if fin, err := s.Finish(ctx, []store.Completion{{Lease: leases[3], State: store.Cancelled}}); err != nil || fin[0].Err != nil {
		t.Fatalf("Finish = %+v, %v", fin, err)
	}
	leases = slices.Delete(leases, 3, 4)
	heartbeat("after the cancelled finish", leases, nil)

	// A subset: one by one, and only the subset is renewed.
	clk.Advance(10 * time.Second)
	calls.take()
	res := renewOK(t, s, leases[:10])
	ops, trips := calls.take()
	if ops["heartbeat"] != 1 || ops["renew"] != 1 || trips != 2 || len(res.Lost) != 0 {
		t.Errorf("Renew of a subset: calls %v in %d round trips, %+v; want a heartbeat then one renew, nothing lost", ops, trips, res)
	}
	// 11 s after the last full heartbeat, 1 s after the subset's: with a
	// 10 s threshold exactly the rest lapses.
	clk.Advance(time.Second)
	cl, err := other.Claim(ctx, store.ClaimParams{Owner: "web-2", Incarnation: "web-2/1", Names: []string{"job"}, Limit: 1000, StaleAfter: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != len(leases)-10 {
		t.Fatalf("takeover claimed %d, want the %d records outside the subset", len(cl), len(leases)-10)
	}
	taken := map[string]bool{}
	for _, c := range cl {
		taken[c.Record.ID] = true
		if c.PrevOwner != "web-1" || c.Record.Attempt != 2 {
			t.Errorf("%s: PrevOwner %q attempt %d, want web-1 and 2", c.Record.ID, c.PrevOwner, c.Record.Attempt)
		}
	}
	for _, l := range leases[:10] {
		if taken[l.ID] {
			t.Errorf("%s: renewed 1 s ago, taken over", l.ID)
		}
	}

	// The old owner's next heartbeat no longer matches: it falls back and
	// learns what it lost; the one after is by digest again.
	calls.take()
	res = renewOK(t, s, leases)
	ops, trips = calls.take()
	if ops["heartbeat"] != 1 || ops["renew"] == 0 || trips != 2 {
		t.Errorf("Renew after a takeover: calls %v in %d round trips, want a heartbeat then renew", ops, trips)
	}
	if len(res.Lost) != len(leases)-10 {
		t.Fatalf("Renew after a takeover lost %d leases, want %d", len(res.Lost), len(leases)-10)
	}
	for _, l := range res.Lost {
		if !taken[l.ID] {
			t.Errorf("%s reported lost, not taken", l.ID)
		}
	}
	heartbeat("after the takeover", leases[:10], nil)
}

// TestHeartbeatKeepsLeasesAlive: records claimed long ago whose owner
// heartbeats by digest are not orphans, however old their own scores;
// once the incarnation stops, each of its records is taken over by
// exactly one of several stores claiming at once, oldest first.
func TestHeartbeatKeepsLeasesAlive(t *testing.T) {
	t.Parallel()
	stores, calls, clk := hbStores(t, 4)
	ctx := t.Context()
	owner := stores[0]
	leases := claimAll(t, owner, "web-1", "web-1/1", 120)
	stale := 30 * time.Second
	for range 5 {
		clk.Advance(20 * time.Second)
		calls.take()
		renewOK(t, owner, leases)
		if ops, _ := calls.take(); ops["renew"] != 0 {
			t.Fatalf("heartbeat fell back: %v", ops)
		}
		clk.Advance(15 * time.Second)
		for i, s := range stores[1:] {
			id := "web-" + string(rune('2'+i))
			cl, err := s.Claim(ctx, store.ClaimParams{Owner: id, Incarnation: id + "/1", Names: []string{"job"}, Limit: 100, StaleAfter: stale})
			if err != nil || len(cl) != 0 {
				t.Fatalf("claim 15 s after a heartbeat (threshold 30 s) = %d records, %v; want none", len(cl), err)
			}
		}
	}
	clk.Advance(time.Minute)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i, s := range stores[1:] {
		wg.Go(func() {
			id := "web-" + string(rune('2'+i))
			for {
				cl, err := s.Claim(ctx, store.ClaimParams{Owner: id, Incarnation: id + "/1", Names: []string{"job"}, Limit: 7, StaleAfter: stale})
				if err != nil {
					t.Error(err)
					return
				}
				if len(cl) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cl {
					got[c.Record.ID]++
					if c.PrevOwner != "web-1" || c.Record.Fence != 2 {
						t.Errorf("%s: PrevOwner %q fence %d, want web-1 and 2", c.Record.ID, c.PrevOwner, c.Record.Fence)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != len(leases) {
		t.Fatalf("%d of %d records taken over", len(got), len(leases))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s taken over %d times", id, n)
		}
	}
	// The dead incarnation holds nothing: its keys are gone.
	for _, k := range []string{"li:5:web-1:web-1/1", "lc:5:web-1:web-1/1"} {
		if n := owner.rdb.Exists(ctx, owner.cfg.Prefix+k).Val(); n != 0 {
			t.Errorf("%s still exists", k)
		}
	}
	if _, err := owner.rdb.ZScore(ctx, owner.cfg.Prefix+"hb", "5:web-1:web-1/1").Result(); err != redis.Nil {
		t.Errorf("the dead incarnation is still in P hb (%v)", err)
	}
	if _, err := owner.rdb.HGet(ctx, owner.cfg.Prefix+"hd", "5:web-1:web-1/1").Result(); err != redis.Nil {
		t.Errorf("the dead incarnation's digest is still in P hd (%v)", err)
	}
	res := renewOK(t, owner, leases)
	if len(res.Lost) != len(leases) {
		t.Errorf("the old owner's Renew lost %d leases, want all %d", len(res.Lost), len(leases))
	}
}

// TestPreviousVersionRecords: a record owned through the previous
// version's library (its heartbeat in the owned set of its kind, P o:…,
// its incarnation unknown to P hb) keeps its heartbeat there for Get, is
// not an orphan while that score is fresh, and is taken over once it is
// stale, leaving P o:… empty.
func TestPreviousVersionRecords(t *testing.T) {
	t.Parallel()
	stores, _, clk := hbStores(t, 1)
	s := stores[0]
	ctx := t.Context()
	r := storetest.Owned("job", "old-1", "old-1/1")
	if _, err := s.Insert(ctx, []*store.Record{r}); err != nil {
		t.Fatal(err)
	}
	// What the previous version would have stored.
	p := s.cfg.Prefix
	ik := "5:old-1:old-1/1"
	owned := p + "o:3:job:n[]"
	beat := clk.Now().Add(20 * time.Second)
	if err := s.rdb.Del(ctx, p+"li:"+ik).Err(); err != nil {
		t.Fatal(err)
	}
	s.rdb.ZRem(ctx, p+"hb", ik)
	s.rdb.HDel(ctx, p+"hd", ik)
	s.rdb.ZAdd(ctx, owned, redis.Z{Score: float64(beat.UnixMicro()), Member: r.ID})
	got, err := s.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HeartbeatAt.Equal(beat) {
		t.Errorf("HeartbeatAt = %v, want the owned set's %v", got.HeartbeatAt, beat)
	}
	claim := func() []store.Claimed {
		t.Helper()
		cl, err := s.Claim(ctx, store.ClaimParams{Owner: "new-1", Incarnation: "new-1/1", Names: []string{"job"}, Limit: 10, StaleAfter: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	clk.Advance(45 * time.Second)
	if cl := claim(); len(cl) != 0 {
		t.Fatalf("claimed %d records 25 s after their heartbeat, want none", len(cl))
	}
	clk.Advance(10 * time.Second)
	cl := claim()
	if len(cl) != 1 || cl[0].Record.ID != r.ID || cl[0].PrevOwner != "old-1" || !cl[0].Record.HeartbeatAt.Equal(clk.Now()) {
		t.Fatalf("claim 35 s after the heartbeat = %+v, want %s from old-1", cl, r.ID)
	}
	if n := s.rdb.ZCard(ctx, owned).Val(); n != 0 {
		t.Errorf("%s holds %d entries after the takeover, want 0", owned, n)
	}
	res := renewOK(t, s, []store.Lease{cl[0].Lease})
	if len(res.Lost) != 0 {
		t.Errorf("the new owner's Renew = %+v", res)
	}
}

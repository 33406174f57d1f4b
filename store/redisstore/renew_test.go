package redisstore

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/redis/go-redis/v9"
)

// TestRenewManyLeasesOneRoundTrip: a heartbeat of more leases than one
// function call takes (1,200: three calls of at most 500) whose leases
// are not exactly those their incarnations hold is two round trips (the
// heartbeat by digest, then every lease one by one, in one pipeline), and
// a lost lease and a cancel request are reported for the right records
// whichever call they fell in; leases of two owners in one Renew are each
// checked against their own owner's lease hash.
func TestRenewManyLeasesOneRoundTrip(t *testing.T) {
	t.Parallel()
	s := privateStore(t)
	ctx := t.Context()
	var leases []store.Lease
	for _, owner := range []string{"web-1", "web-2"} {
		for left := 600; left > 0; left -= 300 {
			recs := make([]*store.Record, 300)
			for i := range recs {
				recs[i] = storetest.Owned("job", owner, owner+"/1")
			}
			res, err := s.Insert(ctx, recs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				leases = append(leases, r.Lease)
			}
		}
	}
	stale := leases[700] // in the second call, of web-2
	stale.Fence++
	leases[700] = stale
	foreign := leases[1100] // web-2's record, claimed in web-1's name
	foreign.Owner, foreign.Incarnation = "web-1", "web-1/1"
	leases[1100] = foreign
	if _, err := s.RequestCancel(ctx, leases[1150].ID); err != nil {
		t.Fatal(err)
	}
	rt := &callTrips{}
	s.rdb.AddHook(rt)
	res, err := s.Renew(ctx, leases)
	if err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 2 {
		t.Errorf("Renew of %d leases, some not held, took %d round trips, want 2", len(leases), n)
	}
	if !slices.Equal(res.Lost, []store.Lease{stale, foreign}) {
		t.Errorf("Renew.Lost = %+v, want the leases at 700 and 1100", res.Lost)
	}
	if !slices.Equal(res.CancelRequested, []string{leases[1150].ID}) {
		t.Errorf("Renew.CancelRequested = %v, want %s", res.CancelRequested, leases[1150].ID)
	}
	// The renewed records read back with the store's time of the renewal;
	// the lost ones keep their own.
	got, err := s.Get(ctx, leases[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Get(ctx, stale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HeartbeatAt.After(before.HeartbeatAt) {
		t.Errorf("renewed heartbeat %v not after the lost lease's %v", got.HeartbeatAt, before.HeartbeatAt)
	}
}

// callTrips counts the requests that carry function calls (a pipeline is
// one), not the handshakes of new connections.
type callTrips struct{ n atomic.Int64 }

func (c *callTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *callTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "fcall" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *callTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "fcall" {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

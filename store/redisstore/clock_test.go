package redisstore_test

import (
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/redis/go-redis/v9"
)

// TestLeasesByRedisTime: two servers whose clocks are 10 minutes apart
// share one Redis, their stores on Redis' TIME (Config.Clock nil). A Go
// process cannot skew its own clock, so each server's skew is in every
// time it hands the store (CreatedAt, StartedAt of its announcement) and
// in the lease ages it asks about. The store judges and writes times by
// Redis alone: the fast server does not see the slow one's fresh lease as
// stale, every time written is Redis' clock, and a takeover happens only
// once the lease is stale by Redis' clock.
func TestLeasesByRedisTime(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	ctx := t.Context()
	slowClock := clock.NewFake(time.Now().Add(-5 * time.Minute))
	fastClock := clock.NewFake(time.Now().Add(5 * time.Minute))
	slow := newStore(t, srv.URL(0), nil)
	fast := newStore(t, srv.URL(0), nil)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	redisNow := func() time.Time {
		t.Helper()
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return now
	}

	before := redisNow()
	r := storetest.Owned("job", "slow", "slow/1")
	r.CreatedAt = slowClock.Now()
	res, err := slow.Insert(ctx, []*store.Record{r})
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Announce(ctx, store.ServerInfo{ID: "slow", Incarnation: "slow/1", StartedAt: slowClock.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := fast.Announce(ctx, store.ServerInfo{ID: "fast", Incarnation: "fast/1", StartedAt: fastClock.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	after := redisNow()
	within := func(what string, got time.Time) {
		t.Helper()
		if got.Before(before.Truncate(time.Microsecond)) || got.After(after) {
			t.Errorf("%s = %v, want Redis' time, between %v and %v", what, got, before, after)
		}
	}
	got, err := fast.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	within("HeartbeatAt", got.HeartbeatAt)
	within("StartedAt", got.StartedAt)
	if !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("CreatedAt = %v, want the caller's %v, kept as given", got.CreatedAt, r.CreatedAt)
	}
	servers, err := fast.Servers(ctx)
	if err != nil || len(servers) != 2 {
		t.Fatalf("Servers = %+v, %v", servers, err)
	}
	for _, sv := range servers {
		within(sv.ID+" SeenAt", sv.SeenAt)
	}
	page, err := fast.ReadLog(ctx, 0, 10, 0)
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("ReadLog = %+v, %v", page, err)
	}
	within("event time", page.Events[0].Time)

	// The fast server's clock says the lease is 10 minutes old; Redis'
	// says it is fresh. Stale after 2 minutes: nothing to take.
	p := store.ClaimParams{Owner: "fast", Incarnation: "fast/1", Names: []string{"job"}, Limit: 10, StaleAfter: 2 * time.Minute}
	if cl, err := fast.Claim(ctx, p); err != nil || len(cl) != 0 {
		t.Fatalf("claim of a fresh lease by the fast server = %+v, %v; want nothing", cl, err)
	}
	if rn, err := slow.Renew(ctx, []store.Lease{res[0].Lease}); err != nil || len(rn.Lost) != 0 {
		t.Fatalf("renewal by the slow owner = %+v, %v", rn, err)
	}
	// Stale after 2 ms by Redis' clock: the fast server takes it over as
	// soon as Redis' clock has moved 2 ms past the renewal.
	renewed, err := fast.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	p.StaleAfter = 2 * time.Millisecond
	var cl []store.Claimed
	for i := 0; len(cl) == 0 && i < 10_000; i++ {
		if cl, err = fast.Claim(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if len(cl) != 1 || cl[0].Record.Attempt != 2 || cl[0].PrevOwner != "slow" {
		t.Fatalf("takeover = %+v, want the record at attempt 2 from slow", cl)
	}
	if age := cl[0].Record.HeartbeatAt.Sub(renewed.HeartbeatAt); age < 2*time.Millisecond || age > time.Minute {
		t.Fatalf("taken over %v after the last renewal by Redis' clock, want just past 2ms", age)
	}
	if rn, err := slow.Renew(ctx, []store.Lease{res[0].Lease}); err != nil || len(rn.Lost) != 1 {
		t.Fatalf("renewal by the old owner after the takeover = %+v, %v; want lost", rn, err)
	}
}

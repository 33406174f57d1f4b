package redisstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
)

// cutStore is a Store whose server can be cut off from Redis: while cut,
// every call fails with store.ErrUnavailable, as in a network partition
// of that server alone.
type cutStore struct {
	*redisstore.Store
	cut atomic.Bool
}

func (c *cutStore) check() error {
	if c.cut.Load() {
		return store.ErrUnavailable
	}
	return nil
}

func (c *cutStore) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Insert(ctx, recs)
}

func (c *cutStore) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Claim(ctx, p)
}

func (c *cutStore) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Recover(ctx, p, held)
}

func (c *cutStore) Renew(ctx context.Context, leases []store.Lease) (store.RenewResult, error) {
	if err := c.check(); err != nil {
		return store.RenewResult{}, err
	}
	return c.Store.Renew(ctx, leases)
}

func (c *cutStore) Update(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Update(ctx, patches)
}

func (c *cutStore) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Finish(ctx, cs)
}

func (c *cutStore) Release(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.Store.Release(ctx, patches)
}

func (c *cutStore) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	if err := c.check(); err != nil {
		return store.LogPage{}, err
	}
	return c.Store.ReadLog(ctx, after, limit, wait)
}

func (c *cutStore) Announce(ctx context.Context, info store.ServerInfo, ttl time.Duration) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.Store.Announce(ctx, info, ttl)
}

// TestPartitionedServerStopsFirst: a server cut off from Redis stops its
// run (lease lost) before another server takes the task over, by Redis'
// clock; the task then ends once, at attempt 2, on the other server.
func TestPartitionedServerStopsFirst(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	type run struct {
		server  string
		attempt int
		at      time.Time
	}
	started := make(chan run, 4)
	stopped := make(chan run, 4)
	mk := func(id string, s store.Store) *bgtask.Manager {
		reg := bgtask.NewRegistry()
		reg.MustAdd(bgtask.Definition{Name: "job", Retriable: true, MaxAttempts: 3, Run: func(ctx context.Context, tk *bgtask.Task) error {
			started <- run{id, tk.Attempt(), time.Now()}
			if id == "b" {
				return nil
			}
			<-ctx.Done()
			stopped <- run{id, tk.Attempt(), time.Now()}
			return ctx.Err()
		}})
		return startManager(t, &bgtask.Config{
			Registry: reg, Store: s, ServerID: id, MaxWorkers: 1,
			HeartbeatInterval: 100 * time.Millisecond, StaleAfter: time.Second,
		})
	}
	a := &cutStore{Store: newStore(t, srv.URL(0), nil)}
	ma := mk("a", a)
	id, err := ma.Submit(t.Context(), "job", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-started; r.server != "a" || r.attempt != 1 {
		t.Fatalf("first run %+v, want on a at attempt 1", r)
	}
	mb := mk("b", newStore(t, srv.URL(0), nil))
	events, stop := mb.Subscribe(nil)
	defer stop()
	a.cut.Store(true)

	var stoppedA, startedB run
	deadline := time.After(30 * time.Second)
	for startedB.server == "" || stoppedA.server == "" {
		select {
		case stoppedA = <-stopped:
		case startedB = <-started:
		case <-deadline:
			t.Fatalf("after the partition: a stopped %+v, b started %+v", stoppedA, startedB)
		}
	}
	if startedB.server != "b" || startedB.attempt != 2 {
		t.Fatalf("takeover run %+v, want on b at attempt 2", startedB)
	}
	if !stoppedA.at.Before(startedB.at) {
		t.Fatalf("the partitioned server stopped its run at %v, after the takeover started at %v", stoppedA.at, startedB.at)
	}
	for {
		select {
		case ev := <-events:
			if ev.TaskID == id && ev.Kind.Terminal() {
				if ev.Kind != bgtask.EventDone || ev.Attempt != 2 {
					t.Fatalf("task ended %s at attempt %d, want done at 2", ev.Kind, ev.Attempt)
				}
				return
			}
		case <-deadline:
			t.Fatal("the task taken over never ended")
		}
	}
}

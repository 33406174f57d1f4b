package bgtask_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// refusingStore refuses every Finish while unavailable is set (as an
// unreachable store does), and afterwards every Finish whose batch holds
// an outcome with the error "poison" (as a store does with a value it
// cannot take: the whole call fails).
type refusingStore struct {
	store.Store
	unavailable atomic.Bool
	refusals    atomic.Int32
	cured       atomic.Bool // take poison too
}

func (f *refusingStore) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if f.unavailable.Load() {
		f.refusals.Add(1)
		return nil, fmt.Errorf("%w: injected", store.ErrUnavailable)
	}
	for _, c := range cs {
		if c.Error == "poison" && !f.cured.Load() {
			return nil, errors.New("injected: the store cannot take this batch")
		}
	}
	return f.Store.Finish(ctx, cs)
}

// TestOneRefusedOutcomeDoesNotHoldBackItsBatch: outcomes that queued up
// while the store was away go in one batch; when the store then refuses
// that call because of one of them, the others are written (the batch is
// split until the refused one is alone) and only that one stays pending.
// A 300 kB progress message refused by the Redis store kept 35 finished
// tasks of its batch ONGOING.
func TestOneRefusedOutcomeDoesNotHoldBackItsBatch(t *testing.T) {
	t.Parallel()
	st := &refusingStore{Store: openStoreAt(t, t.TempDir(), nil)}
	st.unavailable.Store(true)
	t.Cleanup(func() { st.Close() })
	var ran atomic.Int32
	e := setupOn(t, st, []bgtask.Definition{{Name: "job", Run: func(_ context.Context, tk *bgtask.Task) error {
		defer ran.Add(1)
		if tk.Args()[0] == "poison" {
			return errors.New("poison")
		}
		return nil
	}}}, &bgtask.Config{MaxWorkers: 20, HeartbeatInterval: time.Second, StaleAfter: time.Minute})
	var ids []string
	for i := range 11 {
		arg := "ok"
		if i == 5 {
			arg = "poison"
		}
		ids = append(ids, e.submit("job", arg))
	}
	for i := 0; ran.Load() < 11; i++ {
		if i == 2000 {
			t.Fatalf("%d of 11 runs returned", ran.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// One more refusal after every run returned: all 11 are queued.
	for n, i := st.refusals.Load(), 0; st.refusals.Load() <= n; i++ {
		if i == 2000 {
			t.Fatal("the completer did not retry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.unavailable.Store(false)
	for i, id := range ids {
		if i != 5 {
			e.waitState(id, bgtask.StateSuccess)
		}
	}
	if info, err := e.m.Get(context.Background(), ids[5]); err != nil || info.State != bgtask.StateOngoing {
		t.Fatalf("the refused outcome's task = %+v, %v; want ONGOING (retried)", info, err)
	}
	st.cured.Store(true) // and it is written at a retry
	e.waitState(ids[5], bgtask.StateFailure)
}

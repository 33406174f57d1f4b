package bgtask_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// finishHold is a store whose Finish writes the outcome and then waits
// until hold is closed before it answers: the window in which the store
// has ended a lease the manager still lists among its runs.
type finishHold struct {
	store.Store
	hold    chan struct{}
	written atomic.Int32
	// renewsAfter counts the Renews that began after an outcome was written.
	renewsAfter atomic.Int32
}

func (f *finishHold) Renew(ctx context.Context, ls []store.Lease) (store.RenewResult, error) {
	after := f.written.Load() > 0
	res, err := f.Store.Renew(ctx, ls)
	if after {
		f.renewsAfter.Add(1)
	}
	return res, err
}

func (f *finishHold) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	res, err := f.Store.Finish(ctx, cs)
	f.written.Add(1)
	select {
	case <-f.hold:
	case <-ctx.Done():
	}
	return res, err
}

// TestNoLeaseLostWarningForAFinishedRun: a heartbeat whose Renew lands
// after the run's own Finish (the store already ended the lease; the
// manager still lists the run until the Finish answers) does not warn
// "lease lost" for a task that succeeded. A burst of 900 tasks logged it
// for 17 of them.
func TestNoLeaseLostWarningForAFinishedRun(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	st := &finishHold{Store: openStoreAt(t, t.TempDir(), nil), hold: make(chan struct{})}
	t.Cleanup(func() { st.Close() })
	e := setupOn(t, st, []bgtask.Definition{{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }}},
		&bgtask.Config{HeartbeatInterval: 20 * time.Millisecond, StaleAfter: 10 * time.Second, StoreTimeout: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	id := e.submit("quick")
	for i := 0; st.written.Load() == 0; i++ {
		if i == 1000 {
			t.Fatal("the outcome was not written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Two heartbeats while the Finish is held.
	for i := 0; st.renewsAfter.Load() < 2; i++ {
		if i == 2000 {
			t.Fatal("no heartbeat while the Finish was held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(st.hold)
	e.waitState(id, bgtask.StateSuccess)
	if strings.Contains(buf.String(), "lease lost") {
		t.Fatalf("a task that succeeded was reported as having lost its lease:\n%s", buf.String())
	}
}

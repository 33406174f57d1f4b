package bgtask_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store/boltstore"
)

func quick(name string) bgtask.Definition {
	return bgtask.Definition{Name: name, Run: func(context.Context, *bgtask.Task) error { return nil }}
}

// Event IDs come from the store, not from a clock: run with the clock an
// hour ahead, restart with the clock set right, and a reader resuming from
// the last ID seen before the restart gets the new events.
func TestEventIDsSurviveClockSteps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ahead := clock.NewFake(time.Now().Add(time.Hour))
	st := openStoreAt(t, dir, ahead)
	e := setupOn(t, st, []bgtask.Definition{quick("q")}, &bgtask.Config{Clock: ahead})
	f := e.followAll()
	e.submit("q")
	last := f.until(bgtask.EventDone)
	seen := last[len(last)-1].Seq
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st2 := openStore(t, dir) // the real clock: an hour behind
	defer st2.Close()
	e2 := setupOn(t, st2, []bgtask.Definition{quick("q")}, nil)
	id := e2.submit("q")
	e2.waitState(id, bgtask.StateSuccess)
	ch, stop := e2.m.Subscribe(&bgtask.SubscribeOpts{After: seen})
	defer stop()
	r := &follower{t: t, ch: ch}
	evs := r.until(bgtask.EventDone, bgtask.EventReset)
	if evs[0].Kind != bgtask.EventStarted || evs[0].TaskID != id || evs[len(evs)-1].Kind != bgtask.EventDone || evs[0].Seq <= seen {
		t.Fatalf("events after %d: %+v, want started and done of %s", seen, evs, id)
	}
}

// A subscriber that reads nothing while thousands of tasks finish costs
// the manager nothing, and when it reads it gets every terminal event.
func TestStalledSubscriberGetsEveryTerminalEvent(t *testing.T) {
	t.Parallel()
	const n = 3000
	e := setup(t, []bgtask.Definition{quick("q")}, nil)
	ch, stop := e.m.Subscribe(&bgtask.SubscribeOpts{Buffer: 1})
	defer stop()
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "q"}
	}
	ids, err := e.m.SubmitMany(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	done := map[string]bool{}
	for len(done) < n {
		select {
		case ev := <-ch:
			if ev.Kind == bgtask.EventReset {
				t.Fatalf("reset after %d done events with the log's window far larger", len(done))
			}
			if ev.Kind == bgtask.EventDone {
				done[ev.TaskID] = true
			}
		case <-time.After(waitFor):
			t.Fatalf("got %d of %d done events", len(done), n)
		}
	}
}

// A reader whose position the store's window has left behind is told so
// (EventReset) instead of silently missing terminal events.
func TestReaderBehindTheWindowGetsAReset(t *testing.T) {
	t.Parallel()
	st, err := boltstore.New(filepath.Join(t.TempDir(), "b.db"), &boltstore.Config{LogMaxEvents: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := setupOn(t, st, []bgtask.Definition{quick("q")}, nil)
	r, err := e.m.Follow(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]bgtask.SubmitParams, 200)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "q"}
	}
	ids, err := e.m.SubmitMany(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	evs, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Kind != bgtask.EventReset || evs[0].Seq == 0 {
		t.Fatalf("first events of a reader left behind: %+v, want a reset", evs[:1])
	}
}

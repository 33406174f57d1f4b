package bgtask_test

import (
	"context"
	"math"
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

	st2 := openStore(t, dir)          // the real clock: an hour behind
	t.Cleanup(func() { st2.Close() }) // after the manager's Stop (cleanups run last first)
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
	t.Cleanup(func() { st.Close() }) // after the manager's Stop (cleanups run last first)
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

// A reader positioned past the log's head (an ID of another or a wiped
// store, or math.MaxUint64, which the HTTP streams use for a Last-Event-ID
// that is not a number) gets a reset at the head first, then the events
// that follow: the position is treated as one the log did not give.
func TestReaderPastTheHeadGetsAResetThenFollows(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{quick("q")}, nil)
	e.waitState(e.submit("q"), bgtask.StateSuccess)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	page, err := e.m.Store().ReadLog(ctx, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []uint64{page.Head + 1000, math.MaxUint64} {
		r, err := e.m.Follow(ctx, &bgtask.SubscribeOpts{After: after})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reset := evs[0]
		if reset.Kind != bgtask.EventReset || reset.Seq < page.Head || reset.Seq >= after {
			t.Fatalf("after %d (head %d): first event %+v, want a reset at the head", after, page.Head, reset)
		}
		id := e.submit("q")
		evs = evs[1:]
		done := false
		for range 100 {
			if len(evs) == 0 {
				if evs, err = r.Next(ctx); err != nil {
					t.Fatalf("after %d: %v before the done event of %s", after, err, id)
				}
			}
			ev := evs[0]
			evs = evs[1:]
			if ev.Seq <= reset.Seq {
				t.Fatalf("after %d: %+v after the reset at %d", after, ev, reset.Seq)
			}
			if done = ev.Kind == bgtask.EventDone && ev.TaskID == id; done {
				break
			}
		}
		if !done {
			t.Fatalf("after %d: no done event of %s in 100 events", after, id)
		}
	}
}

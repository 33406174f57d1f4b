package bgtask_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
)

// When the store cannot take a task's outcome (disk full, store away), the
// manager keeps the outcome and writes it once the store is back; cancel
// still answers meanwhile and the task's event stream ends with the
// outcome.
func TestOutcomeWrittenOnceTheStoreIsBack(t *testing.T) {
	t.Parallel()
	fs := newFaultStore(openStore(t, t.TempDir()))
	t.Cleanup(func() { fs.Close() }) // after the manager's Stop (cleanups run last first)
	fs.fail(true, "Finish")
	hook, results := afterRuns()
	e := setupOn(t, fs, []bgtask.Definition{quick("q")}, &bgtask.Config{Hooks: []bgtask.Hook{hook}})
	id := e.submit("q")
	f := e.follow(id)
	if !fs.waitFailed("Finish", 2) {
		t.Fatal("the outcome was not retried")
	}
	if info, _ := e.m.Get(context.Background(), id); info.State != bgtask.StateOngoing {
		t.Fatalf("record while the store refuses the outcome: %+v", info)
	}
	// Cancel answers (the run is over; its outcome stands).
	if err := e.m.Cancel(context.Background(), id); err != nil {
		t.Fatalf("Cancel while the outcome is pending: %v", err)
	}
	fs.fail(false, "Finish")
	evs := f.until(bgtask.EventDone, bgtask.EventCancelled, bgtask.EventFailed)
	if last := evs[len(evs)-1]; last.Kind != bgtask.EventDone {
		t.Fatalf("last event %+v, want done", last)
	}
	if res := recv(t, results, "the attempt's result"); res.State != bgtask.StateSuccess {
		t.Fatalf("attempt result %+v, want SUCCESS", res)
	}
	e.waitState(id, bgtask.StateSuccess)
}

// An outcome written late, once the store is back, records when the run
// ended, not when the store came back: it was dated with the time of the
// write, so a task that ended during a long outage looked as if it had
// run through it (the manager passes the outcome's age, measured on its
// own clock; the store dates FinishedAt back by it).
func TestOutcomeWrittenLateKeepsItsFinishTime(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Now())
	fs := newFaultStore(openStoreAt(t, t.TempDir(), fake))
	t.Cleanup(func() { fs.Close() })
	fs.fail(true, "Finish")
	e := setupOn(t, fs, []bgtask.Definition{quick("q")}, &bgtask.Config{Clock: fake})
	id := e.submit("q")
	if !fs.waitFailed("Finish", 1) {
		t.Fatal("the outcome was not written")
	}
	ended := fake.Now() // the clock has not moved since the run ended
	advanceUntil(t, fake, time.Second, func() bool { return fs.failures("Finish") >= 3 })
	fs.fail(false, "Finish")
	var info *bgtask.TaskInfo
	advanceUntil(t, fake, time.Second, func() bool {
		info, _ = e.m.Get(context.Background(), id)
		return info != nil && info.State == bgtask.StateSuccess
	})
	if d := info.FinishedAt.Sub(ended); d < -time.Microsecond || d >= time.Second {
		t.Fatalf("FinishedAt %v, %v after the run ended at %v; want the end (written at %v)", info.FinishedAt, d, ended, fake.Now())
	}
}

// A live server finds the records it holds but does not run (a claim whose
// answer was lost) at its next sweep, not only at start.
func TestLiveServerRecoversClaimsItDoesNotRun(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Now())
	st := openStoreAt(t, t.TempDir(), fake)
	t.Cleanup(func() { st.Close() }) // after the manager's Stop (cleanups run last first)
	e := setupOn(t, st, []bgtask.Definition{quick("q")}, &bgtask.Config{Clock: fake, HeartbeatInterval: time.Second, StaleAfter: 5 * time.Second})
	// The record this server claimed, as the store saw it; the manager
	// never got the answer.
	r := &store.Record{ID: "0190c1f4-0000-7000-8000-0000000000aa", Name: "q", Args: []string{}, Owner: e.m.ServerID(), Incarnation: e.m.Incarnation(), CreatedAt: fake.Now()}
	if _, err := st.Insert(context.Background(), []*store.Record{r}); err != nil {
		t.Fatal(err)
	}
	stopTicking := tick(fake, time.Second)
	defer stopTicking()
	if info := e.waitState(r.ID, bgtask.StateSuccess); info.Attempt != 1 {
		t.Fatalf("recovered claim ran with attempt %d, want 1 (it never started)", info.Attempt)
	}
}

// A store that refuses progress writes used to log one warning per
// attempt (one per ProgressInterval per task: 313 lines in 45 s of a Redis
// outage). The first failure is logged, the next ones only as a summary
// seconds later, and one line says when writes work again.
func TestProgressWriteFailuresLoggedBounded(t *testing.T) {
	t.Parallel()
	fs := newFaultStore(openStore(t, t.TempDir()))
	t.Cleanup(func() { fs.Close() })
	fs.fail(true, "Update")
	var buf lockedBuffer
	release := make(chan struct{})
	busy := bgtask.Definition{Name: "busy", Run: func(ctx context.Context, t *bgtask.Task) error {
		for i := 0; ; i++ {
			t.Progress().Add(1, "")
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
		}
	}}
	e := setupOn(t, fs, []bgtask.Definition{busy}, &bgtask.Config{
		ProgressInterval: 5 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(&buf, nil)),
	})
	id := e.submit("busy")
	if !fs.waitFailed("Update", 30) {
		t.Fatal("progress writes were not retried")
	}
	// 30 failures come within a fraction of the first 5 s: at most the
	// first line (a slow machine may reach the first summary).
	if n := strings.Count(buf.String(), "cannot write progress"); n < 1 || n > 2 {
		t.Fatalf("%d progress warnings for 30 failed writes, want 1 (2 at most):\n%s", n, buf.String())
	}
	fs.fail(false, "Update")
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(buf.String(), "progress writes work again") {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery line:\n%s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	e.waitState(id, bgtask.StateSuccess)
}

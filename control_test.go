package bgtask_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask"
)

func TestCancelReachesRunningTask(t *testing.T) {
	t.Parallel()
	g := newGate()
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}}, nil)
	id := e.submit("hold")
	f := e.follow(id)
	g.waitEntered(t)
	if err := e.m.Cancel(context.Background(), id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	evs := f.until(bgtask.EventCancelled, bgtask.EventDone, bgtask.EventFailed)
	if ev := evs[len(evs)-1]; ev.Kind != bgtask.EventCancelled || ev.State != bgtask.StateCancelled {
		t.Fatalf("terminal event = %+v, want cancelled", ev)
	}
	info := e.waitState(id, bgtask.StateCancelled)
	if info.FinishedAt == nil {
		t.Fatalf("cancelled record has no finish time: %+v", info)
	}
	if err := e.m.Cancel(context.Background(), id); !errors.Is(err, bgtask.ErrFinished) {
		t.Fatalf("Cancel of a finished task = %v, want ErrFinished", err)
	}
	if err := e.m.Cancel(context.Background(), "0190c1f4-0000-7000-8000-000000000000"); !errors.Is(err, bgtask.ErrNotFound) {
		t.Fatalf("Cancel of an unknown task = %v, want ErrNotFound", err)
	}
}

func TestCancelWaitingTaskEndsAtOnce(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer g.open()
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}}, &bgtask.Config{MaxWorkers: 1})
	e.submit("hold")
	g.waitEntered(t)
	waiting := e.submit("hold")
	f := e.follow(waiting)
	if err := e.m.Cancel(context.Background(), waiting); err != nil {
		t.Fatal(err)
	}
	if ev := f.next(); ev.Kind != bgtask.EventCancelled {
		t.Fatalf("event = %+v, want cancelled", ev)
	}
	e.waitState(waiting, bgtask.StateCancelled)
}

// parallelDef runs one subtask per key and fails those in fail on the
// first attempt; runs counts the calls per key.
func parallelDef(keys, fail []string, runs *sync.Map) bgtask.Definition {
	return bgtask.Definition{
		Name:        "par",
		Concurrency: 2,
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) {
			return keys, nil
		},
		RunSubtask: func(ctx context.Context, t *bgtask.Task) error {
			n, _ := runs.LoadOrStore(t.SubtaskKey(), new(int))
			*(n.(*int))++
			t.Progress().SetTotal(1)
			t.Progress().Add(1, "half")
			for _, k := range fail {
				if k == t.SubtaskKey() && t.Attempt() == 1 {
					return errors.New("bad block in " + k)
				}
			}
			return nil
		},
	}
}

func TestParallelPartialSuccessAndRetry(t *testing.T) {
	t.Parallel()
	var runs sync.Map
	e := setup(t, []bgtask.Definition{parallelDef([]string{"a", "b", "c", "d"}, []string{"b", "d"}, &runs)}, nil)
	ch, stop := e.m.Subscribe(nil)
	defer stop()
	f := &follower{t: t, ch: ch}
	id := e.submit("par")
	evs := f.until(bgtask.EventPartialSuccess, bgtask.EventDone, bgtask.EventFailed)
	end := evs[len(evs)-1]
	if end.Kind != bgtask.EventPartialSuccess || end.State != bgtask.StateSuccess {
		t.Fatalf("terminal event = %+v, want partial_success", end)
	}
	if diff := cmp.Diff(map[string]string{"b": "bad block in b", "d": "bad block in d"}, end.SubtaskErrors); diff != "" {
		t.Fatalf("subtask errors (-want +got):\n%s", diff)
	}
	if end.Progress.Current != 4 || end.Progress.Total != 4 {
		t.Fatalf("parent progress %+v, want 4 of 4 finished subtasks", end.Progress)
	}
	info := e.waitState(id, bgtask.StateSuccess)
	if got := subtaskStates(info); got != "a:SUCCESS b:FAILURE c:SUCCESS d:FAILURE" {
		t.Fatalf("subtasks after first run: %s", got)
	}

	if err := e.m.Retry(context.Background(), id); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	evs = f.until(bgtask.EventDone, bgtask.EventPartialSuccess, bgtask.EventFailed)
	if end := evs[len(evs)-1]; end.Kind != bgtask.EventDone || end.Attempt != 2 {
		t.Fatalf("terminal event after retry = %+v, want done on attempt 2", end)
	}
	info = e.waitState(id, bgtask.StateSuccess)
	if got := subtaskStates(info); got != "a:SUCCESS b:SUCCESS c:SUCCESS d:SUCCESS" {
		t.Fatalf("subtasks after retry: %s", got)
	}
	got := map[string]int{}
	runs.Range(func(k, v any) bool { got[k.(string)] = *(v.(*int)); return true })
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 2, "c": 1, "d": 2}, got); diff != "" {
		t.Fatalf("subtask runs (-want +got):\n%s", diff)
	}
	if err := e.m.Retry(context.Background(), id); !errors.Is(err, bgtask.ErrNothingToRetry) {
		t.Fatalf("second Retry = %v, want ErrNothingToRetry", err)
	}
}

func TestParallelAllFail(t *testing.T) {
	t.Parallel()
	var runs sync.Map
	e := setup(t, []bgtask.Definition{parallelDef([]string{"x", "y"}, []string{"x", "y"}, &runs)}, nil)
	id := e.submit("par")
	info := e.waitState(id, bgtask.StateFailure)
	if !strings.Contains(info.Error, "2 of 2 subtasks failed") {
		t.Fatalf("error %q", info.Error)
	}
}

func TestRetryOfPlainTaskIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "boom", Run: func(context.Context, *bgtask.Task) error { return errors.New("x") }}}, nil)
	id := e.submit("boom")
	e.waitState(id, bgtask.StateFailure)
	if err := e.m.Retry(context.Background(), id); !errors.Is(err, bgtask.ErrNothingToRetry) {
		t.Fatalf("Retry of a plain failed task = %v, want ErrNothingToRetry", err)
	}
}

func subtaskStates(info *bgtask.TaskInfo) string {
	var parts []string
	for _, s := range info.Subtasks {
		parts = append(parts, s.Key+":"+string(s.State))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func TestSlowSubscriberKeepsTerminalEvents(t *testing.T) {
	t.Parallel()
	const n = 40
	e := setup(t, []bgtask.Definition{{Name: "chatty", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(50)
		for range 50 {
			t.Progress().Add(1, "")
			time.Sleep(time.Millisecond)
		}
		return nil
	}}}, &bgtask.Config{ProgressInterval: time.Millisecond})
	ch, stop := e.m.Subscribe(&bgtask.SubscribeOpts{Buffer: 4})
	defer stop()
	ids := map[string]bool{}
	for range n {
		ids[e.submit("chatty")] = true
	}
	for id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	// Only now read: the subscriber was slow the whole time.
	done := map[string]bool{}
	for len(done) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Kind == bgtask.EventDone {
				done[ev.TaskID] = true
			}
		case <-time.After(waitFor):
			t.Fatalf("got %d of %d done events", len(done), n)
		}
	}
}

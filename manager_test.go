package bgtask_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask"
)

func TestSubmitUnknownNameStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, nil)
	_, err := e.m.Submit(context.Background(), "nope", nil, nil)
	if !errors.Is(err, bgtask.ErrUnknownTask) {
		t.Fatalf("Submit(nope) = %v, want ErrUnknownTask", err)
	}
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("error %q does not name the task", err)
	}
	res, err := e.m.List(context.Background(), nil)
	if err != nil || len(res.Tasks) != 0 {
		t.Fatalf("List after rejected submit = %v, %v; want no tasks", res, err)
	}
}

func TestSubmitInvalidOptions(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "ok", Run: func(context.Context, *bgtask.Task) error { return nil }}}, nil)
	for _, o := range []*bgtask.SubmitOpts{
		{Priority: "urgent"},
		{Timeout: -time.Second},
		{IdempotencyKey: strings.Repeat("k", 257)},
	} {
		if _, err := e.m.Submit(context.Background(), "ok", nil, o); !errors.Is(err, bgtask.ErrInvalidArgument) {
			t.Errorf("Submit(%+v) = %v, want ErrInvalidArgument", o, err)
		}
	}
}

// Backend.AI: a task setting total 2 and adding 1 twice gives updated
// events 1/2 and 2/2, then done with its message.
func TestProgressEventsThenDone(t *testing.T) {
	t.Parallel()
	step := make(chan struct{})
	e := setup(t, []bgtask.Definition{{Name: "two", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(2)
		t.Progress().Add(1, "BGTask ex1")
		<-step
		t.Progress().Add(1, "BGTask ex2")
		<-step
		return nil
	}}}, nil)
	ch, stop := e.m.Subscribe(nil)
	defer stop()
	f := &follower{t: t, ch: ch}
	id := e.submit("two")

	var evs []bgtask.Event
	for _, current := range []float64{1, 2} {
		for {
			ev := f.next()
			evs = append(evs, ev)
			if ev.Kind == bgtask.EventUpdated && ev.Progress.Current == current {
				break
			}
		}
		step <- struct{}{}
	}
	evs = append(evs, f.until(bgtask.EventDone)...)

	var got []string
	for _, ev := range evs {
		if ev.TaskID != id {
			t.Fatalf("event of another task: %+v", ev)
		}
		if ev.Kind == bgtask.EventUpdated && ev.Progress.Current == 0 {
			continue // SetTotal alone may be delivered first
		}
		got = append(got, fmt.Sprintf("%s %g/%g %s", ev.Kind, ev.Progress.Current, ev.Progress.Total, ev.Message))
	}
	want := []string{"started 0/0 ", "updated 1/2 BGTask ex1", "updated 2/2 BGTask ex2", "done 2/2 BGTask ex2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	info, err := e.m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != bgtask.StateSuccess || info.ExitCode == nil || *info.ExitCode != 0 || info.Progress.Current != 2 || info.FinishedAt == nil {
		t.Fatalf("record after done = %+v", info)
	}
}

// Backend.AI: a task raising an error gives a failed event whose message
// contains the error.
func TestFailedEventCarriesError(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "boom", Run: func(context.Context, *bgtask.Task) error {
		return errors.New("bgtask error: disk on fire")
	}}}, nil)
	ch, stop := e.m.Subscribe(nil)
	defer stop()
	id := e.submit("boom")
	evs := (&follower{t: t, ch: ch}).until(bgtask.EventFailed)
	ev := evs[len(evs)-1]
	if ev.TaskID != id || ev.State != bgtask.StateFailure || !strings.Contains(ev.Error, "disk on fire") || ev.ExitCode == nil || *ev.ExitCode != bgtask.ExitException {
		t.Fatalf("failed event = %+v", ev)
	}
	info := e.waitState(id, bgtask.StateFailure)
	if !strings.Contains(info.Error, "disk on fire") {
		t.Fatalf("record error = %q", info.Error)
	}
}

// Backend.AI: float and negative increments sum correctly, also when
// updated concurrently.
func TestProgressFloatNegativeConcurrent(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "sum", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(10)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					t.Progress().Add(0.5, "")
					t.Progress().Add(-0.25, "")
				}
			})
		}
		wg.Wait()
		t.Progress().Add(-0.125, "sum")
		return nil
	}}}, nil)
	ch, stop := e.m.Subscribe(nil)
	defer stop()
	e.submit("sum")
	evs := (&follower{t: t, ch: ch}).until(bgtask.EventDone)
	want := 8*100*0.25 - 0.125
	if got := evs[len(evs)-1].Progress.Current; got != want {
		t.Fatalf("final progress %v, want %v", got, want)
	}
	// No updated event repeats the state of the one before it. (This
	// compared Current alone, the started event's included, and failed
	// about once in 300 runs: when the first write caught the total set
	// and no Add yet, its Current 0 equalled the started event's although
	// the total differed; and concurrent Adds summing back to the value
	// last written wrote it again, see
	// TestProgressBackToTheWrittenStateWritesNothing.)
	var prev *bgtask.ProgressInfo
	for _, ev := range evs {
		if ev.Kind != bgtask.EventUpdated {
			continue
		}
		if prev != nil && *prev == ev.Progress {
			t.Fatalf("duplicate updated event %+v", ev)
		}
		p := ev.Progress
		prev = &p
	}
}

// A progress that changes and comes back to the state last written before
// the next write is not written again: no updated event repeats the state
// of the one before it (TestProgressFloatNegativeConcurrent failed about
// once in 300 runs when concurrent Adds summed back to the value of the
// last write).
func TestProgressBackToTheWrittenStateWritesNothing(t *testing.T) {
	t.Parallel()
	written := make(chan struct{})
	e := setup(t, []bgtask.Definition{{Name: "flip", Run: func(ctx context.Context, tk *bgtask.Task) error {
		tk.Progress().SetTotal(10)
		tk.Progress().Set(1, "a")
		select {
		case <-written:
		case <-ctx.Done():
			return ctx.Err()
		}
		for range 5 {
			// back and forth within one progress interval, then long
			// enough for several flushes to come due
			tk.Progress().Set(2, "a")
			tk.Progress().Set(1, "a")
			time.Sleep(60 * time.Millisecond)
		}
		tk.Progress().Set(3, "a")
		return nil
	}}}, nil)
	ch, stop := e.m.Subscribe(nil)
	defer stop()
	id := e.submit("flip")
	f := &follower{t: t, ch: ch}
	var evs []bgtask.Event
	for range 10000 {
		ev := f.next()
		if ev.TaskID != id {
			continue
		}
		evs = append(evs, ev)
		if ev.Kind == bgtask.EventUpdated && ev.Progress.Current == 1 && len(evs) > 0 {
			select {
			case <-written:
			default:
				close(written)
			}
		}
		if ev.Kind == bgtask.EventDone {
			break
		}
	}
	var prev *bgtask.ProgressInfo
	for _, ev := range evs {
		if ev.Kind != bgtask.EventUpdated {
			continue
		}
		if prev != nil && *prev == ev.Progress {
			t.Fatalf("updated event repeats the state before it: %+v (events %+v)", ev.Progress, evs)
		}
		p := ev.Progress
		prev = &p
	}
	if got := evs[len(evs)-1].Progress; got.Current != 3 {
		t.Fatalf("final progress %+v, want 3", got)
	}
}

func TestExitCodesAndPanics(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{
		{Name: "exit0", Run: func(context.Context, *bgtask.Task) error { return bgtask.Exit(0) }},
		{Name: "exit12", Run: func(context.Context, *bgtask.Task) error { return bgtask.Exit(12) }},
		{Name: "exit200", Run: func(context.Context, *bgtask.Task) error { return bgtask.Exit(200) }},
		{Name: "panics", Run: func(context.Context, *bgtask.Task) error { panic("kaboom") }},
	}, nil)
	for _, tc := range []struct {
		name  string
		state bgtask.State
		code  int
		err   string
	}{
		{"exit0", bgtask.StateSuccess, 0, ""},
		{"exit12", bgtask.StateFailure, 12, "exit 12"},
		{"exit200", bgtask.StateFailure, bgtask.ExitException, "exit 200"},
		{"panics", bgtask.StateFailure, bgtask.ExitException, "panic: kaboom"},
	} {
		id := e.submit(tc.name)
		info := e.waitState(id, tc.state)
		if *info.ExitCode != tc.code || !strings.Contains(info.Error, tc.err) {
			t.Errorf("%s: exit %d error %q, want %d %q", tc.name, *info.ExitCode, info.Error, tc.code, tc.err)
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release, returned := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(release)
		<-returned // the abandoned run function ends before the leak check
	})
	e := setup(t, []bgtask.Definition{
		{Name: "honours", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ *bgtask.Task) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{Name: "ignores", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ *bgtask.Task) error {
			defer close(returned)
			<-release // ignores ctx: given up after TimeoutGrace
			return nil
		}},
	}, &bgtask.Config{TimeoutGrace: 100 * time.Millisecond})
	for _, name := range []string{"honours", "ignores"} {
		info := e.waitState(e.submit(name), bgtask.StateFailure)
		if *info.ExitCode != bgtask.ExitTimeout || !strings.Contains(info.Error, "timeout after 50ms") {
			t.Errorf("%s: exit %d error %q, want exit 4 and a timeout message", name, *info.ExitCode, info.Error)
		}
	}
	// a submission's timeout overrides the definition's
	id, err := e.m.Submit(context.Background(), "honours", nil, &bgtask.SubmitOpts{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if info := e.waitState(id, bgtask.StateFailure); !strings.Contains(info.Error, "timeout after 20ms") {
		t.Errorf("submission timeout: error %q", info.Error)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer g.open()
	e := setup(t, []bgtask.Definition{{Name: "once", Run: g.run}}, nil)
	opts := &bgtask.SubmitOpts{IdempotencyKey: "order-42"}
	a, err := e.m.Submit(context.Background(), "once", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.m.Submit(context.Background(), "once", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("same idempotency key gave IDs %s and %s", a, b)
	}
	g.waitEntered(t)
	select {
	case id := <-g.entered:
		t.Fatalf("second run of %s started", id)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWorkerSlotLimit(t *testing.T) {
	t.Parallel()
	g := newGate()
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}}, &bgtask.Config{MaxWorkers: 2})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = e.submit("hold")
	}
	g.waitEntered(t)
	g.waitEntered(t)
	select {
	case id := <-g.entered:
		t.Fatalf("third task %s started with 2 worker slots", id)
	case <-time.After(100 * time.Millisecond):
	}
	res, err := e.m.List(context.Background(), &bgtask.ListOpts{State: bgtask.StateOngoing})
	if err != nil || len(res.Tasks) != 5 {
		t.Fatalf("List ONGOING = %d tasks, %v; want 5", len(res.Tasks), err)
	}
	waiting := 0
	for _, info := range res.Tasks {
		if info.Attempt == 0 {
			waiting++
			if info.Progress != (bgtask.ProgressInfo{}) || info.StartedAt != nil {
				t.Errorf("waiting task %+v has progress or a start time", info)
			}
		}
	}
	if waiting != 3 {
		t.Fatalf("%d tasks waiting for a slot, want 3", waiting)
	}
	g.open()
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
}

func TestSubmitMany(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}}, nil)
	params := make([]bgtask.SubmitParams, 50)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "noop", Args: []string{fmt.Sprint(i)}}
	}
	ids, err := e.m.SubmitMany(context.Background(), params)
	if err != nil || len(ids) != 50 {
		t.Fatalf("SubmitMany = %d IDs, %v", len(ids), err)
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	params[7].Name = "missing"
	if _, err := e.m.SubmitMany(context.Background(), params); !errors.Is(err, bgtask.ErrUnknownTask) {
		t.Fatalf("SubmitMany with an unknown name = %v, want ErrUnknownTask", err)
	}
	res, _ := e.m.List(context.Background(), &bgtask.ListOpts{Limit: 1000})
	if len(res.Tasks) != 50 {
		t.Fatalf("%d records after a rejected batch, want 50", len(res.Tasks))
	}
}

// A Config.ServerID that cannot name a server in logs, the dashboard and
// store keys is refused (spaces, control characters, invalid UTF-8, over
// MaxServerIDLen bytes); an empty one is the default.
func TestConfigServerIDChecked(t *testing.T) {
	t.Parallel()
	st := openStoreAt(t, t.TempDir(), nil)
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"web 1", "web\n1", "web\x001", "\xff", strings.Repeat("w", bgtask.MaxServerIDLen+1)} {
		if _, err := bgtask.NewManager(&bgtask.Config{Registry: bgtask.NewRegistry(), Store: st, ServerID: id}); err == nil || !strings.Contains(err.Error(), "Config.ServerID") {
			t.Errorf("NewManager with ServerID %q: %v, want an error naming Config.ServerID", id, err)
		}
	}
	for _, id := range []string{"", "web-1", "ünïcode.host:8080", strings.Repeat("w", bgtask.MaxServerIDLen)} {
		m, err := bgtask.NewManager(&bgtask.Config{Registry: bgtask.NewRegistry(), Store: st, ServerID: id})
		if err != nil {
			t.Errorf("NewManager with ServerID %q: %v", id, err)
			continue
		}
		if id != "" && m.ServerID() != id {
			t.Errorf("ServerID() = %q, want %q", m.ServerID(), id)
		}
	}
}

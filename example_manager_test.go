package bgtask_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store/boltstore"
)

// startExample opens an embedded store in a temporary directory and starts
// a manager for reg. The returned function stops both.
func startExample(reg *bgtask.Registry) (*bgtask.Manager, func()) {
	dir, err := os.MkdirTemp("", "bgtask-example-")
	if err != nil {
		panic(err)
	}
	st, err := boltstore.New(dir, nil)
	if err != nil {
		panic(err)
	}
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st})
	if err != nil {
		panic(err)
	}
	if err := m.Start(context.Background()); err != nil {
		panic(err)
	}
	return m, func() {
		_ = m.Stop(context.Background())
		_ = st.Close()
		_ = os.RemoveAll(dir)
	}
}

// Submit a task and follow its progress until it ends.
func ExampleManager_Submit() {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "resize", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(3)
		for i := range 3 {
			time.Sleep(150 * time.Millisecond) // some work; coalescing sends ≤ 10 updates/s
			t.Progress().Add(1, fmt.Sprintf("image %d resized", i+1))
		}
		return nil
	}})
	m, stop := startExample(reg)
	defer stop()

	events, unsubscribe := m.Subscribe(nil)
	defer unsubscribe()
	id, err := m.Submit(context.Background(), "resize", []string{"photos/"}, nil)
	if err != nil {
		panic(err)
	}
	for ev := range events {
		if ev.TaskID != id || ev.Kind == bgtask.EventUpdated && ev.Progress.Current == 0 {
			continue // SetTotal alone may be reported first
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %g/%g %s", ev.Kind, ev.Progress.Current, ev.Progress.Total, ev.Message)))
		if ev.Kind.Terminal() {
			break
		}
	}
	// Output:
	// started 0/0
	// updated 1/3 image 1 resized
	// updated 2/3 image 2 resized
	// updated 3/3 image 3 resized
	// done 3/3 image 3 resized
}

// Cancel a running task: its context is cancelled and it ends CANCELLED.
func ExampleManager_Cancel() {
	running := make(chan struct{})
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "crawl", Run: func(ctx context.Context, t *bgtask.Task) error {
		close(running)
		<-ctx.Done() // a well-behaved task stops when its context ends
		return ctx.Err()
	}})
	m, stop := startExample(reg)
	defer stop()

	id, _ := m.Submit(context.Background(), "crawl", nil, nil)
	events, unsubscribe := m.Subscribe(&bgtask.SubscribeOpts{TaskID: id})
	defer unsubscribe()
	<-running
	if err := m.Cancel(context.Background(), id); err != nil {
		panic(err)
	}
	for ev := range events {
		if ev.Kind.Terminal() {
			fmt.Println(ev.Kind, ev.State)
			break
		}
	}
	err := m.Cancel(context.Background(), id)
	fmt.Println(errors.Is(err, bgtask.ErrFinished))
	// Output:
	// cancelled CANCELLED
	// true
}

// A parallel task runs one subtask per key; Retry re-runs only the failed
// ones.
func ExampleManager_Retry() {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{
		Name: "backup",
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) {
			return []string{"db", "files", "logs"}, nil
		},
		RunSubtask: func(ctx context.Context, t *bgtask.Task) error {
			if t.SubtaskKey() == "files" && t.Attempt() == 1 {
				return errors.New("disk full")
			}
			return nil
		},
	})
	m, stop := startExample(reg)
	defer stop()

	events, unsubscribe := m.Subscribe(nil)
	defer unsubscribe()
	wait := func() bgtask.Event {
		for ev := range events {
			if ev.Kind.Terminal() {
				return ev
			}
		}
		return bgtask.Event{}
	}
	id, _ := m.Submit(context.Background(), "backup", nil, nil)
	ev := wait()
	fmt.Println(ev.Kind, ev.State, ev.SubtaskErrors)

	_ = m.Retry(context.Background(), id)
	ev = wait()
	info, _ := m.Get(context.Background(), id)
	var states []string
	for _, s := range info.Subtasks {
		states = append(states, s.Key+"="+string(s.State))
	}
	sort.Strings(states)
	fmt.Println(ev.Kind, "attempt", ev.Attempt, states)
	// Output:
	// partial_success SUCCESS map[files:disk full]
	// done attempt 2 [db=SUCCESS files=SUCCESS logs=SUCCESS]
}

// Stop shuts down gracefully: running tasks may finish until the context
// ends; then retriable ones are handed back for another server (or the
// next start) and the others end CANCELLED.
func ExampleManager_Stop() {
	started := make(chan struct{}, 2)
	work := func(ctx context.Context, t *bgtask.Task) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "reindex", Retriable: true, Run: work})
	reg.MustAdd(bgtask.Definition{Name: "report", Run: work})
	m, stop := startExample(reg)
	defer stop()

	a, _ := m.Submit(context.Background(), "reindex", nil, nil)
	b, _ := m.Submit(context.Background(), "report", nil, nil)
	<-started
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = m.Stop(ctx) // the tasks do not finish in time

	ia, _ := m.Get(context.Background(), a)
	ib, _ := m.Get(context.Background(), b)
	fmt.Println("reindex:", ia.State, "owner", fmt.Sprintf("%q", ia.Owner))
	fmt.Println("report:", ib.State, ib.Error)
	// Output:
	// reindex: ONGOING owner ""
	// report: CANCELLED server shutdown
}

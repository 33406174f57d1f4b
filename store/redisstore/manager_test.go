package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
)

// servers starts n managers, each on its own Store on one Redis, as n
// bgtask servers sharing it. run is every server's run function of task
// "job"; it gets the server's ID.
func servers(t *testing.T, srv *redistest.Server, n int, run func(ctx context.Context, server string, tk *bgtask.Task) error) []*bgtask.Manager {
	t.Helper()
	return serversAt(t, srv.URL(0), n, run)
}

func serversAt(t *testing.T, url string, n int, run func(ctx context.Context, server string, tk *bgtask.Task) error) []*bgtask.Manager {
	t.Helper()
	var ms []*bgtask.Manager
	for i := range n {
		id := fmt.Sprint("server-", i)
		reg := bgtask.NewRegistry()
		reg.MustAdd(bgtask.Definition{Name: "job", Run: func(ctx context.Context, tk *bgtask.Task) error { return run(ctx, id, tk) }})
		ms = append(ms, startManager(t, &bgtask.Config{
			Registry: reg, Store: newStore(t, url, nil), ServerID: id, MaxWorkers: 4,
			HeartbeatInterval: 100 * time.Millisecond, StaleAfter: 2 * time.Second,
		}))
	}
	return ms
}

// startManager starts a manager with cfg and stops it when t ends.
func startManager(t *testing.T, cfg *bgtask.Config) *bgtask.Manager {
	t.Helper()
	m, err := bgtask.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Stop(ctx)
	})
	return m
}

// TestManagersShareWork: three managers on one Redis; 300 tasks submitted
// to one of them run once each, spread over all three, and the submitting
// server sees every terminal event through the store's log.
func TestManagersShareWork(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	var mu sync.Mutex
	runs := map[string]int{}
	by := map[string]int{}
	release := make(chan struct{})
	ms := servers(t, srv, 3, func(ctx context.Context, server string, tk *bgtask.Task) error {
		mu.Lock()
		runs[tk.ID()]++
		by[server]++
		mu.Unlock()
		// Hold the slot until every server has work, so that the queue is
		// shared rather than drained by the first server alone.
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	events, stop := ms[0].Subscribe(nil)
	defer stop()
	const n = 300
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "job", Args: []string{fmt.Sprint(i)}}
	}
	ids, err := ms[0].SubmitMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	// Every server fills its 4 slots from the shared queue.
	deadline := time.After(30 * time.Second)
	for started := 0; started < 12; {
		select {
		case ev := <-events:
			if ev.Kind == bgtask.EventStarted {
				started++
			}
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("servers did not all start work: runs by server %v", by)
		}
	}
	close(release)
	done := map[string]bool{}
	for len(done) < n {
		select {
		case ev := <-events:
			if ev.Kind.Terminal() {
				if ev.Kind != bgtask.EventDone {
					t.Fatalf("task %s ended %s: %s", ev.TaskID, ev.Kind, ev.Error)
				}
				done[ev.TaskID] = true
			}
		case <-deadline:
			t.Fatalf("%d of %d tasks ended", len(done), n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Fatalf("task %s ran %d times, want once", id, runs[id])
		}
	}
	for i := range 3 {
		if by[fmt.Sprint("server-", i)] == 0 {
			t.Fatalf("server-%d ran nothing: %v", i, by)
		}
	}
}

// TestManagersCancelAcrossServers: a task running on one server is
// cancelled through another; it ends CANCELLED. Which server runs it is
// not the point: a Submit finds no free slot while its claimer holds
// the slots for a claim in flight (a loaded machine, at start), and then
// queues the task for any server.
func TestManagersCancelAcrossServers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	running := make(chan string, 1)
	ms := servers(t, srv, 2, func(ctx context.Context, server string, tk *bgtask.Task) error {
		running <- server
		<-ctx.Done()
		return ctx.Err()
	})
	events, stop := ms[1].Subscribe(nil)
	defer stop()
	id, err := ms[0].Submit(t.Context(), "job", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := ms[1]
	if <-running == "server-1" {
		other = ms[0]
	}
	if err := other.Cancel(t.Context(), id); err != nil {
		t.Fatalf("Cancel through the server that does not run the task: %v", err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.TaskID == id && ev.Kind.Terminal() {
				if ev.Kind != bgtask.EventCancelled {
					t.Fatalf("task ended %s, want cancelled", ev.Kind)
				}
				info, err := ms[1].Get(t.Context(), id)
				if err != nil || info.State != bgtask.StateCancelled {
					t.Fatalf("Get = %+v, %v; want CANCELLED", info, err)
				}
				return
			}
		case <-deadline:
			t.Fatal("the cancelled task never ended")
		}
	}
}

// TestManagersSurviveRedisRestart: Redis is killed in the middle of a
// drain and restarted from its AOF (appendfsync always) a moment later;
// the managers keep running, and every task still ends, once.
func TestManagersSurviveRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{Fsync: redistest.FsyncAlways})
	var mu sync.Mutex
	runs := map[string]int{}
	ms := serversAt(t, srv.URL(0)+"?max_retries=-1&dial_timeout=200ms&read_timeout=500ms&write_timeout=500ms", 2,
		func(ctx context.Context, server string, tk *bgtask.Task) error {
			mu.Lock()
			runs[tk.ID()]++
			mu.Unlock()
			return nil
		})
	events, stop := ms[0].Subscribe(nil)
	defer stop()
	const n = 200
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "job"}
	}
	ids, err := ms[1].SubmitMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	deadline := time.After(120 * time.Second)
	killed := false
	for len(done) < n {
		select {
		case ev := <-events:
			if ev.Kind.Terminal() {
				if ev.Kind != bgtask.EventDone {
					t.Fatalf("task %s ended %s: %s", ev.TaskID, ev.Kind, ev.Error)
				}
				done[ev.TaskID] = true
			}
			if !killed && len(done) >= n/4 {
				killed = true
				srv.Kill()
				srv.Restart()
			}
		case <-deadline:
			t.Fatalf("%d of %d tasks ended after a Redis restart", len(done), n)
		}
	}
	if !killed {
		t.Fatal("the drain ended before Redis was killed")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Fatalf("task %s ran %d times, want once", id, runs[id])
		}
	}
}

package redisstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/redis/go-redis/v9"
)

// A Redis that lost its data (restarted without persistence; here its keys
// purged) has an event log whose head is below the manager's position; a
// log whose entries up to its head are gone (trimmed, or a hole at its
// end, which a call failing inside Redis used to leave) has nothing to
// read between the position and the head. The event tail used to read
// that truncated page back to back, logging "the event log moved past
// this server's position" thousands of times a second; it follows the log
// from its head, once warned, and tasks run on.
func TestTailFollowsALogThatStartsAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		breakLog func(ctx context.Context, url string) error
	}{
		{"purged", func(ctx context.Context, url string) error {
			_, err := newStore(t, url, nil).Purge(ctx)
			return err
		}},
		{"head past the last entry", func(ctx context.Context, url string) error {
			opt, err := redis.ParseURL(url)
			if err != nil {
				return err
			}
			c := redis.NewClient(opt)
			defer c.Close()
			return c.IncrBy(ctx, redisstore.DefaultPrefix+"seq", 5).Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tailFollows(t, tc.breakLog)
		})
	}
}

func tailFollows(t *testing.T, breakLog func(ctx context.Context, url string) error) {
	srv := redistest.Start(t, nil)
	var buf lockedBuffer
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "job", Run: func(context.Context, *bgtask.Task) error { return nil }})
	m := startManager(t, &bgtask.Config{
		Registry: reg, Store: newStore(t, srv.URL(0), nil), ServerID: "s",
		HeartbeatInterval: 100 * time.Millisecond, StaleAfter: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	waitDone := func(id string) {
		t.Helper()
		for range 500 {
			if info, err := m.Get(t.Context(), id); err == nil && info.State == bgtask.StateSuccess {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("task %s did not succeed", id)
	}
	for range 3 {
		id, err := m.Submit(t.Context(), "job", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitDone(id)
	}
	// A subscriber following all along: after the break it gets a reset,
	// then the events of the next task. (Its position was past the head of
	// a log that started again below it: it waited there for ever, and an
	// open /v1/events stream went silent.)
	events, stop := m.Subscribe(nil)
	defer stop()
	if err := breakLog(t.Context(), srv.URL(0)); err != nil {
		t.Fatal(err)
	}
	warned := func() int {
		return strings.Count(buf.String(), "the event log moved past") + strings.Count(buf.String(), "the event log starts again below")
	}
	for i := 0; warned() == 0; i++ {
		if i == 500 {
			t.Fatalf("no warning about the log:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the old tail logged hundreds of lines by now
	if n := warned(); n > 2 {
		t.Fatalf("%d warnings about the log after it started again, want 1", n)
	}
	id, err := m.Submit(t.Context(), "job", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(id)
	reset := false
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the subscription ended")
			}
			if ev.Kind == bgtask.EventReset {
				reset = true
			}
			if ev.TaskID == id && ev.Kind == bgtask.EventDone {
				if !reset {
					t.Fatal("the new task's done came without a reset before it")
				}
				return
			}
		case <-timeout:
			t.Fatalf("the subscriber got no done of the task run after the log started again (reset seen: %v)", reset)
		}
	}
}

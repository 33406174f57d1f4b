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
	if err := breakLog(t.Context(), srv.URL(0)); err != nil {
		t.Fatal(err)
	}
	const moved = "the event log moved past"
	for i := 0; !strings.Contains(buf.String(), moved); i++ {
		if i == 500 {
			t.Fatalf("no warning about the log:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the old tail logged hundreds of lines by now
	if n := strings.Count(buf.String(), moved); n > 2 {
		t.Fatalf("%d warnings about the log after it started again, want 1", n)
	}
	id, err := m.Submit(t.Context(), "job", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(id)
}

//go:build linux

package e2e_test

import (
	"fmt"
	"testing"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
)

// A graceful stop (SIGTERM) ends every task stream with the task's
// terminal event and server_close, and the response ends cleanly: the
// server let the streams send the outcomes it wrote at the stop before it
// closed their connections. It closed them at once after the manager
// stopped, and a stream waiting out its batch window lost its last events
// (curl: exit 18, the last event an update). Each task reports progress
// continuously, so that its stream has written shortly before the stop;
// with several streams at once, one of them is in its window.
func TestGracefulStopEndsTaskStreamsWithTheOutcome(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			args := []string{"--shutdown-timeout", "1s", "--max-workers", "64"}
			if kind == "redis" {
				rs := redistest.Start(t, nil)
				args = append(args, "--store", rs.URL(0), "--server-id", "C")
			}
			s := startServer(t, "", args...)
			const n = 16
			var streams []*sseClient
			for range n {
				id := s.post("progress", "1000000", "3")
				s.waitState(id, bgtask.StateOngoing)
				c := s.openStream("/v1/tasks/"+id+"/events", "")
				if ev, ok := c.next(); !ok || ev.kind != "state" {
					t.Fatalf("first event %+v, want state", ev)
				}
				streams = append(streams, c)
			}
			for _, c := range streams { // every stream is following
				if ev, ok := c.next(); !ok || ev.kind != "updated" {
					t.Fatalf("event %+v, want updated", ev)
				}
			}
			s.term()
			for i, c := range streams {
				kinds := c.kinds()
				err := c.sc.Err()
				if n := len(kinds); err != nil || n < 2 || kinds[n-2] != "cancelled" || kinds[n-1] != "server_close" {
					t.Errorf("stream %d across SIGTERM: %v (read error %v), want ..., cancelled, server_close and a clean end", i, tail(kinds), err)
				}
			}
		})
	}
}

// tail returns the last few kinds.
func tail(kinds []string) string {
	if len(kinds) > 4 {
		return fmt.Sprint("... ", kinds[len(kinds)-4:])
	}
	return fmt.Sprint(kinds)
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/redisstore"
)

// setupKind is setup on a fresh store of the kind ("embedded" or "redis",
// a private redis-server) whose event log keeps logMax entries.
func setupKind(t *testing.T, kind string, logMax int) *env {
	t.Helper()
	if kind == "embedded" {
		return setupStore(t, "", &boltstore.Config{LogMaxEvents: logMax})
	}
	rs := redistest.Start(t, nil)
	st, err := redisstore.New(context.Background(), rs.URL(0), &redisstore.Config{LogMaxEvents: logMax})
	if err != nil {
		t.Fatal(err)
	}
	return setupOn(t, "", st)
}

// stateOf decodes the data of an event "state".
func stateOf(t *testing.T, ev sseEvent) bgtask.TaskInfo {
	t.Helper()
	var info bgtask.TaskInfo
	if ev.kind != "state" || json.Unmarshal([]byte(ev.data), &info) != nil {
		t.Fatalf("got %s %s, want event state", ev.kind, ev.data)
	}
	return info
}

// A task stream resumed from any position ends with the task's outcome:
// a Last-Event-ID beyond the log's head (an ID of another or a wiped
// store), within the log but after the task's last event, or older than
// the log's window. A finished task's stream sent only server_close for
// the first two. An ONGOING task's stream gets its state when the
// position is not one the log can resume from, and its outcome when it
// ends.
func TestResumeFromAnyPositionEndsWithTheOutcome(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := setupKind(t, kind, 20)
			running := e.submit("steps")
			e.waitRunning(running.ID)
			finished := e.submit("quick")
			e.waitState(finished.ID, bgtask.StateSuccess)
			var last bgtask.TaskInfo
			for range 30 { // past the window of 20 entries
				last = e.submit("quick")
			}
			e.waitState(last.ID, bgtask.StateSuccess)
			info, err := e.m.Get(context.Background(), last.ID)
			if err != nil {
				t.Fatal(err)
			}
			positions := []struct {
				name string
				id   uint64
				// state: an ONGOING task's stream starts with its state
				state bool
			}{
				{"beyond the head", 999_999_999, true},
				{"within the log after the task's last event", info.EventSeq, false},
				{"older than the window", 1, true},
			}
			for _, p := range positions {
				s := e.stream("/v1/tasks/"+finished.ID+"/events", "Last-Event-ID", strconv.FormatUint(p.id, 10))
				if got := stateOf(t, s.nextEvent()); got.State != bgtask.StateSuccess {
					t.Fatalf("finished task, resumed %s: state %s, want SUCCESS", p.name, got.State)
				}
				if ev := s.nextEvent(); ev.kind != "server_close" {
					t.Fatalf("finished task, resumed %s: %s after the state, want server_close", p.name, ev.kind)
				}
				wantEnd(t, s)
			}
			var streams []*sse
			for _, p := range positions {
				s := e.stream("/v1/tasks/"+running.ID+"/events", "Last-Event-ID", strconv.FormatUint(p.id, 10))
				if p.state {
					if got := stateOf(t, s.nextEvent()); got.State != bgtask.StateOngoing {
						t.Fatalf("ONGOING task, resumed %s: state %s", p.name, got.State)
					}
				}
				streams = append(streams, s)
			}
			for range 3 {
				e.step <- struct{}{}
			}
			for i, s := range streams {
				kinds := kindsToClose(s)
				if n := len(kinds); n < 2 || kinds[n-2] != "done" {
					t.Fatalf("ONGOING task, resumed %s: %v, want ..., done, server_close", positions[i].name, kinds)
				}
				wantEnd(t, s)
			}
		})
	}
}

// A task stream that learns that the manager stopped before it delivered
// the task's terminal event (a reader that had not read yet, or that fell
// behind the manager's memory) ends with the final state and
// server_close, not with the bare end of the response.
func TestTaskStreamAfterStopEndsWithTheOutcome(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := setupKind(t, kind, 0)
			info := e.submit("steps")
			e.waitRunning(info.ID)
			s := e.stream("/v1/tasks/" + info.ID + "/events")
			if got := stateOf(t, s.nextEvent()); got.State != bgtask.StateOngoing {
				t.Fatalf("first state %s", got.State)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // no grace: the run is cancelled at once
			if err := e.m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			kinds := kindsToClose(s)
			if n := len(kinds); n < 2 || kinds[n-2] != "cancelled" {
				t.Fatalf("stream across the stop: %v, want ..., cancelled, server_close", kinds)
			}
			wantEnd(t, s)
			// Resumed after the stop from before the outcome: the reader
			// reads the store once more and replays what it missed, or
			// (the store gone) the stream sends the final state; either
			// way the outcome, then server_close.
			s2 := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", "1")
			kinds2 := kindsToClose(s2)
			if n := len(kinds2); n < 2 || kinds2[n-2] != "cancelled" && kinds2[n-2] != "state" {
				t.Fatalf("resumed after the stop: %v, want ..., cancelled (or the state), server_close", kinds2)
			}
			wantEnd(t, s2)
		})
	}
}

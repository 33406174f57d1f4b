package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store/boltstore"
)

func seqOf(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("event id %q is not a sequence number", id)
	}
	return n
}

// followTo reads a task stream until an updated event with the given
// progress and returns it.
func followTo(s *sse, current int) sseEvent {
	for range 1000 {
		if ev := s.nextEvent(); ev.kind == "updated" && strings.Contains(ev.data, fmt.Sprintf(`"current":%d`, current)) {
			return ev
		}
	}
	s.t.Fatalf("no updated event with current %d", current)
	return sseEvent{}
}

// wantEnd checks that the stream's response ends (no more pings).
func wantEnd(t *testing.T, s *sse) {
	t.Helper()
	done := make(chan bool, 1)
	go func() {
		_, ok := s.next()
		done <- ok
	}()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("the stream went on after server_close")
		}
	case <-time.After(waitFor):
		t.Fatal("the stream stayed open after server_close")
	}
}

// Resuming a finished task's stream from a mid-stream ID replays what was
// missed, then server_close, then the response ends: no pings for ever.
func TestResumedStreamOfAFinishedTaskEnds(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("steps")
	s := e.stream("/v1/tasks/" + info.ID + "/events")
	s.nextEvent() // state
	e.step <- struct{}{}
	mid := followTo(s, 1)
	s.resp.Body.Close()
	e.step <- struct{}{}
	e.step <- struct{}{}
	e.waitState(info.ID, bgtask.StateSuccess)

	s2 := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", mid.id)
	var kinds []string
	for {
		ev := s2.nextEvent()
		kinds = append(kinds, ev.kind)
		if ev.kind == "server_close" {
			break
		}
	}
	if n := len(kinds); n < 2 || kinds[n-2] != "done" {
		t.Fatalf("resumed stream %v, want ..., done, server_close", kinds)
	}
	wantEnd(t, s2)
	// A stream of a finished task from the start: state, server_close, end.
	s3 := e.stream("/v1/tasks/" + info.ID + "/events")
	if a, b := s3.nextEvent(), s3.nextEvent(); a.kind != "state" || b.kind != "server_close" {
		t.Fatalf("stream of a finished task: %v, %v", a.kind, b.kind)
	}
	wantEnd(t, s3)
}

// A resume from a position the log's window no longer holds gets the
// task's state (a task stream) or a reset (all tasks), never silence.
func TestResumeBeforeTheWindow(t *testing.T) {
	t.Parallel()
	e := setupStore(t, "", &boltstore.Config{LogMaxEvents: 20})
	info := e.submit("steps")
	s := e.stream("/v1/tasks/" + info.ID + "/events")
	s.nextEvent()
	e.step <- struct{}{}
	mid := followTo(s, 1)
	s.resp.Body.Close()
	for range 50 {
		e.submit("quick")
	}
	e.step <- struct{}{}
	e.step <- struct{}{}
	e.waitState(info.ID, bgtask.StateSuccess)

	s2 := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", mid.id)
	ev := s2.nextEvent()
	var got bgtask.TaskInfo
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil || ev.kind != "state" || got.State != bgtask.StateSuccess {
		t.Fatalf("resume before the window: %s %s, want the final state", ev.kind, ev.data)
	}
	if ev := s2.nextEvent(); ev.kind != "server_close" {
		t.Fatalf("after the state: %s, want server_close", ev.kind)
	}
	wantEnd(t, s2)

	all := e.stream("/v1/events", "Last-Event-ID", mid.id)
	if ev := all.nextEvent(); ev.kind != "reset" || ev.id == "" {
		t.Fatalf("all-tasks resume before the window: %+v, want reset with an id", ev)
	}
}

// A /v1/events client that reads nothing while thousands of tasks finish,
// then reads, gets every done event: the server reads the store's log at
// the client's pace.
func TestAllEventsClientThatStallsLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 2000
	e := setup(t, "")
	s := e.stream("/v1/events")
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "quick"}
	}
	ids, err := e.m.SubmitMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	done := map[string]bool{}
	for len(done) < n {
		ev := s.nextEvent()
		if ev.kind == "reset" {
			t.Fatalf("reset after %d of %d done events; the window is larger than the run", len(done), n)
		}
		if ev.kind == "done" {
			var d bgtask.Event
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				t.Fatal(err)
			}
			done[d.TaskID] = true
		}
	}
}

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
// kindsToClose reads s up to and including server_close and returns the
// events' kinds.
func kindsToClose(s *sse) []string {
	var kinds []string
	for {
		ev := s.nextEvent()
		kinds = append(kinds, ev.kind)
		if ev.kind == "server_close" {
			return kinds
		}
	}
}

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
	kinds := kindsToClose(s2)
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

// A /v1/events client that reads nothing while 22,000 tasks finish, then
// reads, gets every done event: the server reads the store's log at the
// client's pace, and nothing is dropped without a signal.
func TestAllEventsClientThatStallsLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 22000
	e := setup(t, "")
	s := e.stream("/v1/events")
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "quick"}
	}
	if _, err := e.m.SubmitMany(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * waitFor)
	for {
		c, err := e.m.Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if c[bgtask.StateSuccess] == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not done: %v", c)
		}
		time.Sleep(10 * time.Millisecond)
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

// A retried task's stream resumed from a position the log cannot serve
// (here: past its head) gets the current state and follows the new
// attempt to its end: it never replays the earlier attempt's outcome.
// It did: reset, then the first attempt's started and partial_success,
// and the stream closed while attempt 2 ran.
func TestResumedStreamOfARetriedTaskFollowsTheNewAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("par-gated")
	e.waitState(info.ID, bgtask.StateSuccess) // partial: b failed
	if code, body := e.do("POST", "/v1/tasks/"+info.ID+"/retry", "", "Content-Type", "application/json"); code != 202 {
		t.Fatalf("retry: %d %s", code, body)
	}
	s := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", "99999999")
	ev := s.nextEvent()
	var got bgtask.TaskInfo
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil || ev.kind != "state" || got.State != bgtask.StateOngoing {
		t.Fatalf("first event %s %s, want the current state (ONGOING)", ev.kind, ev.data)
	}
	if ev.id == "0" {
		t.Fatalf("state sent with id 0: a reconnect would resume from nothing")
	}
	e.step <- struct{}{} // b's second run succeeds
	for range 100 {
		ev := s.nextEvent()
		if ev.kind == "server_close" {
			t.Fatal("server_close before the retried attempt's outcome")
		}
		if ev.kind == "state" {
			continue
		}
		var d bgtask.Event
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatal(err)
		}
		if d.Attempt != 2 {
			t.Fatalf("%s event of attempt %d on the stream of attempt 2: %s", ev.kind, d.Attempt, ev.data)
		}
		if bgtask.EventKind(ev.kind).Terminal() {
			if ev.kind != string(bgtask.EventDone) {
				t.Fatalf("outcome %s, want done (b succeeded on the retry)", ev.kind)
			}
			break
		}
	}
	if ev := s.nextEvent(); ev.kind != "server_close" {
		t.Fatalf("after the outcome: %s, want server_close", ev.kind)
	}
	wantEnd(t, s)
}

// Last-Event-ID 0 is a client that has seen nothing: it gets the state,
// and the stream of a finished task ends. It pinged for ever.
func TestStreamWithLastEventIDZeroEnds(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("quick")
	e.waitState(info.ID, bgtask.StateSuccess)
	s := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", "0")
	if ev := s.nextEvent(); ev.kind != "state" {
		t.Fatalf("first event %s, want state", ev.kind)
	}
	if ev := s.nextEvent(); ev.kind != "server_close" {
		t.Fatalf("after the state: %s, want server_close", ev.kind)
	}
	wantEnd(t, s)
}

package httpapi_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bgtask/bgtask"
)

// notNumbers are Last-Event-ID values that are not an event sequence
// number: the log never gave them.
var notNumbers = []string{
	"garbage",
	"-1",
	"1.5",
	"18446744073709551616", // 2^64
	"99999999999999999999999999",
	"0x10",
	"+7",
	"１", // FULLWIDTH DIGIT ONE
	strings.Repeat("9", 10000),
}

// lastIDRequest is one way of sending a Last-Event-ID.
type lastIDRequest struct {
	name  string
	query string   // appended to the path
	hdr   []string // header name and value
}

// lastIDRequests sends v as the header and as ?last_event_id=.
func lastIDRequests(v string) []lastIDRequest {
	return []lastIDRequest{
		{name: "header " + short(v), hdr: []string{"Last-Event-ID", v}},
		{name: "query " + short(v), query: "?last_event_id=" + url.QueryEscape(v)},
	}
}

// short names v in a subtest's message, cut to 10 bytes when long.
func short(v string) string {
	if len(v) > 30 {
		return strconv.Quote(v[:10]) + "…(" + strconv.Itoa(len(v)) + " bytes)"
	}
	return strconv.Quote(v)
}

// A Last-Event-ID that is not a number (header or query) is served like
// an ID the log did not give: a task stream sends the task's state (with
// an ID to resume from) and follows the task to its outcome, a finished
// task's stream sends its final state and server_close, and the all-tasks
// stream sends a reset whose ID is the log's head, then follows. Fails on
// the old code: every one of them was 400 bad_request (which makes a
// browser's EventSource stop reconnecting).
func TestLastEventIDNotANumberIsAnIDTheLogDidNotGive(t *testing.T) {
	t.Parallel()
	var reqs []lastIDRequest
	for _, v := range notNumbers {
		reqs = append(reqs, lastIDRequests(v)...)
	}
	// HTTP strips the spaces around a header's value, not a query's.
	reqs = append(reqs,
		lastIDRequest{name: `query " 7"`, query: "?last_event_id=%207"},
		lastIDRequest{name: `query "7 "`, query: "?last_event_id=7%20"},
	)
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := setupKind(t, kind, 0)
			finished := e.submit("quick")
			e.waitState(finished.ID, bgtask.StateSuccess)
			running := e.submit("steps")
			e.waitRunning(running.ID)

			// An ONGOING task: its state, then its events to the outcome.
			var streams []*sse
			for _, rq := range reqs {
				s := e.stream("/v1/tasks/"+running.ID+"/events"+rq.query, rq.hdr...)
				ev := s.nextEvent()
				if got := stateOf(t, ev); got.State != bgtask.StateOngoing {
					t.Fatalf("ONGOING task, Last-Event-ID %s: state %s", rq.name, got.State)
				}
				if n, err := strconv.ParseUint(ev.id, 10, 64); err != nil || n == 0 {
					t.Fatalf("ONGOING task, Last-Event-ID %s: state with id %q, want a position to resume from", rq.name, ev.id)
				}
				streams = append(streams, s)
			}
			for range 3 {
				e.step <- struct{}{}
			}
			for i, s := range streams {
				kinds := kindsToClose(s)
				if n := len(kinds); n < 2 || kinds[n-2] != "done" {
					t.Fatalf("ONGOING task, Last-Event-ID %s: %v, want ..., done, server_close", reqs[i].name, kinds)
				}
				wantEnd(t, s)
			}

			// A finished task: its final state, server_close, the end.
			for _, rq := range reqs {
				s := e.stream("/v1/tasks/"+finished.ID+"/events"+rq.query, rq.hdr...)
				if got := stateOf(t, s.nextEvent()); got.State != bgtask.StateSuccess {
					t.Fatalf("finished task, Last-Event-ID %s: state %s, want SUCCESS", rq.name, got.State)
				}
				if ev := s.nextEvent(); ev.kind != "server_close" {
					t.Fatalf("finished task, Last-Event-ID %s: %s after the state, want server_close", rq.name, ev.kind)
				}
				wantEnd(t, s)
			}

			// All tasks: a reset at the log's head, then what comes next.
			page, err := e.m.Store().ReadLog(context.Background(), 0, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			streams = streams[:0]
			resets := map[*sse]uint64{}
			for _, rq := range reqs {
				s := e.stream("/v1/events"+rq.query, rq.hdr...)
				ev := s.nextEvent()
				n, err := strconv.ParseUint(ev.id, 10, 64)
				if ev.kind != "reset" || err != nil || n < page.Head || ev.data != `{"seq":`+ev.id+`}` {
					t.Fatalf("all tasks, Last-Event-ID %s: %s id %q %s, want reset at the log's head (%d or later)", rq.name, ev.kind, ev.id, ev.data, page.Head)
				}
				streams = append(streams, s)
				resets[s] = n
			}
			next := e.submit("quick")
			for i, s := range streams {
				done := false
				for range 100 {
					ev := s.nextEvent()
					if !strings.Contains(ev.data, `"task_id":"`+next.ID+`"`) {
						continue
					}
					if n, err := strconv.ParseUint(ev.id, 10, 64); err != nil || n <= resets[s] {
						t.Fatalf("all tasks, Last-Event-ID %s: %s id %q after the reset at %d", reqs[i].name, ev.kind, ev.id, resets[s])
					}
					if done = ev.kind == "done"; done {
						break
					}
				}
				if !done {
					t.Fatalf("all tasks, Last-Event-ID %s: no done event of the task submitted after the reset", reqs[i].name)
				}
			}
		})
	}
}

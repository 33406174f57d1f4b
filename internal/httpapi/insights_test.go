package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/store/boltstore"
)

func getJSON[T any](e *env, path string) T {
	e.t.Helper()
	status, body := e.do("GET", path, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return v
}

// GET /v1/stats/names counts per name and state; GET /v1/tasks?id_prefix=
// filters by ID prefix with the other filters.
func TestNameCountsAndIDPrefix(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	q1, q2, b := e.submit("quick"), e.submit("quick"), e.submit("boom")
	for _, id := range []string{q1.ID, q2.ID} {
		e.waitState(id, bgtask.StateSuccess)
	}
	e.waitState(b.ID, bgtask.StateFailure)
	got := getJSON[httpapi.NameCountsResponse](e, "/v1/stats/names")
	if got.Names["quick"][bgtask.StateSuccess] != 2 || got.Names["boom"][bgtask.StateFailure] != 1 || len(got.Names) != 2 {
		t.Errorf("name counts: %+v", got.Names)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"id_prefix=" + q2.ID, []string{q2.ID}},
		{"id_prefix=" + q2.ID[:36-1] + "&name=boom", nil},
		{"id_prefix=" + b.ID + "&state=FAILURE&name=boom", []string{b.ID}},
		{"id_prefix=" + strings.ToUpper(q2.ID[:20]), []string{q2.ID}},
		{"id_prefix=ffff", nil},
		{"id_prefix=zz", nil},
	} {
		res := getJSON[bgtask.ListResult](e, "/v1/tasks?"+tc.query)
		var ids []string
		for _, ti := range res.Tasks {
			ids = append(ids, ti.ID)
		}
		if len(ids) != len(tc.want) || len(ids) > 0 && ids[0] != tc.want[0] {
			t.Errorf("GET /v1/tasks?%s: %q, want %q", tc.query, ids, tc.want)
		}
	}
}

// GET /v1/throughput counts the tasks that ended per minute and state,
// including those that ended before the first request (from the log).
func TestThroughput(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	before := e.submit("quick")
	e.waitState(before.ID, bgtask.StateSuccess)
	total := func(res httpapi.ThroughputResponse) (ok, failed int) {
		for _, m := range res.Minutes {
			ok += m.Counts[bgtask.StateSuccess]
			failed += m.Counts[bgtask.StateFailure]
		}
		return ok, failed
	}
	// The log can lag the record by a moment: wait until it holds the end.
	info, err := e.m.Get(t.Context(), before.ID)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(waitFor); ; time.Sleep(time.Millisecond) {
		if p, err := e.m.Store().ReadLog(t.Context(), 0, 1, 0); err == nil && p.Head >= info.EventSeq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log never held the task's end")
		}
	}
	res := getJSON[httpapi.ThroughputResponse](e, "/v1/throughput")
	if len(res.Minutes) != httpapi.ThroughputMinutes {
		t.Fatalf("%d minutes, want %d", len(res.Minutes), httpapi.ThroughputMinutes)
	}
	last := res.Minutes[len(res.Minutes)-1].Start
	if d := time.Since(last); d < 0 || d > 2*time.Minute || !last.Equal(last.Truncate(time.Minute)) {
		t.Errorf("last minute starts at %v", last)
	}
	if !res.Since.Equal(res.Minutes[0].Start) {
		t.Errorf("since %v, want the start of the hour (the log was never trimmed)", res.Since)
	}
	// The first answer already counts what ended before it.
	if ok, failed := total(res); ok != 1 || failed != 0 {
		t.Errorf("first answer: %d succeeded, %d failed; want 1 and 0", ok, failed)
	}
	b := e.submit("boom")
	e.waitState(b.ID, bgtask.StateFailure)
	deadline := time.Now().Add(waitFor)
	for {
		ok, failed := total(getJSON[httpapi.ThroughputResponse](e, "/v1/throughput"))
		if ok == 1 && failed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throughput: %d succeeded, %d failed; want 1 and 1", ok, failed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With a token, the dashboard's page and assets are served without it (so
// that the page can ask for it); nothing else is.
func TestDashboardPageIsPublic(t *testing.T) {
	t.Parallel()
	e := setup(t, "s3cret")
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page " + r.URL.Path)) })
	e.srv.Config.Handler = httpapi.New(httpapi.Config{Manager: e.m, Token: "s3cret", Dashboard: page})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", http.StatusOK},
		{"HEAD", "/", http.StatusOK},
		{"GET", "/assets/app.js", http.StatusOK},
		{"GET", "/v1/tasks", http.StatusUnauthorized},
		{"GET", "/v1/stats/names", http.StatusUnauthorized},
		{"GET", "/v1/throughput", http.StatusUnauthorized},
		{"GET", "/metrics", http.StatusUnauthorized},
		{"GET", "/other", http.StatusUnauthorized},
		{"POST", "/", http.StatusUnauthorized},
	} {
		if status, body := e.do(tc.method, tc.path, ""); status != tc.status {
			t.Errorf("%s %s without the token: %d %s, want %d", tc.method, tc.path, status, body, tc.status)
		}
	}
	// Without a dashboard, / needs the token like everything else.
	e.srv.Config.Handler = httpapi.New(httpapi.Config{Manager: e.m, Token: "s3cret"})
	if status, _ := e.do("GET", "/", ""); status != http.StatusUnauthorized {
		t.Errorf("GET / without a dashboard nor the token: %d, want 401", status)
	}
}

// GET /v1/tasks/{id}/log returns the task's own events from the store's
// log, oldest first, among other tasks' events; a limit keeps the latest;
// a task whose events the log no longer holds is reported incomplete.
func TestTaskLog(t *testing.T) {
	t.Parallel()
	e := setupStore(t, "", &boltstore.Config{LogMaxEvents: 64})
	kinds := func(res httpapi.TaskLogResponse) []string {
		var k []string
		for _, ev := range res.Events {
			k = append(k, string(ev.Kind))
		}
		return k
	}
	noise := func(n int) {
		for range n {
			e.waitState(e.submit("quick").ID, bgtask.StateSuccess)
		}
	}
	noise(5)
	par := e.submit("par")
	e.waitState(par.ID, bgtask.StateSuccess)
	noise(3)
	res := getJSON[httpapi.TaskLogResponse](e, "/v1/tasks/"+par.ID+"/log")
	k := kinds(res)
	if !res.Complete || len(k) < 2 || k[0] != "started" || k[len(k)-1] != "partial_success" {
		t.Fatalf("log of a parallel task: complete %v, kinds %q", res.Complete, k)
	}
	for _, ev := range res.Events {
		if ev.TaskID != par.ID {
			t.Fatalf("another task's event in the log of %s: %+v", par.ID, ev)
		}
	}
	info, err := e.m.Get(t.Context(), par.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventSeq != info.EventSeq || res.Events[len(res.Events)-1].Seq != info.EventSeq {
		t.Errorf("event_seq %d, last event %d, record %d", res.EventSeq, res.Events[len(res.Events)-1].Seq, info.EventSeq)
	}
	one := getJSON[httpapi.TaskLogResponse](e, "/v1/tasks/"+par.ID+"/log?limit=1")
	if one.Complete || len(one.Events) != 1 || one.Events[0].Kind != bgtask.EventPartialSuccess {
		t.Errorf("limit=1: complete %v, kinds %q", one.Complete, kinds(one))
	}
	if status, body := e.do("GET", "/v1/tasks/"+par.ID+"/log?limit=0", ""); status != http.StatusBadRequest {
		t.Errorf("limit=0: %d %s", status, body)
	}
	// Given twice, the list refused it and the log took the first: both
	// refuse it now.
	if status, body := e.do("GET", "/v1/tasks/"+par.ID+"/log?limit=1&limit=2", ""); status != http.StatusBadRequest || !strings.Contains(body, "limit: given 2 times") {
		t.Errorf("limit given twice: %d %s, want 400 limit: given 2 times", status, body)
	}
	if status, _ := e.do("GET", "/v1/tasks/nope/log", ""); status != http.StatusNotFound {
		t.Errorf("log of a missing task: %d", status)
	}
	// Enough other events to trim the target's out of the 64-entry window.
	noise(60)
	res = getJSON[httpapi.TaskLogResponse](e, "/v1/tasks/"+par.ID+"/log")
	if res.Complete || len(res.Events) != 0 {
		t.Errorf("log of a task whose events were trimmed: complete %v, kinds %q", res.Complete, kinds(res))
	}
	// A recent task's log is complete although the log was trimmed.
	q := e.submit("quick")
	e.waitState(q.ID, bgtask.StateSuccess)
	res = getJSON[httpapi.TaskLogResponse](e, "/v1/tasks/"+q.ID+"/log")
	if k := kinds(res); !res.Complete || len(k) != 2 || k[0] != "started" || k[1] != "done" {
		t.Errorf("log of a recent task in a trimmed log: complete %v, kinds %q", res.Complete, k)
	}
}

// Task IDs are lowercase UUIDs: an ID or prefix in capitals finds the
// task (a tester got 404 and an empty page), and an id_prefix of bytes
// that are no text is a 400, as such a name is (it was 200 with nothing).
func TestTaskIDCaseAndBadPrefix(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	q := e.submit("quick")
	e.waitState(q.ID, bgtask.StateSuccess)
	for _, path := range []string{"/v1/tasks/" + strings.ToUpper(q.ID), "/v1/tasks/%7B" + q.ID + "%7D"} {
		if code, body := e.do("GET", path, ""); code != 200 || !strings.Contains(body, q.ID) {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	for _, p := range []string{"%ff", "01a2%00", "%1b%5B2J"} {
		if code, body := e.do("GET", "/v1/tasks?id_prefix="+p, ""); code != 400 || !strings.Contains(body, "id_prefix") {
			t.Errorf("GET /v1/tasks?id_prefix=%s: %d %s, want 400 naming id_prefix", p, code, body)
		}
	}
}

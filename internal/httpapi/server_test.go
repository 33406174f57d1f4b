package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 20 * time.Second

type env struct {
	t    *testing.T
	m    *bgtask.Manager
	api  *httpapi.Server
	srv  *httptest.Server
	step chan struct{}
	// modeOnlyRan is set if the TaskModeOnly task "modeonly" ever runs.
	modeOnlyRan atomic.Bool
}

// setup serves the API of a manager on a fresh embedded store with a few
// tasks: "quick" succeeds, "boom" fails, "steps" waits for e.step between
// progress steps, "par" is parallel with one failing subtask.
func setup(t *testing.T, token string) *env {
	t.Helper()
	return setupStore(t, token, nil)
}

// setupStore is setup with a store configured by sc.
func setupStore(t *testing.T, token string, sc *boltstore.Config) *env {
	t.Helper()
	st, err := boltstore.New(t.TempDir(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return setupOn(t, token, st)
}

// setupOn is setup on st, which it closes at the end of the test.
func setupOn(t *testing.T, token string, st store.Store) *env {
	t.Helper()
	var err error
	e := &env{t: t, step: make(chan struct{})}
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }})
	reg.MustAdd(bgtask.Definition{Name: "boom", Run: func(context.Context, *bgtask.Task) error { return errors.New("boom") }})
	reg.MustAdd(bgtask.Definition{Name: "steps", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(3)
		for i := range 3 {
			select {
			case <-e.step:
			case <-ctx.Done():
				return ctx.Err()
			}
			t.Progress().Add(1, "step "+string(rune('1'+i)))
		}
		return nil
	}})
	reg.MustAdd(bgtask.Definition{
		Name:     "par",
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) { return []string{"a", "b"}, nil },
		RunSubtask: func(_ context.Context, t *bgtask.Task) error {
			if t.SubtaskKey() == "b" && t.Attempt() == 1 {
				return errors.New("b failed")
			}
			return nil
		},
	})
	reg.MustAdd(bgtask.Definition{
		Name:     "par-gated", // as par, but b's retry waits for a step
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) { return []string{"a", "b"}, nil },
		RunSubtask: func(ctx context.Context, t *bgtask.Task) error {
			switch {
			case t.SubtaskKey() != "b":
				return nil
			case t.Attempt() == 1:
				return errors.New("b failed")
			}
			select {
			case <-e.step:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	reg.MustAdd(bgtask.Definition{Name: "modeonly", TaskModeOnly: true, Run: func(context.Context, *bgtask.Task) error {
		e.modeOnlyRan.Store(true)
		return nil
	}})
	e.m, err = bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st, ProgressInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.api = httpapi.New(httpapi.Config{Manager: e.m, Token: token, PingInterval: 20 * time.Millisecond,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics\n") })})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = e.m.Stop(ctx)
		st.Close()
	})
	return e
}

// do sends a request and returns the status and body.
func (e *env) do(method, path, body string, hdr ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) submit(name string) bgtask.TaskInfo {
	e.t.Helper()
	status, body := e.do("POST", "/v1/tasks", `{"name":"`+name+`","args":["x y","--flag"]}`)
	if status != http.StatusCreated {
		e.t.Fatalf("submit %s: %d %s", name, status, body)
	}
	var info bgtask.TaskInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		e.t.Fatal(err)
	}
	return info
}

func (e *env) waitState(id string, st bgtask.State) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if info, err := e.m.Get(context.Background(), id); err == nil && info.State == st {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatalf("task %s never reached %s", id, st)
}

// waitRunning waits until the task's run has started (attempt 1 or more).
// A task is ONGOING from its submission on, queued as well as running:
// waiting for StateOngoing waits for nothing.
func (e *env) waitRunning(id string) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if info, err := e.m.Get(context.Background(), id); err == nil && info.State == bgtask.StateOngoing && info.Attempt > 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatalf("task %s never started", id)
}

func TestSubmitReturnsRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("quick")
	if info.ID == "" || info.Name != "quick" || info.State != bgtask.StateOngoing || strings.Join(info.Args, "|") != "x y|--flag" {
		t.Fatalf("submit answer %+v", info)
	}
	e.waitState(info.ID, bgtask.StateSuccess)
	status, body := e.do("GET", "/v1/tasks/"+info.ID, "")
	for _, field := range []string{`"id"`, `"name"`, `"args"`, `"state":"SUCCESS"`, `"attempt":1`, `"progress":{"current"`, `"created_at"`, `"started_at"`, `"finished_at"`, `"error"`, `"exit_code":0`, `"subtasks"`} {
		if !strings.Contains(body, field) {
			t.Errorf("GET %d: record lacks %s: %s", status, field, body)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	done := e.submit("quick")
	e.waitState(done.ID, bgtask.StateSuccess)
	big := `{"name":"quick","args":["` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"]}`
	for _, tc := range []struct {
		method, path, body string
		hdr                []string
		status             int
		code               string
	}{
		{"POST", "/v1/tasks", `{"name":`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `not json`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", ``, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `{"name":"quick"} {}`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `{"name":"quick","bogus":1}`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `{"name":"quick","args":[1,2]}`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `[]`, nil, 400, "invalid_json"},
		{"POST", "/v1/tasks", `{}`, nil, 400, "bad_request"},
		{"POST", "/v1/tasks", `{"name":"nope"}`, nil, 404, "unknown_task"},
		{"POST", "/v1/tasks", `{"name":"../../etc/passwd"}`, nil, 404, "unknown_task"},
		{"POST", "/v1/tasks", `{"name":"quick","priority":"urgent"}`, nil, 400, "bad_request"},
		{"POST", "/v1/tasks", `{"name":"quick","timeout":"soon"}`, nil, 400, "bad_request"},
		{"POST", "/v1/tasks", `{"name":"quick","timeout":"-5s"}`, nil, 400, "bad_request"},
		// "0" used to be stored as no timeout (the default applied, the
		// record said nothing): every run has a timeout.
		{"POST", "/v1/tasks", `{"name":"quick","timeout":"0"}`, nil, 400, "bad_request"},
		{"POST", "/v1/tasks", `{"name":"quick","timeout":"0s"}`, nil, 400, "bad_request"},
		{"POST", "/v1/tasks", big, nil, 413, "body_too_large"},
		{"POST", "/v1/tasks", strings.Repeat("x", httpapi.MaxBodyBytes+10), nil, 413, "body_too_large"},
		{"GET", "/v1/tasks/nope", "", nil, 404, "not_found"},
		{"GET", "/v1/tasks?state=DONE", "", nil, 400, "bad_request"},
		{"GET", "/v1/tasks?limit=0", "", nil, 400, "bad_request"},
		{"GET", "/v1/tasks?limit=abc", "", nil, 400, "bad_request"},
		{"GET", "/v1/tasks?limit=5000", "", nil, 400, "bad_request"},
		{"POST", "/v1/tasks/nope/cancel", "", nil, 404, "not_found"},
		{"POST", "/v1/tasks/" + done.ID + "/cancel", "", nil, 409, "finished"},
		{"POST", "/v1/tasks/nope/retry", "", nil, 404, "not_found"},
		{"POST", "/v1/tasks/" + done.ID + "/retry", "", nil, 409, "nothing_to_retry"},
		{"GET", "/v1/tasks/nope/events", "", nil, 404, "not_found"},
		{"DELETE", "/v1/tasks", "", nil, 405, "method_not_allowed"},
		{"PUT", "/v1/tasks/" + done.ID, "", nil, 405, "method_not_allowed"},
		{"GET", "/v2/anything", "", nil, 404, "not_found"},
	} {
		status, body := e.do(tc.method, tc.path, tc.body, tc.hdr...)
		var eb httpapi.ErrorBody
		if err := json.Unmarshal([]byte(body), &eb); err != nil || status != tc.status || eb.Error.Code != tc.code || eb.Error.Message == "" {
			t.Errorf("%s %s %.40q: %d %s, want %d with code %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.code)
		}
	}
	// nothing was stored by the rejected submissions
	res, err := e.m.List(context.Background(), nil)
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("%d records after bad input, want 1", len(res.Tasks))
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	e := setup(t, "s3cret")
	for _, tc := range []struct {
		path   string
		hdr    []string
		status int
	}{
		{"/healthz", nil, 200},
		{"/v1/tasks", nil, 401},
		{"/v1/tasks", []string{"Authorization", "Bearer wrong"}, 401},
		{"/v1/tasks", []string{"Authorization", "s3cret"}, 401},
		{"/metrics", nil, 401},
		{"/v1/events", nil, 401},
		{"/v1/tasks", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/metrics", []string{"Authorization", "Bearer s3cret"}, 200},
		// The query token is for EventSource and the dashboard only.
		{"/v1/tasks?access_token=s3cret", nil, 401},
		{"/metrics?access_token=s3cret", nil, 401},
		// The scheme is case-insensitive (RFC 9110 §11.1).
		{"/v1/tasks", []string{"Authorization", "bearer s3cret"}, 200},
		{"/v1/tasks", []string{"Authorization", "BEARER s3cret"}, 200},
	} {
		if status, body := e.do("GET", tc.path, "", tc.hdr...); status != tc.status {
			t.Errorf("GET %s %v: %d %s, want %d", tc.path, tc.hdr, status, body, tc.status)
		}
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	var ids []string
	for range 5 {
		ids = append(ids, e.submit("quick").ID)
	}
	var got []string
	cursor := ""
	for range 10 {
		_, body := e.do("GET", "/v1/tasks?name=quick&limit=2&cursor="+cursor, "")
		var res bgtask.ListResult
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatal(err)
		}
		for _, info := range res.Tasks {
			got = append(got, info.ID)
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	if len(got) != 5 || got[0] != ids[4] || got[4] != ids[0] {
		t.Fatalf("paged IDs %v, want %v newest first", got, ids)
	}
}

// sse reads a server-sent event stream.
type sse struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

type sseEvent struct{ kind, id, data string }

func (e *env) stream(path string, hdr ...string) *sse {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{t: e.t, resp: resp, sc: bufio.NewScanner(resp.Body)}
	e.t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next event; comments are returned as kind ":".
func (s *sse) next() (sseEvent, bool) {
	var ev sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if ev.kind != "" {
				return ev, true
			}
		case strings.HasPrefix(line, ":"):
			return sseEvent{kind: ":", data: line}, true
		case strings.HasPrefix(line, "event: "):
			ev.kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return ev, false
}

// nextEvent skips ping comments.
func (s *sse) nextEvent() sseEvent {
	s.t.Helper()
	for range 1000 {
		ev, ok := s.next()
		if !ok {
			s.t.Fatal("stream ended")
		}
		if ev.kind != ":" {
			return ev
		}
	}
	s.t.Fatal("only pings")
	return sseEvent{}
}

func TestTaskStreamStateThenEventsThenClose(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("steps")
	s := e.stream("/v1/tasks/" + info.ID + "/events")
	first := s.nextEvent()
	if first.kind != "state" || !strings.Contains(first.data, `"id":"`+info.ID+`"`) {
		t.Fatalf("first event %+v, want the task's state", first)
	}
	var kinds []string
	var lastID string
	for range 3 {
		e.step <- struct{}{}
	}
	for {
		ev := s.nextEvent()
		kinds = append(kinds, ev.kind)
		if ev.id != "" {
			lastID = ev.id
		}
		if ev.kind == "server_close" {
			if ev.data != "{}" {
				t.Fatalf("server_close data %q", ev.data)
			}
			break
		}
	}
	if n := len(kinds); n < 3 || kinds[n-2] != "done" || kinds[n-1] != "server_close" {
		t.Fatalf("events %v: want ... done, server_close", kinds)
	}
	if _, ok := s.next(); ok {
		t.Fatal("stream did not end after server_close")
	}
	// a finished task's stream sends its state, then closes
	s2 := e.stream("/v1/tasks/" + info.ID + "/events")
	if ev := s2.nextEvent(); ev.kind != "state" || !strings.Contains(ev.data, `"state":"SUCCESS"`) {
		t.Fatalf("finished stream first event %+v", ev)
	}
	if ev := s2.nextEvent(); ev.kind != "server_close" {
		t.Fatalf("finished stream second event %+v", ev)
	}
	// resuming after the last event replays nothing and closes
	s3 := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", lastID)
	if ev := s3.nextEvent(); ev.kind != "server_close" {
		t.Fatalf("resumed stream after the end: %+v, want server_close", ev)
	}
}

func TestTaskStreamResumesWithoutLoss(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("steps")
	s := e.stream("/v1/tasks/" + info.ID + "/events")
	s.nextEvent() // state
	e.step <- struct{}{}
	var seen sseEvent
	for seen.kind != "updated" || !strings.Contains(seen.data, `"current":1`) {
		seen = s.nextEvent()
	}
	s.resp.Body.Close() // the client drops the connection
	e.step <- struct{}{}
	e.step <- struct{}{}
	e.waitState(info.ID, bgtask.StateSuccess)
	s2 := e.stream("/v1/tasks/"+info.ID+"/events", "Last-Event-ID", seen.id)
	var got []string
	var last bgtask.Event
	for {
		ev := s2.nextEvent()
		got = append(got, ev.kind)
		if ev.kind == "server_close" {
			break
		}
		if ev.kind == "state" {
			t.Fatalf("resume sent the state instead of the missed events: %v", got)
		}
		if seqOf(t, ev.id) <= seqOf(t, seen.id) {
			t.Fatalf("replayed event %s is not after the last one seen (%s)", ev.id, seen.id)
		}
		if err := json.Unmarshal([]byte(ev.data), &last); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(got); n < 3 || got[0] != "updated" || got[n-2] != "done" || got[n-1] != "server_close" {
		t.Fatalf("resumed events %v, want updated..., done, server_close", got)
	}
	if last.Progress.Current != 3 || last.Message != "step 3" {
		t.Fatalf("last replayed event %+v, want the final progress 3/3", last)
	}
}

func TestStreamPingsAndReleasesOnDisconnect(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("steps")
	s := e.stream("/v1/tasks/" + info.ID + "/events")
	all := e.stream("/v1/events")
	for _, st := range []*sse{s, all} {
		for {
			ev, ok := st.next()
			if !ok {
				t.Fatal("stream ended before a ping")
			}
			if ev.kind == ":" && ev.data == ": ping" {
				break
			}
		}
	}
	if n := e.api.Streams(); n != 2 {
		t.Fatalf("%d open streams, want 2", n)
	}
	s.resp.Body.Close()
	all.resp.Body.Close()
	deadline := time.Now().Add(waitFor)
	for e.api.Streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still open after the clients left", e.api.Streams())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 3 {
		e.step <- struct{}{}
	}
}

func TestAllEventsStream(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	s := e.stream("/v1/events")
	a := e.submit("quick")
	b := e.submit("boom")
	ends := map[string]string{}
	for len(ends) < 2 {
		ev := s.nextEvent()
		var data bgtask.Event
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			t.Fatal(err)
		}
		if ev.id == "" {
			t.Fatalf("event without id: %+v", ev)
		}
		if data.Kind.Terminal() {
			ends[data.TaskID] = string(data.Kind)
		}
	}
	if ends[a.ID] != "done" || ends[b.ID] != "failed" {
		t.Fatalf("terminal events %v", ends)
	}
}

func TestCancelAndRetryOverHTTP(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	info := e.submit("steps")
	if status, body := e.do("POST", "/v1/tasks/"+info.ID+"/cancel", ""); status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", status, body)
	}
	e.waitState(info.ID, bgtask.StateCancelled)
	par := e.submit("par")
	e.waitState(par.ID, bgtask.StateSuccess)
	if status, body := e.do("POST", "/v1/tasks/"+par.ID+"/retry", ""); status != http.StatusAccepted || !strings.Contains(body, `"state":"ONGOING"`) {
		t.Fatalf("retry: %d %s", status, body)
	}
	e.waitState(par.ID, bgtask.StateSuccess)
	if status, _ := e.do("POST", "/v1/tasks/"+par.ID+"/retry", ""); status != http.StatusConflict {
		t.Fatalf("second retry: %d, want 409", status)
	}
}

// A store that goes away answers 503 and crashes nothing; what was
// accepted before is still there when it comes back.
func TestStoreGoneIsUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := boltstore.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }})
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Manager: m}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(`{"name":"quick"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %v %v", resp.StatusCode, err)
	}
	var info bgtask.TaskInfo
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	st.Close()
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/v1/tasks", `{"name":"quick"}`},
		{"GET", "/v1/tasks/" + info.ID, ""},
		{"GET", "/v1/tasks", ""},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"store_unavailable"`) {
			t.Errorf("%s %s with the store closed: %d %s, want 503 store_unavailable", req.method, req.path, resp.StatusCode, b)
		}
	}
	st2, err := boltstore.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if rec, err := st2.Get(context.Background(), info.ID); err != nil || rec.Name != "quick" {
		t.Fatalf("accepted task after the store came back: %+v, %v", rec, err)
	}
}

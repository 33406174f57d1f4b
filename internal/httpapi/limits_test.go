package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// A list page is bounded in bytes as well as rows: tasks with 1 MiB of
// arguments each, asked for with limit=1000, come a few per page, each
// page within MaxPageBytes plus one task, next_cursor leading through all
// of them once. Fails on the old code: one page held every task (300
// such tasks: 315 MB in one answer, 1.7 GB of RSS).
func TestListPageBoundedInBytes(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	const n = 12
	arg := strings.Repeat("x", bgtask.MaxArgsBytes-64)
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "quick", Args: []string{arg}}
	}
	ids, err := e.m.SubmitMany(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		path := "/v1/tasks?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		status, body := e.do("GET", path, "")
		if status != 200 {
			t.Fatalf("GET %s: %d %.200s", path, status, body)
		}
		pages++
		if len(body) > httpapi.MaxPageBytes+bgtask.MaxArgsBytes+4096 {
			t.Errorf("page %d: %d bytes, want at most MaxPageBytes (%d) and one task", pages, len(body), httpapi.MaxPageBytes)
		}
		var res bgtask.ListResult
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(res.Tasks) == 0 && res.NextCursor != "" {
			t.Fatalf("page %d: empty with a next cursor", pages)
		}
		for _, task := range res.Tasks {
			if seen[task.ID] || len(task.Args) != 1 || task.Args[0] != arg {
				t.Fatalf("page %d: task %s twice or with other args", pages, task.ID)
			}
			seen[task.ID] = true
		}
		if cursor = res.NextCursor; cursor == "" || pages > n {
			break
		}
	}
	if len(seen) != n || pages < 3 {
		t.Fatalf("%d tasks in %d pages, want all %d in at least 3 pages", len(seen), pages, n)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("task %s never listed", id)
		}
	}
}

// Small tasks still come limit per page.
func TestListLimitRows(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	params := make([]bgtask.SubmitParams, 30)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "quick"}
	}
	if _, err := e.m.SubmitMany(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	var got []int
	cursor := ""
	for range 10 {
		_, body := e.do("GET", "/v1/tasks?limit=13&cursor="+cursor, "")
		var res bgtask.ListResult
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		got = append(got, len(res.Tasks))
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	if len(got) != 3 || got[0] != 13 || got[1] != 13 || got[2] != 4 {
		t.Fatalf("page sizes %v, want [13 13 4]", got)
	}
}

// Query parameters are checked: a malformed cursor is 400, not a page.
func TestListBadQuery(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	e.submit("quick")
	for _, q := range []string{
		"cursor=zzz", "cursor=%00", "cursor=01A22C93-E232-733E-B486-C7F5C374FE3B", "cursor=" + strings.Repeat("f", 5000),
		"limit=1&limit=1000", "state=SUCCESS&state=FAILURE", "name=../../etc", "name=" + strings.Repeat("a", 65),
		"limit=-1", "limit=1e3", "state=success%20",
	} {
		status, body := e.do("GET", "/v1/tasks?"+q, "")
		wantCode(t, "GET /v1/tasks?"+q, status, body, 400, "bad_request")
	}
}

// The JSON decoder is strict. Fails on the old code: "NAME" and "Args"
// matched, the last of two "name"s won, null in args became "", invalid
// UTF-8 became U+FFFD.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	running := e.submit("steps")
	before := e.stored()
	for _, body := range []string{
		`{"NAME":"quick"}`,
		`{"name":"quick","Args":["a"]}`,
		`{"Name":"quick"}`,
		`{"name":"quick","name":"boom"}`,
		`{"name":"quick","na\u006de":"boom"}`,
		`{"name":"quick","args":["a",null]}`,
		`{"name":"quick","args":null}`,
		`{"name":null}`,
		`{"name":"quick","priority":null}`,
		`{"name":"quick","args":"a"}`,
		`{"name":"quick","args":[["a"]]}`,
		`{"name":"quick","args":[{}]}`,
		`{"name":"quick","args":[true]}`,
		"{\"name\":\"quick\",\"args\":[\"\xff\xfe\"]}",
		"{\"name\":\"quick\",\"args\":[\"a\xc3\"]}",
		`{"name":"quick","args":["\ud800"]}`,
		`{"name":"quick","args":["\udc00x"]}`,
		`{"name":"quick","args":["\ud800\u0041"]}`,
		`{"name":"quick"}garbage`,
		`{"name":"quick",}`,
		`"quick"`,
		`null`,
	} {
		status, rb := e.do("POST", "/v1/tasks", body)
		wantCode(t, "POST "+body, status, rb, 400, "invalid_json")
	}
	if n := e.stored(); n != before {
		t.Fatalf("%d tasks stored after refused bodies, want %d", n, before)
	}
	// What is valid still is.
	status, rb := e.do("POST", "/v1/tasks", `{"name":"quick","args":["\ud83d\ude00","\\ud800","\u00e9",""],"priority":"normal"}`)
	if status != 201 || !strings.Contains(rb, `"args":["😀","\\ud800","é",""]`) {
		t.Errorf("valid escapes: %d %s", status, rb)
	}
	// Cancel and retry take no body or {}.
	status, rb = e.do("POST", "/v1/tasks/"+running.ID+"/cancel", `{"force":true}`)
	wantCode(t, "cancel with a field", status, rb, 400, "invalid_json")
	if status, rb := e.do("POST", "/v1/tasks/"+running.ID+"/cancel", `{}`); status != 202 {
		t.Errorf("cancel with {}: %d %s", status, rb)
	}
}

// Reusing an idempotency key for another task is 409 naming the task
// that holds it.
func TestIdempotencyConflictOverHTTP(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	status, body := e.do("POST", "/v1/tasks", `{"name":"quick","args":["a"],"idempotency_key":"k"}`)
	var first bgtask.TaskInfo
	if status != 201 || json.Unmarshal([]byte(body), &first) != nil {
		t.Fatalf("first submit: %d %s", status, body)
	}
	if status, body := e.do("POST", "/v1/tasks", `{"name":"quick","args":["a"],"idempotency_key":"k"}`); status != 201 || !strings.Contains(body, first.ID) {
		t.Errorf("same submission again: %d %s", status, body)
	}
	for _, req := range []string{`{"name":"boom","args":["a"],"idempotency_key":"k"}`, `{"name":"quick","args":["b"],"idempotency_key":"k"}`} {
		status, body := e.do("POST", "/v1/tasks", req)
		wantCode(t, req, status, body, 409, "idempotency_conflict")
		if !strings.Contains(body, first.ID) {
			t.Errorf("%s: the error does not name %s: %s", req, first.ID, body)
		}
	}
}

// A body over 1 MiB always gets its 413, whether its length is announced
// or not, even for a client that sends its whole body before it reads:
// the server reads (up to 8 MiB of) the rest before closing, so the client
// is not reset while it sends. Fails on the old code with a broken pipe or
// "connection reset by peer" instead of the 413 (with 6 MiB here; loopback
// buffers hide it at 2 MiB, which a slower network does not).
func TestBodyOverLimitAlways413(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	body := bytes.Repeat([]byte("x"), 6<<20)
	chunked := []byte(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body))
	for _, tc := range []struct {
		what, hdr string
		body      []byte
	}{
		{"Content-Length", "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)), body},
		{"chunked", "Content-Type: application/json\r\nTransfer-Encoding: chunked", chunked},
		{"refused text/plain", "Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)), body},
	} {
		for i := range 3 {
			c, br := rawConn(t, addr)
			req := append([]byte("POST /v1/tasks HTTP/1.1\r\nHost: "+addr+"\r\n"+tc.hdr+"\r\n\r\n"), tc.body...)
			if _, err := c.Write(req); err != nil {
				t.Fatalf("%s, attempt %d: sending the body: %v", tc.what, i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s, attempt %d: %v, want a 413", tc.what, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 413 && resp.StatusCode != 415 || !resp.Close {
				t.Fatalf("%s, attempt %d: %d %v %s", tc.what, i, resp.StatusCode, resp.Header, b)
			}
		}
	}
	if n := e.stored(); n != 0 {
		t.Fatalf("%d tasks stored", n)
	}
}

// rawConn is a client connection that writes bytes as given.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitFor))
	return c, bufio.NewReader(c)
}

// HEAD on a stream route answers with the stream's headers and ends; a
// request pipelined after it is answered. Fails on the old code: the HEAD
// never ended (curl -I hung) and the next request got nothing.
func TestHeadOnStreamsEnds(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	task := e.submit("steps")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, path := range []string{"/v1/events", "/v1/tasks/" + task.ID + "/events"} {
		c, br := rawConn(t, addr)
		_, err := io.WriteString(c, "HEAD "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
		if err != nil {
			t.Fatalf("HEAD %s: %v", path, err)
		}
		head.Body.Close()
		if head.StatusCode != 200 || head.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("HEAD %s: %d %q", path, head.StatusCode, head.Header.Get("Content-Type"))
		}
		next, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("request pipelined after HEAD %s: %v", path, err)
		}
		b, _ := io.ReadAll(next.Body)
		if next.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
			t.Errorf("request pipelined after HEAD %s: %d %s", path, next.StatusCode, b)
		}
	}
	close(e.step)
}

// LimitListener serves at most n connections at once: the next one is
// answered once one of them closes.
func TestLimitListener(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.api.HTTPServer(e.api, nil)
	go func() { _ = srv.Serve(httpapi.LimitListener(ln, 2)) }()
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	get := "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	var held []net.Conn
	for range 2 {
		c, br := rawConn(t, addr)
		io.WriteString(c, get)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection within the cap: %v", err)
		}
		held = append(held, c) // kept alive, idle
	}
	c, br := rawConn(t, addr)
	io.WriteString(c, get)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.Peek(1); err == nil {
		t.Fatalf("a third connection was served with a cap of 2")
	}
	held[0].Close()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the third connection once one closed: %v", err)
	}
}

// Shutdown does not wait for a client that sent half a body: the read is
// cut, the client gets 503, and Shutdown returns. Fails on the old code:
// the stop waited out its whole grace (30 s in bgtask serve).
func TestShutdownCutsHalfSentBody(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.api.HTTPServer(e.api, nil)
	go func() { _ = srv.Serve(ln) }()
	addr := ln.Addr().String()
	c, br := rawConn(t, addr)
	io.WriteString(c, "POST /v1/tasks HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
	// 100 Continue: the handler is reading the body.
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "100") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, `{"name":"qu`)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(ctx) }()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("half-sent body at shutdown: %v, want a 503", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 {
		t.Errorf("half-sent body at shutdown: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v (it waited for the half-sent body)", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Shutdown took the whole grace")
	}
}

// A client that hung up is not a server error: nothing is logged at error
// level. Fails on the old code: the store call's context.Canceled was a
// 500 and logged as "request failed".
func TestClientGoneNotLogged(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	task := e.submit("quick")
	var logs bytes.Buffer
	api := httpapi.New(httpapi.Config{Manager: e.m, Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone before the handler reads the store
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "http://127.0.0.1/v1/tasks/"+task.ID, nil),
		httptest.NewRequest("GET", "http://127.0.0.1/v1/tasks", nil),
		httptest.NewRequest("GET", "http://127.0.0.1/v1/stats", nil),
	} {
		r.Header.Set("Content-Type", "application/json")
		api.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a client that hung up was logged as an error:\n%s", logs.String())
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// An event stream outlives the server's read and write timeouts: it lifts
// the read deadline once its request is read and renews the write deadline
// at every write (else every write after WriteTimeout fails). Here both
// are 100 ms and the stream must keep bringing pings (every 20 ms) for ten
// times that.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.api.HTTPServer(e.api, nil)
	srv.ReadTimeout = 100 * time.Millisecond
	srv.WriteTimeout = 100 * time.Millisecond
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := &sse{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
	deadline := time.Now().Add(10 * srv.ReadTimeout)
	for time.Now().Before(deadline) {
		if ev, ok := s.next(); !ok || ev.kind != ":" {
			t.Fatalf("the stream ended or broke %v after it began (timeouts %v): %+v %v",
				10*srv.ReadTimeout-time.Until(deadline), srv.ReadTimeout, ev, ok)
		}
	}
}

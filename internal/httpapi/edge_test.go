package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/dashboard"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// A body that stops arriving gets 408 request_timeout (JSON, Connection:
// close) when the server's ReadTimeout ends its read, on every route that
// reads a body. Fails on the old code: net/http cancels the request's
// context when the body read fails, writeError took that for "client gone"
// and wrote nothing, and net/http answered "200 OK" with an empty body.
func TestHalfSentBodyGets408(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.api.HTTPServer(e.api, nil)
	srv.ReadTimeout = 300 * time.Millisecond
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	task := e.submit("quick")
	for _, tc := range []struct{ path, hdr, part string }{
		{"/v1/tasks", "Content-Length: 40000", `{"name":`},
		{"/v1/tasks", "Transfer-Encoding: chunked", "8\r\n{\"name\":\r\n"},
		{"/v1/tasks/" + task.ID + "/cancel", "Content-Length: 100", `{`},
		{"/v1/tasks/" + task.ID + "/retry", "Content-Length: 100", ``},
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(waitFor))
		_, err = io.WriteString(conn, "POST "+tc.path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+tc.hdr+"\r\n\r\n"+tc.part)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s (%s): %v", tc.path, tc.hdr, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		var eb httpapi.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if resp.StatusCode != http.StatusRequestTimeout || eb.Error.Code != httpapi.CodeRequestTimeout ||
			!strings.Contains(eb.Error.Message, srv.ReadTimeout.String()) || !resp.Close {
			t.Errorf("POST %s (%s) stopped mid-body: %d close=%v %q, want 408 request_timeout naming %v, Connection: close",
				tc.path, tc.hdr, resp.StatusCode, resp.Close, body, srv.ReadTimeout)
		}
	}
	if status, body := e.do("GET", "/v1/tasks", ""); status != 200 || strings.Count(body, `"id"`) != 1 {
		t.Errorf("tasks after the cut submissions: %d %s, want only the one submitted whole", status, body)
	}
}

// Error messages quote user-supplied values cut to a bounded length, on
// every route and check that quotes one. Fails on the old code: a 100,000
// byte task name came back whole in the unknown_task message (and so did
// cursors, IDs, header values, paths...).
func TestErrorsEchoBoundedInput(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	long := strings.Repeat("a", 100000)
	for _, tc := range []struct {
		method, path, body string
		hdr                []string
		status             int
	}{
		{"POST", "/v1/tasks", `{"name":"` + long + `"}`, nil, 404},
		{"POST", "/v1/tasks", `{"` + long + `":1}`, nil, 400},
		{"POST", "/v1/tasks", `{"name":"quick","priority":"` + long + `"}`, nil, 400},
		{"POST", "/v1/tasks", `{"name":"quick","timeout":"` + long + `"}`, nil, 400},
		{"POST", "/v1/tasks", `{"name":"quick","name":"` + long + `"}`, nil, 400},
		{"POST", "/v1/tasks/" + long + "/cancel", "", nil, 404},
		{"POST", "/v1/tasks", `{"name":"quick"}`, []string{"Origin", "http://" + long}, 403},
		{"POST", "/v1/tasks", `{"name":"quick"}`, []string{"Content-Type", "text/" + long}, 415},
		{"GET", "/v1/tasks/" + long, "", nil, 404},
		{"GET", "/v1/tasks/" + long + "/log?limit=" + long, "", nil, 400},
		{"GET", "/v1/tasks?cursor=" + long, "", nil, 400},
		{"GET", "/v1/tasks?name=" + long + "%00", "", nil, 400},
		{"GET", "/v1/tasks?state=" + long, "", nil, 400},
		{"GET", "/v1/tasks?limit=" + long, "", nil, 400},
		{"GET", "/" + long, "", nil, 404},
		{"PUT", "/v1/tasks?" + long, "", nil, 405},
	} {
		status, body := e.do(tc.method, tc.path, tc.body, tc.hdr...)
		if status != tc.status || len(body) > 1200 {
			t.Errorf("%s %.40s… (%d bytes) %.40s…: %d, %d-byte answer %.300s…, want %d with a bounded message",
				tc.method, tc.path, len(tc.path), tc.body, status, len(body), body, tc.status)
		}
	}
}

// 404 and 405 tell the truth: an unknown path is 404 whatever the method
// (not 405 "Allow: GET, HEAD" because the dashboard serves GET /), and
// the Allow of a 405 lists only methods the path serves. Fails on the old
// code: OPTIONS /nonexistent was 405, and Allow on .../cancel listed GET
// and HEAD, which answered 404.
func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	e.srv.Config.Handler = httpapi.New(httpapi.Config{Manager: e.m, Dashboard: dashboard.Handler()})
	task := e.submit("quick")
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/", 200, ""},
		{"HEAD", "/", 200, ""},
		{"GET", "/assets/app.js", 200, ""},
		{"POST", "/", 405, "GET, HEAD"},
		{"OPTIONS", "/", 405, "GET, HEAD"},
		{"GET", "/nonexistent", 404, ""},
		{"OPTIONS", "/nonexistent", 404, ""},
		{"PUT", "/favicon.ico", 404, ""},
		{"DELETE", "/nonexistent", 404, ""},
		{"POST", "/assets/nothing.js", 405, "GET, HEAD"},
		{"GET", "/assets/nothing.js", 404, ""},
		{"GET", "/v1/tasks/" + task.ID + "/cancel", 405, "POST"},
		{"HEAD", "/v1/tasks/" + task.ID + "/retry", 405, "POST"},
		{"OPTIONS", "/v1/tasks/" + task.ID + "/cancel", 405, "POST"},
		{"DELETE", "/v1/tasks/" + task.ID, 405, "GET, HEAD"},
		{"PUT", "/v1/tasks", 405, "GET, HEAD, POST"},
	} {
		req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q %.200s, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body, tc.status, tc.allow)
		}
		if tc.status >= 400 && tc.method != "HEAD" && !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: Content-Type %q, want a JSON error", tc.method, tc.path, resp.Header.Get("Content-Type"))
		}
	}
}

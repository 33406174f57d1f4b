package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// wantCode checks a JSON error answer.
func wantCode(t *testing.T, what string, status int, body string, wantStatus int, wantCode string) {
	t.Helper()
	var eb httpapi.ErrorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil || status != wantStatus || eb.Error.Code != wantCode || eb.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d with code %q", what, status, body, wantStatus, wantCode)
	}
}

// stored returns how many tasks the store holds.
func (e *env) stored() int {
	e.t.Helper()
	res, err := e.m.List(context.Background(), &bgtask.ListOpts{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(res.Tasks)
}

// Without a token, only loopback Host values are served, reads included:
// a DNS-rebinding page (its own name resolving to 127.0.0.1) reads nothing.
func TestHostCheckWithoutToken(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"evil.example:8080", 403},
		{"evil.example", 403},
		{"127.0.0.1.nip.io:8080", 403},
		{"localhost.evil.example", 403},
		{"10.0.0.1:8080", 403},
		{"localhost:8080", 200},
		{"LOCALHOST", 200},
		{"127.0.0.1:8080", 200},
		{"127.1.2.3", 200},
		{"[::1]:8080", 200},
		{"[::1]", 200},
	} {
		for _, path := range []string{"/v1/tasks", "/healthz", "/v1/definitions"} {
			req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("GET %s with Host %q: %d, want %d", path, tc.host, resp.StatusCode, tc.status)
			}
		}
	}
	// The refusal comes before anything runs: a write is refused too.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tasks", strings.NewReader(`{"name":"quick"}`))
	req.Host = "evil.example:8080"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example:8080")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || e.stored() != 0 {
		t.Errorf("rebinding write: %d, %d tasks stored", resp.StatusCode, e.stored())
	}
}

// With a token, any Host is served to who holds it (a server behind a
// proxy or on a LAN address).
func TestHostAnyWithToken(t *testing.T) {
	t.Parallel()
	e := setup(t, "0123456789abcdef")
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tasks", nil)
	req.Host = "bgtask.internal.example:8080"
	req.Header.Set("Authorization", "Bearer 0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET with a token and Host %q: %d", req.Host, resp.StatusCode)
	}
}

// A write needs Content-Type: application/json and must not come from a
// page of another origin. Fails on the old code: a text/plain POST (what a
// no-cors fetch or a <form enctype="text/plain"> sends) submitted the task.
func TestCrossSiteWritesRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	running := e.submit("steps")
	before := e.stored()
	submit := `{"name":"quick","args":[]}`
	self := e.srv.URL // http://127.0.0.1:PORT: the server's own origin
	for _, tc := range []struct {
		what   string
		method string
		path   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"text/plain submit (no-cors fetch, text/plain form)", "POST", "/v1/tasks", submit,
			[]string{"Content-Type", "text/plain;charset=UTF-8"}, 415, "unsupported_media_type"},
		{"form-urlencoded submit", "POST", "/v1/tasks", submit,
			[]string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"multipart submit", "POST", "/v1/tasks", submit,
			[]string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"},
		{"no content type", "POST", "/v1/tasks", submit, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"json-ish suffix", "POST", "/v1/tasks", submit, []string{"Content-Type", "application/jsonx"}, 415, "unsupported_media_type"},
		{"bodiless cancel without content type", "POST", "/v1/tasks/" + running.ID + "/cancel", "",
			[]string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"cross-site fetch", "POST", "/v1/tasks", submit,
			[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403, "cross_origin"},
		{"another port of the same host (same-site)", "POST", "/v1/tasks", submit,
			[]string{"Sec-Fetch-Site", "same-site", "Origin", "http://127.0.0.1:1"}, 403, "cross_origin"},
		{"foreign Origin, old browser", "POST", "/v1/tasks", submit, []string{"Origin", "http://127.0.0.1:1"}, 403, "cross_origin"},
		{"Origin null", "POST", "/v1/tasks", submit, []string{"Origin", "null"}, 403, "cross_origin"},
		{"cross-site cancel", "POST", "/v1/tasks/" + running.ID + "/cancel", "",
			[]string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"cross-site retry", "POST", "/v1/tasks/" + running.ID + "/retry", "",
			[]string{"Origin", "http://localhost:1"}, 403, "cross_origin"},
	} {
		status, body := e.do(tc.method, tc.path, tc.body, tc.hdr...)
		wantCode(t, tc.what, status, body, tc.status, tc.code)
	}
	if n := e.stored(); n != before {
		t.Errorf("%d tasks stored after refused writes, want %d", n, before)
	}
	if info, _ := e.m.Get(context.Background(), running.ID); info.CancelRequested {
		t.Errorf("a refused cancel cancelled the task")
	}
	// The server's own pages, and programs, still write.
	for _, hdr := range [][]string{
		nil, // curl, the CLI: no Origin, no Sec-Fetch-Site
		{"Sec-Fetch-Site", "same-origin", "Origin", self},
		{"Origin", self},
		{"Content-Type", "application/json; charset=utf-8"},
	} {
		if status, body := e.do("POST", "/v1/tasks", submit, hdr...); status != 201 {
			t.Errorf("same-origin submit %v: %d %s", hdr, status, body)
		}
	}
	close(e.step)
}

// The query token is accepted where browsers cannot send headers (event
// streams, dashboard), never on a write.
func TestQueryTokenOnlyOnStreams(t *testing.T) {
	t.Parallel()
	e := setup(t, "0123456789abcdef")
	status, body := e.do("POST", "/v1/tasks?access_token=0123456789abcdef", `{"name":"quick"}`)
	wantCode(t, "POST with ?access_token=", status, body, 401, "unauthorized")
	if n := e.stored(); n != 0 {
		t.Errorf("%d tasks stored", n)
	}
	s := e.stream("/v1/events?access_token=0123456789abcdef")
	s.resp.Body.Close()
}

// A TaskModeOnly definition is neither listed nor accepted, and never runs.
func TestTaskModeOnlyNotSubmittable(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	status, body := e.do("POST", "/v1/tasks", `{"name":"modeonly","args":["x"]}`)
	wantCode(t, "submit of a TaskModeOnly task", status, body, 403, "not_submittable")
	if n := e.stored(); n != 0 || e.modeOnlyRan.Load() {
		t.Errorf("%d tasks stored, ran: %v", n, e.modeOnlyRan.Load())
	}
	if _, body := e.do("GET", "/v1/definitions", ""); strings.Contains(body, "modeonly") || !strings.Contains(body, `"quick"`) {
		t.Errorf("definitions: %s", body)
	}
}

// Every JSON answer says nosniff.
func TestNosniff(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	for _, path := range []string{"/v1/tasks", "/v1/nope", "/healthz"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}
}

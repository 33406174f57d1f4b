package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/dashboard"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// fullEnv is setup with the dashboard and /metrics served too, so that
// every route of the API is there; the client's requests are bounded (a
// stream that should have been refused ends the request, not the test).
func fullEnv(t *testing.T, token string) (*env, *http.Client) {
	t.Helper()
	e := setup(t, token)
	api := httpapi.New(httpapi.Config{Manager: e.m, Token: token, Dashboard: dashboard.Handler(),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics\n") })})
	srv, orig := httptest.NewServer(api), e.srv
	t.Cleanup(func() { // before setup's, which closes e.srv
		srv.CloseClientConnections()
		srv.Close()
		e.srv = orig
	})
	e.srv = srv
	return e, &http.Client{Timeout: 5 * time.Second}
}

// send sends method target with hdr and returns the status and the body,
// at most 64 KiB of it (a stream is cut there, or by the client timeout).
func send(t *testing.T, c *http.Client, e *env, method, target string, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "(a stream)"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}

// route is one route of the API, with a path to reach it and the query
// parameters it accepts (with a valid value each).
type route struct {
	method, path string
	params       map[string]string
}

func allRoutes(e *env) []route {
	id := e.submit("quick").ID
	e.waitState(id, "SUCCESS")
	return []route{
		{"GET", "/healthz", nil},
		{"GET", "/metrics", nil},
		{"POST", "/v1/tasks", nil},
		{"GET", "/v1/tasks", map[string]string{"state": "SUCCESS", "name": "quick", "id_prefix": id[:4], "limit": "5", "cursor": id}},
		{"GET", "/v1/tasks/" + id, nil},
		{"POST", "/v1/tasks/" + id + "/cancel", nil},
		{"POST", "/v1/tasks/" + id + "/retry", nil},
		{"GET", "/v1/tasks/" + id + "/events", map[string]string{"last_event_id": "1", "access_token": "T"}},
		{"GET", "/v1/events", map[string]string{"last_event_id": "1", "access_token": "T"}},
		{"GET", "/v1/definitions", nil},
		{"GET", "/v1/stats", nil},
		{"GET", "/v1/servers", nil},
		{"GET", "/v1/stats/names", nil},
		{"GET", "/v1/throughput", nil},
		{"GET", "/v1/tasks/" + id + "/log", map[string]string{"limit": "5"}},
		{"GET", "/", map[string]string{"access_token": "T"}},
		{"GET", "/assets/app.js", map[string]string{"access_token": "T"}},
	}
}

// TestUnknownQueryParameterRefused: on every route, a query parameter the
// route does not accept is 400 unknown_parameter naming it (it used to be
// ignored: GET /v1/tasks?limt=5 answered the default page of 100), HEAD
// included.
func TestUnknownQueryParameterRefused(t *testing.T) {
	t.Parallel()
	e, c := fullEnv(t, "")
	for _, rt := range allRoutes(e) {
		if rt.path == "/" || strings.HasPrefix(rt.path, "/assets/") {
			continue // TestDashboardPageIgnoresOtherParameters
		}
		for _, method := range []string{rt.method, "HEAD"} {
			if method == "HEAD" && rt.method != "GET" {
				continue
			}
			status, body := send(t, c, e, method, rt.path+"?bogus_param=1")
			what := method + " " + rt.path + "?bogus_param=1"
			if method == "HEAD" {
				if status != http.StatusBadRequest {
					t.Errorf("%s: %d, want 400", what, status)
				}
				continue
			}
			wantCode(t, what, status, body, http.StatusBadRequest, "unknown_parameter")
			if !strings.Contains(body, `\"bogus_param\"`) {
				t.Errorf("%s: %s does not name the parameter", what, body)
			}
		}
	}
	// The tester's case, with the suggestion.
	status, body := e.do("GET", "/v1/tasks?limt=5", "")
	wantCode(t, "GET /v1/tasks?limt=5", status, body, http.StatusBadRequest, "unknown_parameter")
	if !strings.Contains(body, `did you mean \"limit\"`) {
		t.Errorf("GET /v1/tasks?limt=5: %s suggests no limit", body)
	}
	// A write refused for its query stores nothing.
	status, body = e.do("POST", "/v1/tasks?priority=high", `{"name":"quick"}`)
	wantCode(t, "POST /v1/tasks?priority=high", status, body, http.StatusBadRequest, "unknown_parameter")
	if n := e.stored(); n != 1 {
		t.Errorf("%d tasks stored, want the one of allRoutes", n)
	}
}

// TestQueryParameterTwiceRefused: any parameter given twice is 400 on
// every route that accepts it (last_event_id used to be served with the
// first value, while limit, state and name were refused).
func TestQueryParameterTwiceRefused(t *testing.T) {
	t.Parallel()
	e, c := fullEnv(t, "")
	for _, rt := range allRoutes(e) {
		for name, v := range rt.params {
			target := rt.path + "?" + name + "=" + v + "&" + name + "=" + v
			status, body := send(t, c, e, rt.method, target)
			wantCode(t, rt.method+" "+target, status, body, http.StatusBadRequest, "bad_request")
			if !strings.Contains(body, name+": given 2 times") {
				t.Errorf("%s %s: %s", rt.method, target, body)
			}
		}
	}
	// The tester's case: the stream used to start after event 1.
	status, body := send(t, c, e, "GET", "/v1/events?last_event_id=1&last_event_id=2")
	wantCode(t, "GET /v1/events?last_event_id=1&last_event_id=2", status, body, http.StatusBadRequest, "bad_request")
}

// TestDeclaredQueryParametersServed: every parameter a route declares is
// served (the check refuses nothing legitimate), all of them at once, and
// an empty value (?limit=) is still the default.
func TestDeclaredQueryParametersServed(t *testing.T) {
	t.Parallel()
	e, c := fullEnv(t, "")
	for _, rt := range allRoutes(e) {
		q := []string{}
		for name, v := range rt.params {
			q = append(q, name+"="+v)
		}
		target := rt.path
		if len(q) > 0 {
			target += "?" + strings.Join(q, "&")
		}
		// POST /v1/tasks without a body is 400 invalid_json: the query
		// passed.
		status, body := send(t, c, e, rt.method, target)
		if status == http.StatusBadRequest && !strings.Contains(body, "invalid_json") {
			t.Errorf("%s %s: %d %s", rt.method, target, status, body)
		}
	}
	if status, body := e.do("GET", "/v1/tasks?limit=&state=", ""); status != http.StatusOK {
		t.Errorf("empty values: %d %s", status, body)
	}
}

// TestMalformedQueryRefused: a query that does not parse is 400, not
// served with the pairs net/http dropped.
func TestMalformedQueryRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	for _, target := range []string{"/v1/tasks?limit=%zz", "/v1/tasks?limit=5;state=SUCCESS", "/v1/stats?%"} {
		status, body := e.do("GET", target, "")
		wantCode(t, target, status, body, http.StatusBadRequest, "bad_request")
	}
}

// TestAccessTokenParameterOnlyWhereRead: with a token, ?access_token= on
// a route that does not read it (here, next to the header it needs) is
// refused and says where it is read, not silently ignored; on the
// streams and the dashboard it is accepted, in place of the header.
func TestAccessTokenParameterOnlyWhereRead(t *testing.T) {
	t.Parallel()
	const tok = "0123456789abcdef"
	e, c := fullEnv(t, tok)
	for _, target := range []string{"/v1/tasks?access_token=" + tok, "/metrics?access_token=" + tok, "/healthz?access_token=" + tok} {
		status, body := send(t, c, e, "GET", target, "Authorization", "Bearer "+tok)
		wantCode(t, target, status, body, http.StatusBadRequest, "unknown_parameter")
		if !strings.Contains(body, "Authorization: Bearer") {
			t.Errorf("%s: %s does not say how to send the token", target, body)
		}
	}
	for _, target := range []string{"/v1/events?access_token=" + tok, "/?access_token=" + tok, "/assets/app.css?access_token=" + tok} {
		if status, body := send(t, c, e, "GET", target); status != http.StatusOK {
			t.Errorf("%s: %d %s", target, status, body)
		}
	}
}

// The dashboard's page and assets are for browsers: a parameter they do
// not read (a shared link's utm_source) is ignored, so the page opens
// rather than a JSON 400; access_token twice is still refused.
func TestDashboardPageIgnoresOtherParameters(t *testing.T) {
	t.Parallel()
	e, c := fullEnv(t, "")
	for _, path := range []string{"/?utm_source=chat", "/assets/app.js?v=2", "/?access_token=&utm_source=x"} {
		for _, method := range []string{"GET", "HEAD"} {
			if status, _ := send(t, c, e, method, path); status != http.StatusOK {
				t.Errorf("%s %s: %d, want 200", method, path, status)
			}
		}
	}
	status, body := send(t, c, e, "GET", "/?access_token=a&access_token=b")
	wantCode(t, "GET /?access_token twice", status, body, http.StatusBadRequest, "bad_request")
}

package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestServersUpIsByTheAnsweringServersClock: GET /v1/servers says when it
// answered (now) and each server's uptime by that time (up), so that a
// client need neither trust its own clock nor take the last heartbeat
// (seen_at, up to a heartbeat interval old: `bgtask servers` showed UP 0s
// for a server up 4 s) for the present.
func TestServersUpIsByTheAnsweringServersClock(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	type entry struct {
		StartedAt time.Time `json:"started_at"`
		SeenAt    time.Time `json:"seen_at"`
		Up        string    `json:"up"`
		Self      bool      `json:"self"`
	}
	var out struct {
		Servers []entry   `json:"servers"`
		Now     time.Time `json:"now"`
	}
	read := func() {
		t.Helper()
		status, body := e.do("GET", "/v1/servers", "")
		if status != 200 {
			t.Fatalf("GET /v1/servers: %d %s", status, body)
		}
		out.Servers, out.Now = nil, time.Time{}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for read(); len(out.Servers) == 0; read() {
		if time.Now().After(deadline) {
			t.Fatal("the server never appeared in /v1/servers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Well within the default heartbeat interval (5 s): seen_at is still
	// the first announcement's.
	time.Sleep(1200 * time.Millisecond)
	read()
	if len(out.Servers) != 1 || !out.Servers[0].Self {
		t.Fatalf("servers %+v", out.Servers)
	}
	s := out.Servers[0]
	if out.Now.IsZero() || out.Now.Before(s.SeenAt) || out.Now.Before(s.StartedAt) {
		t.Fatalf("now %v, started %v, seen %v", out.Now, s.StartedAt, s.SeenAt)
	}
	up, err := time.ParseDuration(s.Up)
	if err != nil {
		t.Fatalf("up %q: %v", s.Up, err)
	}
	if want := out.Now.Sub(s.StartedAt); up < time.Second || up-want > time.Millisecond || want-up > time.Millisecond {
		t.Errorf("up %v, want now - started_at = %v (at least 1.2 s)", up, want)
	}
}

package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// upColumn runs `bgtask servers` against addr and returns the UP column of
// its one server.
func upColumn(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, out, errs := cliCtx(ctx, addr, &Config{Registry: clientApp()}, "servers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("servers: exit %d, %q %q", code, out, errs)
	}
	// ID (with " *" for self), HOST, PID, UP, ...
	m := regexp.MustCompile(`^\S+(?: \*)?\s+\S+\s+\d+\s+(\S+)\s`).FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("servers line %q", lines[1])
	}
	return m[1]
}

// fakeServers serves GET /v1/servers with body, for the clock cases a real
// server cannot set up.
func fakeServers(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/servers" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestServersUpIsNotTheLastHeartbeat: the tester's case. With the default
// heartbeat interval (5 s) a server up more than a second showed UP 0s:
// the column was seen_at minus started_at, and seen_at is the last
// announcement.
func TestServersUpIsNotTheLastHeartbeat(t *testing.T) {
	t.Parallel()
	addr := serveInProcess(t)
	time.Sleep(1600 * time.Millisecond)
	// Up 1.6 s and a little more by the time it answers: 2s (more on a
	// slow machine), not 0s.
	up := upColumn(t, addr)
	if d, err := time.ParseDuration(up); err != nil || d < 2*time.Second || d > time.Minute {
		t.Errorf("UP %s for a server up 1.6 s, want 2s", up)
	}
}

// TestServersUpByTheServersClock: UP is the server's own figure (its
// clock's now minus its start), whatever the client's clock says: here
// the server's clock is a day ahead of the client's and its last heartbeat
// was at its start.
func TestServersUpByTheServersClock(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339Nano)
	now := time.Now().Add(24*time.Hour + 4*time.Second).UTC().Format(time.RFC3339Nano)
	addr := fakeServers(t, `{"servers":[{"id":"web1","incarnation":"i","host":"h","pid":7,"started_at":"`+start+
		`","seen_at":"`+start+`","names":[],"max_workers":4,"running":[],"self":true,"up":"4.2s"}],"now":"`+now+`"}`)
	if up := upColumn(t, addr); up != "4s" {
		t.Errorf("UP %s, want the server's 4s", up)
	}
	// A server older than "up": its last heartbeat, as before.
	addr = fakeServers(t, `{"servers":[{"id":"web1","incarnation":"i","host":"h","pid":7,"started_at":"2026-01-02T03:04:05Z",`+
		`"seen_at":"2026-01-02T04:04:05Z","names":[],"max_workers":4,"running":[],"self":true}]}`)
	if up := upColumn(t, addr); up != "1h0m0s" {
		t.Errorf("UP %s from an older server, want seen_at - started_at = 1h0m0s", up)
	}
}

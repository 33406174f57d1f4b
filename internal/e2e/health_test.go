package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/redistest"
)

// healthz returns GET /healthz's status and body.
func (s *server) healthz() (int, httpapi.HealthBody, string) {
	s.t.Helper()
	resp, err := http.Get(s.url("/healthz"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b httpapi.HealthBody
	if err := json.Unmarshal(raw, &b); err != nil {
		s.t.Fatalf("/healthz: %v: %q", err, raw)
	}
	return resp.StatusCode, b, string(raw)
}

// waitHealth polls /healthz until it answers status.
func (s *server) waitHealth(status int) (httpapi.HealthBody, string) {
	s.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		code, b, raw := s.healthz()
		if code == status {
			return b, raw
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/healthz never answered %d: %d %s", status, code, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// /healthz used to answer 200 {"status":"ok"} while Redis was down and
// every API call answered 503 store_unavailable: it now checks the store
// and says what is wrong.
func TestHealthzTellsTheStoreIsDown(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, nil)
	s := startServer(t, "", "--store", rs.URL(0), "--server-id", "h0")
	b, raw := s.waitHealth(http.StatusOK)
	if b.Status != "ok" || b.ServerID != "h0" || b.Error != nil {
		t.Fatalf("healthy: %s; want status ok, server_id h0, no error", raw)
	}
	rs.Kill()
	b, raw = s.waitHealth(http.StatusServiceUnavailable)
	if b.Status != "unavailable" || b.ServerID != "h0" || b.Error == nil || b.Error.Code != httpapi.CodeStoreUnavailable || b.Error.Message == "" {
		t.Fatalf("store down: %s; want status unavailable, server_id, error store_unavailable with a message", raw)
	}
	rs.Restart()
	if b, raw = s.waitHealth(http.StatusOK); b.Status != "ok" {
		t.Fatalf("store back: %s", raw)
	}
}

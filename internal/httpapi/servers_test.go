package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/httpapi"
)

// TestServersListsThisServer: GET /v1/servers lists the live servers of
// the store; on the embedded store that is the one answering, marked self,
// with the task names it runs.
func TestServersListsThisServer(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	// The manager announces itself from its lease keeper, right after
	// Start: poll until it has (bounded).
	var out struct {
		Servers []httpapi.ServerEntry `json:"servers"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(out.Servers) == 0 {
		status, body := e.do("GET", "/v1/servers", "")
		if status != 200 {
			t.Fatalf("GET /v1/servers: %d %s", status, body)
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never appeared in /v1/servers")
		}
		if len(out.Servers) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if len(out.Servers) != 1 {
		t.Fatalf("servers = %+v, want this one", out.Servers)
	}
	s := out.Servers[0]
	if !s.Self || s.ID == "" || s.Incarnation == "" || s.PID == 0 || s.SeenAt.IsZero() || s.Running == nil {
		t.Fatalf("server entry %+v", s)
	}
	found := false
	for _, n := range s.Names {
		found = found || n == "quick"
	}
	if !found {
		t.Fatalf("server entry names %v, want quick among them", s.Names)
	}
}

package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/bgtask/bgtask/internal/httpapi"
)

// TestServersListsThisServer: GET /v1/servers lists the live servers of
// the store; on the embedded store that is the one answering, marked self,
// with the task names it runs.
func TestServersListsThisServer(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	status, body := e.do("GET", "/v1/servers", "")
	if status != 200 {
		t.Fatalf("GET /v1/servers: %d %s", status, body)
	}
	var out struct {
		Servers []httpapi.ServerEntry `json:"servers"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
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

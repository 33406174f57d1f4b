package bgtask

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The API gave the timeout in nanoseconds ("timeout":90000000000) while it
// took "90s"; durations are Go duration strings both ways now.
func TestTaskInfoJSONTimeoutIsADurationString(t *testing.T) {
	t.Parallel()
	code := 3
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	in := TaskInfo{ID: "x", Name: "n", State: StateFailure, Timeout: 90 * time.Second, ExitCode: &code,
		CreatedAt: now, StartedAt: &now, Tags: []string{"a"}, EventSeq: 7}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timeout":"1m30s"`) || !strings.Contains(string(b), `"event_seq":7`) {
		t.Fatalf("JSON %s: want \"timeout\":\"1m30s\" and the other fields", b)
	}
	var out TaskInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// No timeout: no field. The old numeric form still decodes.
	if b, _ := json.Marshal(TaskInfo{ID: "y"}); strings.Contains(string(b), "timeout") {
		t.Fatalf("JSON %s has a timeout", b)
	}
	if err := json.Unmarshal([]byte(`{"id":"z","timeout":90000000000}`), &out); err != nil || out.Timeout != 90*time.Second || out.ID != "z" {
		t.Fatalf("numeric timeout: %v, %+v", err, out)
	}
}

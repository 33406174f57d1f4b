package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

func getJSON[T any](e *env, path string) T {
	e.t.Helper()
	status, body := e.do("GET", path, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return v
}

// GET /v1/stats/names counts per name and state; GET /v1/tasks?id_prefix=
// filters by ID prefix with the other filters.
func TestNameCountsAndIDPrefix(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	q1, q2, b := e.submit("quick"), e.submit("quick"), e.submit("boom")
	for _, id := range []string{q1.ID, q2.ID} {
		e.waitState(id, bgtask.StateSuccess)
	}
	e.waitState(b.ID, bgtask.StateFailure)
	got := getJSON[httpapi.NameCountsResponse](e, "/v1/stats/names")
	if got.Names["quick"][bgtask.StateSuccess] != 2 || got.Names["boom"][bgtask.StateFailure] != 1 || len(got.Names) != 2 {
		t.Errorf("name counts: %+v", got.Names)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"id_prefix=" + q2.ID, []string{q2.ID}},
		{"id_prefix=" + q2.ID[:36-1] + "&name=boom", nil},
		{"id_prefix=" + b.ID + "&state=FAILURE&name=boom", []string{b.ID}},
		{"id_prefix=zz", nil},
	} {
		res := getJSON[bgtask.ListResult](e, "/v1/tasks?"+tc.query)
		var ids []string
		for _, ti := range res.Tasks {
			ids = append(ids, ti.ID)
		}
		if len(ids) != len(tc.want) || len(ids) > 0 && ids[0] != tc.want[0] {
			t.Errorf("GET /v1/tasks?%s: %q, want %q", tc.query, ids, tc.want)
		}
	}
}

// GET /v1/throughput counts the tasks that ended per minute and state,
// including those that ended before the first request (from the log).
func TestThroughput(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	before := e.submit("quick")
	e.waitState(before.ID, bgtask.StateSuccess)
	total := func(res httpapi.ThroughputResponse) (ok, failed int) {
		for _, m := range res.Minutes {
			ok += m.Counts[bgtask.StateSuccess]
			failed += m.Counts[bgtask.StateFailure]
		}
		return ok, failed
	}
	res := getJSON[httpapi.ThroughputResponse](e, "/v1/throughput")
	if len(res.Minutes) != httpapi.ThroughputMinutes {
		t.Fatalf("%d minutes, want %d", len(res.Minutes), httpapi.ThroughputMinutes)
	}
	last := res.Minutes[len(res.Minutes)-1].Start
	if d := time.Since(last); d < 0 || d > 2*time.Minute || !last.Equal(last.Truncate(time.Minute)) {
		t.Errorf("last minute starts at %v", last)
	}
	if res.Since.After(time.Now()) {
		t.Errorf("since %v is in the future", res.Since)
	}
	b := e.submit("boom")
	e.waitState(b.ID, bgtask.StateFailure)
	deadline := time.Now().Add(waitFor)
	for {
		ok, failed := total(getJSON[httpapi.ThroughputResponse](e, "/v1/throughput"))
		if ok == 1 && failed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throughput: %d succeeded, %d failed; want 1 and 1", ok, failed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

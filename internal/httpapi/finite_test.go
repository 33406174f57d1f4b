package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/google/uuid"
)

// A record whose progress is not finite (written by an older version, or
// by hand) is still served: GET answered 200 with an empty body, the list
// closed the connection, and the task's log had events with no data.
// Amounts that are not finite are read as 0.
func TestRecordWithProgressThatIsNotFinite(t *testing.T) {
	t.Parallel()
	st, err := boltstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	rec := &store.Record{ID: id, Name: "steps", Args: []string{}, State: store.Ongoing, CreatedAt: time.Now(),
		Priority: store.PriorityNormal, Owner: "elsewhere", Incarnation: "elsewhere/1",
		Progress: store.Progress{Current: math.NaN(), Total: math.Inf(1), Message: "odd"}}
	if _, err := st.Insert(context.Background(), []*store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	e := setupOn(t, "", st)
	for _, path := range []string{"/v1/tasks/" + id, "/v1/tasks", "/v1/tasks/" + id + "/log"} {
		status, body := e.do("GET", path, "")
		if status != http.StatusOK || !json.Valid([]byte(body)) || len(body) < 10 {
			t.Errorf("GET %s: %d %q, want 200 and a JSON answer", path, status, body)
		}
	}
	status, body := e.do("GET", "/v1/tasks/"+id, "")
	var got struct {
		Progress struct {
			Current, Total float64
			Message        string
		}
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Progress.Current != 0 || got.Progress.Total != 0 || got.Progress.Message != "odd" {
		t.Fatalf("GET: %d %s, want progress 0 of 0, odd", status, body)
	}
}

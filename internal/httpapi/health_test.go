package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// sickStore is a store whose Counts fails once fail is set, and counts
// the calls.
type sickStore struct {
	store.Store
	fail  atomic.Bool
	calls atomic.Int32
}

func (s *sickStore) Counts(ctx context.Context) (store.Counts, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return nil, fmt.Errorf("%w: disk on fire at 10.0.0.7", store.ErrUnavailable)
	}
	return s.Store.Counts(ctx)
}

// /healthz used to answer 200 whatever the store's state.
func TestHealthzChecksTheStore(t *testing.T) {
	t.Parallel()
	bs, err := boltstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &sickStore{Store: bs}
	e := setupOn(t, "s3cret-s3cret-s3cret", st)
	st.fail.Store(true)
	before := st.calls.Load()

	// A storm of checks costs the store one call per cache period, not
	// one per request.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if status, body := e.do("GET", "/healthz", ""); status != http.StatusServiceUnavailable {
				t.Errorf("store failing: %d %s; want 503", status, body)
			}
		})
	}
	wg.Wait()
	if n := st.calls.Load() - before; n < 1 || n >= 20 {
		t.Errorf("%d store calls for 20 health checks; want them shared", n)
	}

	status, body := e.do("GET", "/healthz", "")
	var hb httpapi.HealthBody
	if err := json.Unmarshal([]byte(body), &hb); err != nil || status != http.StatusServiceUnavailable || hb.Status != "unavailable" ||
		hb.ServerID != e.m.ServerID() || hb.Error == nil || hb.Error.Code != httpapi.CodeStoreUnavailable {
		t.Fatalf("store failing: %d %s; want 503 unavailable with server_id and store_unavailable", status, body)
	}
	// /healthz needs no token: the store's own error only with one.
	if strings.Contains(hb.Error.Message, "10.0.0.7") {
		t.Errorf("without the token: %q tells the store's error", hb.Error.Message)
	}
	_, body = e.do("GET", "/healthz", "", "Authorization", "Bearer s3cret-s3cret-s3cret")
	if !strings.Contains(body, "disk on fire") {
		t.Errorf("with the token: %s; want the store's error", body)
	}
}

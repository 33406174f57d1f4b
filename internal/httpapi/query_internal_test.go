package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestQueryTokenRoutes: a route declares access_token exactly where
// guard.go reads the token from the query (GET and HEAD of the event
// streams and the dashboard): the two lists cannot drift apart.
func TestQueryTokenRoutes(t *testing.T) {
	t.Parallel()
	s := New(Config{Metrics: http.NotFoundHandler(), Dashboard: http.NotFoundHandler()})
	if len(s.params) < 17 {
		t.Fatalf("%d routes declared: %v", len(s.params), s.params)
	}
	for pattern, params := range s.params {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "01a22c93-e232-733e-b486-c7f5c374fe3b")
		path = strings.TrimSuffix(path, "{$}")
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "app.js"
		}
		methods := []string{method}
		if method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		for _, m := range methods {
			r := httptest.NewRequest(m, "http://127.0.0.1"+path, nil)
			if _, got := s.mux.Handler(r); got != pattern {
				t.Fatalf("%s %s routed to %q, want %q", m, path, got, pattern)
			}
			if declared, read := slices.Contains(params, paramAccessToken), queryTokenAllowed(r); declared != read {
				t.Errorf("%s %s: access_token declared %v, read by the guard %v", m, path, declared, read)
			}
		}
	}
}

func TestNearestParameter(t *testing.T) {
	t.Parallel()
	list := []string{"state", "name", "id_prefix", "limit", "cursor"}
	for in, want := range map[string]string{
		"limt": "limit", "LIMIT": "limit", "Limit": "limit", "limits": "limit", "id-prefix": "id_prefix",
		"idprefix": "id_prefix", "cursr": "cursor", "stat": "state", "names": "name",
		"id": "", "x": "", "offset": "", "": "", strings.Repeat("l", 1000): "",
	} {
		if got := nearest(in, list); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := nearest("last-event-id", []string{"last_event_id", paramAccessToken}); got != "last_event_id" {
		t.Errorf("last-event-id: %q", got)
	}
	if got := nearest("anything", nil); got != "" {
		t.Errorf("no parameters: %q", got)
	}
}

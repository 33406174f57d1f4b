package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The task IDs "." and ".." are answered as unknown without a request, and
// a redirect is an error, never followed: Go's ServeMux redirects a path
// with dot segments to another endpoint, so `watch ..` followed the
// all-tasks stream for ever and `status .` printed the task list as an
// empty record (found by a fresh user).
func TestDotSegmentIDsAndRedirects(t *testing.T) {
	var requests, redirected atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/elsewhere" {
			redirected.Add(1)
			w.Write([]byte(`{}`))
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{".", ".."} {
		calls := map[string]error{}
		_, calls["Get"] = c.Get(ctx, id)
		_, calls["Cancel"] = c.Cancel(ctx, id)
		_, calls["Retry"] = c.Retry(ctx, id)
		calls["Follow"] = c.Follow(ctx, id, nil, func(StreamEvent) bool { return true })
		for name, err := range calls {
			if !IsNotFound(err) || !strings.Contains(err.Error(), `"`+id+`"`) {
				t.Errorf("%s(%q): %v, want not found quoting the ID", name, id, err)
			}
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests sent for dot-segment IDs, want none", n)
	}
	_, err = c.Get(ctx, "abc")
	if err == nil || !strings.Contains(err.Error(), "redirected") || IsNotFound(err) {
		t.Fatalf("Get against a redirecting server: %v, want an error saying it redirected", err)
	}
	if redirected.Load() != 0 {
		t.Fatal("the client followed a redirect")
	}
}

package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/client"
)

// TestEmptyTaskIDIsRefusedBeforeAnyRequest: `status ""` asked for
// /v1/tasks/ and printed the server's "no such endpoint ... is --server
// the server's root URL?", which blamed the wrong thing. An empty ID to
// status, watch, cancel or retry is a usage error (exit 1), and nothing
// reaches the server; the client refuses one too.
func TestEmptyTaskIDIsRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, cmd := range []string{"status", "watch", "cancel", "retry"} {
		code, out, errOut := cliCtx(context.Background(), srv.URL, &Config{}, cmd, "")
		if code != bgtask.ExitFailure || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s \"\": exit %d, stdout %q, stderr %q; want 1 and one line", cmd, code, out, errOut)
			continue
		}
		want := "bgtask: " + cmd + ": empty task ID"
		if !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "(see --help)") || strings.Contains(errOut, "--server") {
			t.Errorf("%s \"\": stderr %q; want a usage error starting %q", cmd, errOut, want)
		}
	}
	c, err := client.New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, getErr := c.Get(ctx, "")
	_, cancelErr := c.Cancel(ctx, "")
	_, retryErr := c.Retry(ctx, "")
	followErr := c.Follow(ctx, "", nil, func(client.StreamEvent) bool { return false })
	for name, err := range map[string]error{"Get": getErr, "Cancel": cancelErr, "Retry": retryErr, "Follow": followErr} {
		if !errors.Is(err, client.ErrEmptyID) {
			t.Errorf("client.%s(\"\") = %v, want ErrEmptyID", name, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the server, want none", n)
	}
}

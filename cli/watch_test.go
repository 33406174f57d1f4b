package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// fakeStream serves /v1/tasks/abc/events: the n-th connection (from 0)
// is answered by conns[n], the last one for all later connections.
func fakeStream(t *testing.T, conns ...func(w http.ResponseWriter)) (addr string, count *atomic.Int32) {
	t.Helper()
	count = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(count.Add(1)) - 1
		conns[min(n, len(conns)-1)](w)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), count
}

// stateEvent answers with the task's state and ends the stream without
// server_close (a dropped stream).
func stateEvent(state bgtask.State) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		code := ""
		if state == bgtask.StateSuccess {
			code = `,"exit_code":0`
		}
		fmt.Fprintf(w, "event: state\nid: 1\ndata: {\"id\":\"abc\",\"name\":\"ok\",\"state\":%q%s}\n\n", state, code)
	}
}

// hangUp breaks the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// A first connection that cannot be made used to be retried 100 times,
// silently (about 50 s): it now fails at once, like submit.
func TestWatchFirstConnectionFailsAtOnce(t *testing.T) {
	t.Parallel()
	addr, count := fakeStream(t, hangUp)
	cfg := &Config{reconnectFor: time.Hour}
	code, out, errOut := cliCtx(context.Background(), addr, cfg, "watch", "abc")
	if code != bgtask.ExitFailure || out != "" || strings.Contains(errOut, "reconnecting") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, one line, no reconnecting", code, out, errOut)
	}
	if n := count.Load(); n != 1 {
		t.Fatalf("%d connections; want 1", n)
	}
	code, _, errOut = cliCtx(context.Background(), "127.0.0.1:1", cfg, "watch", "abc")
	if code != bgtask.ExitFailure || !strings.Contains(errOut, "cannot reach server") || strings.Contains(errOut, "reconnecting") {
		t.Fatalf("nothing listening: exit %d, stderr %q; want exit 1, cannot reach server", code, errOut)
	}
}

// A stream that drops is resumed; the user is told once, not per attempt,
// and the watch gives up when no reconnect succeeds, saying how to follow
// again.
func TestWatchDroppedStreamGivesUp(t *testing.T) {
	t.Parallel()
	addr, count := fakeStream(t, stateEvent(bgtask.StateOngoing), hangUp)
	cfg := &Config{reconnectFor: 300 * time.Millisecond}
	code, _, errOut := cliCtx(context.Background(), addr, cfg, "watch", "abc")
	if code != bgtask.ExitFailure || strings.Count(errOut, "reconnecting") != 1 ||
		!strings.Contains(errOut, "could not be resumed") || !strings.Contains(errOut, "follow it again with `bgtask watch abc`") {
		t.Fatalf("exit %d, stderr %q; want exit 1, one reconnecting notice, how to follow again", code, errOut)
	}
	if n := count.Load(); n < 2 {
		t.Fatalf("%d connections; want reconnects", n)
	}
	// Given --server, the hint names it: the default server is another.
	code, _, errOut = cliCtx(context.Background(), "127.0.0.1:1", cfg, "watch", "--server", addr, "abc")
	if want := "follow it again with `bgtask watch --server " + addr + " abc`"; code != bgtask.ExitFailure || !strings.Contains(errOut, want) {
		t.Fatalf("with --server: exit %d, stderr %q; want %q", code, errOut, want)
	}
}

func TestWatchDroppedStreamResumes(t *testing.T) {
	t.Parallel()
	addr, _ := fakeStream(t, stateEvent(bgtask.StateOngoing), hangUp, hangUp, stateEvent(bgtask.StateSuccess))
	cfg := &Config{reconnectFor: time.Hour}
	code, out, errOut := cliCtx(context.Background(), addr, cfg, "watch", "abc")
	if code != 0 || strings.Count(errOut, "reconnecting") != 1 || !strings.Contains(out, "abc SUCCESS") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 after one reconnecting notice", code, out, errOut)
	}
}

// An unknown task exits 2 without suggesting to follow it again.
func TestWatchUnknownTaskNoFollowAgain(t *testing.T) {
	t.Parallel()
	addr, _ := fakeStream(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"unknown_task","message":"task not found: \"abc\""}}`)
	})
	code, _, errOut := cliCtx(context.Background(), addr, &Config{}, "watch", "abc")
	if code != bgtask.ExitNotFound || strings.Contains(errOut, "follow it again") || !strings.Contains(errOut, "not found") {
		t.Fatalf("exit %d, stderr %q; want 2 without follow it again", code, errOut)
	}
}

// A FAILURE exits with a code no other outcome of the command has: the
// task's own (4, 11–127), else 3. Found by a fresh user: a task that
// ended FAILURE "orphaned after 1 attempt" (exit code 1) made watch exit
// 1, which also means "server unreachable".
func TestFailureExitCodeIsNeverTheCommandsOwn(t *testing.T) {
	code := func(c int) *int { return &c }
	for _, tc := range []struct {
		info bgtask.TaskInfo
		want int
	}{
		{bgtask.TaskInfo{State: bgtask.StateSuccess, ExitCode: code(0)}, 0},
		{bgtask.TaskInfo{State: bgtask.StateCancelled, ExitCode: code(1)}, ExitCancelled},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(1)}, bgtask.ExitException}, // orphaned
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(2)}, bgtask.ExitException},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(3)}, bgtask.ExitException},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(4)}, bgtask.ExitTimeout},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(5)}, bgtask.ExitException},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(11)}, 11},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(127)}, 127},
		{bgtask.TaskInfo{State: bgtask.StateFailure, ExitCode: code(128)}, bgtask.ExitException},
		{bgtask.TaskInfo{State: bgtask.StateFailure}, bgtask.ExitException},
	} {
		if got := taskExit(&tc.info); got != tc.want {
			c := "none"
			if tc.info.ExitCode != nil {
				c = fmt.Sprint(*tc.info.ExitCode)
			}
			t.Errorf("%s with exit code %s: command exits %d, want %d", tc.info.State, c, got, tc.want)
		}
	}
}

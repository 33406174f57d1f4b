package e2e_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgtask/bgtask"
)

// Crash recovery: kill -9 the server while tasks run and wait; at the next
// start retriable tasks run again (attempt 2) and succeed, non-retriable
// ones end FAILURE (orphaned), queued ones run, and every ID is still
// there.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, dir, "--max-workers", "3")
	done := s1.submit("success")
	s1.waitState(done, bgtask.StateSuccess)
	retriable := s1.submit("retriable_wait", "60")
	plain := []string{s1.submit("wait", "60"), s1.submit("wait", "60")}
	queued := s1.submit("success") // no free slot: waits ONGOING
	for _, id := range append([]string{retriable}, plain...) {
		s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 && i.Owner != "" })
	}
	if info := s1.status(queued); info.State != bgtask.StateOngoing || info.Attempt != 0 {
		t.Fatalf("queued task before the crash: %+v", info)
	}
	s1.kill9()

	s2 := startServer(t, dir)
	if info := s2.waitState(retriable, bgtask.StateSuccess); info.Attempt != 2 {
		t.Fatalf("retriable task after the crash: attempt %d, want 2", info.Attempt)
	}
	for _, id := range plain {
		info := s2.waitState(id, bgtask.StateFailure)
		if !strings.Contains(info.Error, "orphaned") {
			t.Fatalf("non-retriable task after the crash: error %q, want orphaned", info.Error)
		}
	}
	s2.waitState(queued, bgtask.StateSuccess)
	if info := s2.status(done); info.State != bgtask.StateSuccess {
		t.Fatalf("finished task after the crash: %+v", info)
	}
	code, out, _ := s2.run("list", "--json", "--limit", "100")
	var res bgtask.ListResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Tasks) != 5 {
		t.Fatalf("list after the crash: exit %d, %d tasks, want 5", code, len(res.Tasks))
	}
}

// SIGTERM lets running tasks finish: none is lost.
func TestGracefulStopLetsTasksFinish(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, dir)
	ids := []string{s1.submit("wait", "1"), s1.submit("wait", "1"), s1.submit("progress", "5", "100")}
	for _, id := range ids {
		s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	}
	s1.term()
	s2 := startServer(t, dir)
	for _, id := range ids {
		if info := s2.status(id); info.State != bgtask.StateSuccess || info.Attempt != 1 {
			t.Fatalf("task %s after a graceful stop: %+v, want SUCCESS on attempt 1", id, info)
		}
	}
}

// A shutdown deadline that expires hands retriable tasks back (they run
// at the next start) and cancels the others.
func TestShutdownTimeoutHandsBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, dir, "--shutdown-timeout", "200ms")
	r := s1.submit("retriable_wait", "60", filepath.Join(t.TempDir(), "first-run"))
	p := s1.submit("wait", "60")
	for _, id := range []string{r, p} {
		s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	}
	s1.term()
	s2 := startServer(t, dir)
	// A hand-back at shutdown does not use up an attempt.
	if info := s2.waitState(r, bgtask.StateSuccess); info.Attempt != 1 {
		t.Fatalf("handed-back task: attempt %d, want 1", info.Attempt)
	}
	if info := s2.status(p); info.State != bgtask.StateCancelled || info.Error != "server shutdown" {
		t.Fatalf("non-retriable task after shutdown: %+v", info)
	}
}

func TestClientExitCodes(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"submit", "--wait", "success"}, 0},
		{[]string{"submit", "--wait", "exception"}, bgtask.ExitException},
		// A FAILURE whose exit code is 1 (the task chose it; an orphan's)
		// exits 3: 1 is the command's own "bad flags, server unreachable".
		{[]string{"submit", "--wait", "failure"}, bgtask.ExitException},
		{[]string{"submit", "--wait", "file_exists", "/nonexistent/x"}, 11},
		{[]string{"submit", "--wait", "--timeout", "200ms", "wait", "60"}, bgtask.ExitTimeout},
		{[]string{"submit", "nope"}, bgtask.ExitNotFound},
		{[]string{"status", "nope"}, bgtask.ExitNotFound},
		{[]string{"cancel", "nope"}, bgtask.ExitNotFound},
		{[]string{"list", "--state", "DONE"}, bgtask.ExitFailure},
		{[]string{"submit", "--priority", "urgent", "success"}, bgtask.ExitFailure},
		{[]string{"status"}, bgtask.ExitFailure},
	} {
		code, _, errOut := s.run(tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		if code != 0 && (strings.Count(strings.TrimSpace(errOut), "\n") > 1 || strings.Contains(errOut, "goroutine ")) {
			t.Errorf("%v: stderr is not a short message: %q", tc.args, errOut)
		}
	}
}

func TestCancelWatchAndRetryFromTheCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	id := s.submit("wait", "60")
	s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	if code, out, errOut := s.run("cancel", id); code != 0 || !strings.Contains(out, "cancel requested") {
		t.Fatalf("cancel: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := s.run("watch", id); code != 5 || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("watch of a cancelled task: exit %d, output %q; want 5 and CANCELLED", code, out)
	}

	code, out, _ := s.run("submit", "--wait", "progress", "4", "50")
	// Updates are coalesced (at most ten a second), but the last progress
	// always arrives before the end.
	if code != 0 || !strings.Contains(out, "updated") || !strings.Contains(out, "done") || !strings.Contains(out, "4/4") {
		t.Fatalf("submit --wait progress: exit %d, output:\n%s", code, out)
	}

	par := s.submit("parallel", "a,b,c", "b")
	if code, out, _ = s.run("watch", par); code != 0 {
		t.Fatalf("watch parallel: exit %d, output:\n%s", code, out)
	}
	info := s.status(par)
	if info.State != bgtask.StateSuccess || len(info.Subtasks) != 3 || info.Subtasks[1].State != bgtask.StateFailure {
		t.Fatalf("parallel task with a failing subtask: %+v, want SUCCESS with b FAILURE", info)
	}
	if code, _, errOut := s.run("retry", par); code != 0 {
		t.Fatalf("retry: exit %d %s", code, errOut)
	}
	info = s.waitUntil(par, "retried", func(i *bgtask.TaskInfo) bool { return i.State == bgtask.StateSuccess && i.Attempt == 2 })
	for _, sub := range info.Subtasks {
		if sub.State != bgtask.StateSuccess {
			t.Fatalf("subtask %+v after retry", sub)
		}
	}
	if code, _, _ := s.run("retry", par); code != bgtask.ExitFailure {
		t.Fatalf("second retry: exit %d, want 1 (nothing to retry)", code)
	}
}

func TestTokenRequired(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--token", "s3cret")
	if code, _, errOut := s.run("list"); code != bgtask.ExitFailure || !strings.Contains(errOut, "unauthorized") {
		t.Fatalf("list without token: exit %d %q", code, errOut)
	}
	if code, _, errOut := s.run("list", "--token", "s3cret"); code != 0 {
		t.Fatalf("list with token: exit %d %q", code, errOut)
	}
}

func TestServeBadStart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir()}, "refusing to serve without a token"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", s.dir}, "cannot open the store"},
		{[]string{"serve", "--listen", "nonsense", "--data-dir", t.TempDir()}, "--listen"},
		{[]string{"serve", "--max-workers", "0", "--data-dir", t.TempDir()}, "--max-workers"},
		{[]string{"serve", "--bogus"}, "unknown flag"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = s.env
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), tc.want) || strings.Count(string(out), "\n") > 2 {
			t.Errorf("%v: %v, output %q; want exit 1 and a message with %q", tc.args, err, out, tc.want)
		}
	}
}

package e2e_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/internal/taskmode"
)

// signal sends sig to the server without waiting for it to exit.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// waitExit waits for the server to exit.
func (s *server) waitExit(after string) {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(waitFor):
		s.t.Fatalf("server did not exit %s\n%s", after, s.log())
	}
}

// While a server stops gracefully it still answers: /healthz says
// "stopping" (503, so that a load balancer sends new work elsewhere), a
// submission is refused with 503 unavailable, reads work, and a cancel
// reaches the running task. A tester found every connection refused for
// the whole --shutdown-timeout: the listener was closed at the signal, so
// a long task could not be cancelled nor its status read.
func TestServerAnswersWhileStopping(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--shutdown-timeout", "10m")
	id := s.submit("wait", "600")
	s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	s.signal(syscall.SIGTERM)
	b, raw := s.waitHealth(http.StatusServiceUnavailable)
	if b.Status != "stopping" || b.Error == nil || b.Error.Code != httpapi.CodeUnavailable {
		t.Fatalf("/healthz while stopping: %s; want status stopping, error code unavailable", raw)
	}
	if info := s.status(id); info.State != bgtask.StateOngoing {
		t.Fatalf("status while stopping: %+v, want ONGOING", info)
	}
	code, _, errOut := s.run("submit", "success")
	if code == 0 || !strings.Contains(errOut, "HTTP 503 unavailable") {
		t.Fatalf("submit while stopping: exit %d, stderr %q; want refused with 503 unavailable", code, errOut)
	}
	if code, _, errOut := s.run("cancel", id); code != 0 {
		t.Fatalf("cancel while stopping: exit %d %s", code, errOut)
	}
	// The cancel ends the last run: the stop completes, long before its
	// timeout, and the task's outcome is the cancel's.
	s.waitExit("after its last task was cancelled")
	if s.err != nil {
		t.Fatalf("server exited with %v\n%s", s.err, s.log())
	}
	s2 := startServer(t, s.dir)
	if info := s2.status(id); info.State != bgtask.StateCancelled || info.Error == "server shutdown" {
		t.Fatalf("task after the stop: %+v; want CANCELLED by the user's cancel", info)
	}
}

// A second SIGTERM or SIGINT exits at once instead of waiting out
// --shutdown-timeout; the task left running is recovered at the next
// start, as after a crash.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		s := startServer(t, "", "--shutdown-timeout", "1h")
		id := s.submit("wait", "600")
		s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
		s.signal(syscall.SIGTERM)
		s.waitHealth(http.StatusServiceUnavailable) // the first signal was handled
		time.Sleep(taskmode.RepeatWindow)           // sooner, the same signal is the same stop
		s.signal(sig)
		s.waitExit("after a second signal")
		if s.err == nil {
			t.Fatalf("%v: a forced stop exited 0; want an error\n%s", sig, s.log())
		}
		if !strings.Contains(s.log(), "second signal") {
			t.Fatalf("%v: no word of the second signal in the log:\n%s", sig, s.log())
		}
		s2 := startServer(t, s.dir)
		info := s2.waitState(id, bgtask.StateFailure)
		if !strings.Contains(info.Error, "orphaned") {
			t.Fatalf("%v: task after a forced stop: %+v; want FAILURE orphaned", sig, info)
		}
		s2.term()
	}
}

// The same stop signal twice at once is one stop, not a forced exit: GNU
// timeout sends SIGTERM to the process and to its process group (a tester:
// `timeout 15 bgtask serve` always logged "second signal: exiting at
// once"). The running task is handed back gracefully when
// --shutdown-timeout ends.
func TestSameSignalTwiceStopsGracefully(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--shutdown-timeout", "1s")
	id := s.submit("wait", "600")
	s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	s.signal(syscall.SIGTERM)
	s.signal(syscall.SIGTERM)
	s.waitExit("after one stop sent twice")
	if s.err != nil || strings.Contains(s.log(), "second signal") {
		t.Fatalf("server exited with %v, want a graceful stop:\n%s", s.err, s.log())
	}
}

// SIGHUP (the terminal or ssh session of a server started in it closed)
// stops the server gracefully, as SIGTERM does: the running task finishes
// and nothing is left for recovery. It used to kill the server at once, as
// a crash.
func TestHangUpStopsTheServerGracefully(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	id := s.submit("wait", "1")
	s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	s.signal(syscall.SIGHUP)
	s.waitExit("after SIGHUP")
	if s.err != nil {
		t.Fatalf("server exited with %v after SIGHUP\n%s", s.err, s.log())
	}
	s2 := startServer(t, s.dir)
	if info := s2.status(id); info.State != bgtask.StateSuccess || info.Attempt != 1 {
		t.Fatalf("task after SIGHUP: %+v; want SUCCESS on attempt 1 (the stop let it finish)", info)
	}
}

// A signal that arrives while the server starts (here: its Redis frozen,
// so the store takes seconds to open) stops it gracefully once it serves,
// exit 0. It used to kill it outright (caught only once the server
// served), as a crash would, recovered tasks possibly running (fresh
// user).
func TestSignalDuringStartStopsGracefully(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, nil)
	rs.Pause()
	cmd, sc, log := startServeUntil(t, append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "TMPDIR="+t.TempDir(), "BGTASK_TOKEN="),
		"opening the store", "serve", "--listen", "127.0.0.1:0", "--store", rs.URL(0), "--log-level", "debug")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rs.Resume()
	exited := make(chan error, 1)
	go func() {
		for sc.Scan() { // to EOF: the process exited
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("server exited with %v after a SIGTERM during its start, want 0\n%s", err, log.String())
		}
	case <-time.After(waitFor):
		t.Fatalf("server did not exit after a SIGTERM during its start\n%s", log.String())
	}
}

// startServeUntil starts bgtask with args and env and reads its stderr
// until a line contains marker (or the output ends); the returned scanner
// goes on from there and log holds what was read.
func startServeUntil(t *testing.T, env []string, marker string, args ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	log := &strings.Builder{}
	for sc.Scan() { // bounded by the process's output
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), marker) {
			break
		}
	}
	return cmd, sc, log
}

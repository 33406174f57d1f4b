//go:build linux

package e2e_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
)

// Two live servers with one --server-id on one Redis: the second is
// refused at start (exit 1, naming the first) and takes nothing from the
// first. Before, it started, took the first one's running task as a
// record of its own earlier life, and the two took it from each other at
// every heartbeat. A restart with the ID after kill -9 still recovers the
// task: the dead life's announcement is not renewed.
func TestRedisServerIDInUseIsRefused(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, nil)
	args := []string{"--store", rs.URL(0), "--server-id", "web-1", "--heartbeat-interval", "200ms", "--stale-after", "2s"}
	s1 := startServer(t, "", args...)
	id := s1.submit("retriable_wait", "60")
	s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 && i.Owner == "web-1" })

	code, _, errOut := s1.run(append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
	if code != 1 || !strings.Contains(errOut, `server ID "web-1" is in use by another live server`) {
		t.Fatalf("second serve with web-1: exit %d, stderr:\n%s\nwant exit 1 naming the server ID in use", code, errOut)
	}
	if info := s1.status(id); info.State != bgtask.StateOngoing || info.Attempt != 1 {
		t.Fatalf("the first server's task after the refused start: %s attempt %d, want ONGOING attempt 1", info.State, info.Attempt)
	}

	s1.kill9()
	s2 := startServer(t, "", args...)
	if info := s2.waitState(id, bgtask.StateSuccess); info.Attempt != 2 {
		t.Fatalf("the task after kill -9 and a restart with web-1: attempt %d, want 2", info.Attempt)
	}
}

// A signal while a restarted server waits to tell whether its ID's earlier
// life is alive stops it there: it exits cleanly without serving or
// recovering anything. It used to wait out the two heartbeat intervals,
// then serve, recover and run the tasks, and only then stop (and a second
// signal did not exit at once).
func TestSignalDuringTheServerIDWaitStopsBeforeServing(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, nil)
	args := []string{"--store", rs.URL(0), "--server-id", "web-1", "--heartbeat-interval", "2s", "--stale-after", "6s"}
	s1 := startServer(t, "", args...)
	id := s1.submit("retriable_wait", "60")
	s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	s1.kill9()

	cmd, sc, log := startServeUntil(t, s1.env, "waiting to tell whether it is alive",
		append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	out := log.String()
	if err != nil || !strings.Contains(out, "stopped before serving") || strings.Contains(out, "serving on") || strings.Contains(out, "recovered task") {
		t.Fatalf("SIGTERM during the wait: %v, stderr:\n%s\nwant a clean exit, stopped before serving, nothing recovered", err, out)
	}
}

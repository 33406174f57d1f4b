//go:build unix

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bgtask/bgtask"
)

// clientProc is a client command of the binary running in the background,
// its stdout read line by line.
type clientProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

func (s *server) startClient(args ...string) *clientProc {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	s.t.Cleanup(cancel)
	p := &clientProc{lines: make(chan string, 1000), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = append(s.env, "BGTASK_SERVER="+s.addr)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	return p
}

// The server stops gracefully right after the task succeeds. The client
// used to print "done SUCCESS" and then exit 1 with "cannot reach server"
// (it asked the stopped server for the record); it exits with the outcome
// its terminal event carried now.
func TestClientExitsWithTheOutcomeWhenTheServerStopsAfterTheEnd(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"submit --wait", "watch"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "")
			marker := filepath.Join(t.TempDir(), "go")
			var p *clientProc
			if mode == "watch" {
				id := s.submit("stop_server_after", marker, s.addr)
				p = s.startClient("watch", id)
			} else {
				p = s.startClient("submit", "--wait", "stop_server_after", marker, s.addr)
			}
			// The first line is the task's state: the client follows it.
			var out strings.Builder
			if line, ok := <-p.lines; !ok {
				<-p.done
				t.Fatalf("%s: no output; exit %d, stderr %q", mode, p.code, p.stderr.String())
			} else {
				out.WriteString(line + "\n")
			}
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for line := range p.lines {
				out.WriteString(line + "\n")
			}
			<-p.done
			<-s.exited
			if p.code != 0 || !strings.Contains(out.String(), " SUCCESS") || strings.Contains(p.stderr.String(), "cannot reach") {
				t.Fatalf("%s: exit %d, stdout:\n%s\nstderr: %q\nserver:\n%s", mode, p.code, out.String(), p.stderr.String(), s.log())
			}
		})
	}
}

// SIGTERM (and SIGHUP) stop `submit --wait` and `watch` as Ctrl-C does:
// the task keeps running, and the client says so and how to follow it,
// exiting 128 + the signal. SIGTERM used to kill the client without a
// word (a tester).
func TestClientStoppedBySIGTERMSaysTheTaskKeepsRunning(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	p := s.startClient("submit", "--wait", "wait", "600")
	if _, ok := <-p.lines; !ok { // the task's state: the client follows it
		<-p.done
		t.Fatalf("no output; exit %d, stderr %q", p.code, p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.lines {
	}
	<-p.done
	if p.code != 128+int(syscall.SIGTERM) || !strings.Contains(p.stderr.String(), "keeps running on the server") {
		t.Fatalf("exit %d, stderr %q; want 143 and how to follow the task", p.code, p.stderr.String())
	}
}

// --timeout takes a bare number of seconds, as `run --timeout` does (it
// used to fail: invalid argument "90" for "--timeout"); the record gives
// the timeout back as a duration.
func TestSubmitTimeoutInSeconds(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	code, out, errOut := s.run("submit", "--timeout", "90", "success")
	if code != 0 {
		t.Fatalf("submit --timeout 90: exit %d %q", code, errOut)
	}
	info := s.waitState(strings.TrimSpace(out), bgtask.StateSuccess)
	if info.Timeout.String() != "1m30s" {
		t.Fatalf("timeout %v, want 1m30s", info.Timeout)
	}
}

// `tasks --server` lists what the server accepts: the demo tasks of
// `serve --demo`, not removeDirectory (task mode only); without --server,
// what this binary runs.
func TestTasksOfAServer(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--demo")
	code, out, errOut := s.run("tasks", "--server", s.addr)
	if code != 0 || !strings.Contains(out, "demo.decode") || strings.Contains(out, "removeDirectory") {
		t.Fatalf("tasks --server: exit %d, stdout:\n%s\nstderr %q", code, out, errOut)
	}
	code, out, _ = s.run("tasks")
	if code != 0 || strings.Contains(out, "demo.decode") || !strings.Contains(out, "removeDirectory") {
		t.Fatalf("tasks: exit %d, stdout:\n%s", code, out)
	}
}

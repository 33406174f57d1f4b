package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/testbin"
)

// bin is the bgtask binary under test (testtasks tag).
var bin string

// waitFor bounds every wait.
const waitFor = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, &bin))
}

// server is a running `bgtask serve` process.
type server struct {
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	addr string
	env  []string

	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// startServer runs `bgtask serve` on dataDir (a fresh one if "") and waits
// until it serves.
func startServer(t testing.TB, dataDir string, extra ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, dir: dataDir, exited: make(chan struct{})}
	s.env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "TMPDIR="+t.TempDir(), "BGTASK_SERVER=", "BGTASK_TOKEN=")
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = s.env
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if a, ok := strings.CutPrefix(line, "bgtask: serving on http://"); ok {
				addr <- strings.Fields(a)[0]
			}
		}
	}()
	go func() {
		s.err = s.cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
	select {
	case s.addr = <-addr:
	case <-s.exited:
		t.Fatalf("server exited at start: %v\n%s", s.err, s.log())
	case <-time.After(waitFor):
		t.Fatalf("server did not start\n%s", s.log())
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill9 kills the server with SIGKILL, as a crash.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
}

// term sends SIGTERM and waits for a clean exit.
func (s *server) term() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(waitFor):
		s.t.Fatalf("server did not stop after SIGTERM\n%s", s.log())
	}
	if s.err != nil {
		s.t.Fatalf("server exited with %v after SIGTERM\n%s", s.err, s.log())
	}
}

// run runs a client command against the server.
func (s *server) run(args ...string) (int, string, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(s.env, "BGTASK_SERVER="+s.addr)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// submit submits a task and returns its ID.
func (s *server) submit(args ...string) string {
	s.t.Helper()
	code, out, errOut := s.run(append([]string{"submit"}, args...)...)
	if code != 0 {
		s.t.Fatalf("submit %v: exit %d %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}

// status returns the task's record.
func (s *server) status(id string) *bgtask.TaskInfo {
	s.t.Helper()
	code, out, errOut := s.run("status", "--json", id)
	if code != 0 {
		s.t.Fatalf("status %s: exit %d %s", id, code, errOut)
	}
	var info bgtask.TaskInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		s.t.Fatal(err)
	}
	return &info
}

// waitFor polls the task until ok holds.
func (s *server) waitUntil(id string, what string, ok func(*bgtask.TaskInfo) bool) *bgtask.TaskInfo {
	s.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		info := s.status(id)
		if ok(info) {
			return info
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("task %s: never %s; last record %+v\n%s", id, what, info, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) waitState(id string, st bgtask.State) *bgtask.TaskInfo {
	s.t.Helper()
	return s.waitUntil(id, string(st), func(i *bgtask.TaskInfo) bool { return i.State == st })
}

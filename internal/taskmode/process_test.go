package taskmode_test

// Process-level tests of task mode: TestMain builds the bgtask binary once
// (testtasks tag, -race when the tests run with it) and every test execs
// it with a private TMPDIR and state directory.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/taskmode"
	"github.com/bgtask/bgtask/internal/testbin"
)

// bin is the bgtask binary under test.
var bin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, &bin))
}

// proc is one test's environment for running the binary.
type proc struct {
	t     *testing.T
	tmp   string // TMPDIR
	state string // XDG_STATE_HOME
	env   []string
	sys   *syscall.SysProcAttr // for start; nil: none
	// wrap is a command line start execs the binary through, the
	// binary's path and arguments appended (nil: exec it directly).
	wrap []string
}

func newProc(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, tmp: t.TempDir(), state: t.TempDir()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "BGTASK_") || k == "TMPDIR" || k == "XDG_STATE_HOME" {
			continue
		}
		p.env = append(p.env, kv)
	}
	p.env = append(p.env, "TMPDIR="+p.tmp, "XDG_STATE_HOME="+p.state)
	p.env = append(p.env, env...)
	return p
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// run execs the binary with args and waits (at most a minute).
func (p *proc) run(args ...string) result {
	p.t.Helper()
	return p.runEnv(nil, args...)
}

func (p *proc) runEnv(env []string, args ...string) result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string(nil), p.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		p.t.Fatalf("bgtask %q: %v", args, err)
	}
	return r
}

// started is a running bgtask process whose stderr is read line by line.
type started struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	err   error // valid after done
	out   bytes.Buffer
}

// start execs the binary without waiting for it.
func (p *proc) start(args ...string) *started {
	p.t.Helper()
	cmd := exec.Command(bin, args...)
	if p.wrap != nil {
		cmd = exec.Command(p.wrap[0], append(append(p.wrap[1:len(p.wrap):len(p.wrap)], bin), args...)...)
	}
	cmd.Env = p.env
	cmd.SysProcAttr = p.sys
	s := &started{t: p.t, cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	cmd.Stdout = &s.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default: // nobody listens any more
			}
		}
		s.err = cmd.Wait()
		close(s.done)
	}()
	p.t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	return s
}

// line waits (at most 20 s) for a stderr line containing substr.
func (s *started) line(substr string) string {
	s.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if strings.Contains(l, substr) {
				return l
			}
		case <-s.done:
			s.t.Fatalf("process exited (%v) before printing %q", s.err, substr)
		case <-timeout:
			s.t.Fatalf("no stderr line with %q within 20s", substr)
		}
	}
}

// wait waits (at most 30 s) for the process to exit and returns its exit
// code.
func (s *started) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("process did not exit within 30s")
	}
	var ee *exec.ExitError
	switch {
	case s.err == nil:
		return 0
	case errors.As(s.err, &ee):
		return ee.ExitCode()
	}
	s.t.Fatal(s.err)
	return -1
}

func (s *started) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// waitFor polls cond every 10 ms for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// ls lists a directory's entry names ("" entries if it does not exist).
func ls(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// workspacePrefix is the name prefix of this binary's ephemeral
// workspaces for task.
func workspacePrefix(task string) string {
	return "bgtask-" + taskmode.InstallHash(bin) + "-" + task + "-"
}

// workspaceOf waits for the ephemeral workspace of task to appear in tmp
// and returns its path.
func workspaceOf(t *testing.T, tmp, task string) string {
	t.Helper()
	var found string
	waitFor(t, "the workspace of "+task, func() bool {
		for _, name := range ls(t, tmp) {
			if strings.HasPrefix(name, workspacePrefix(task)) {
				found = filepath.Join(tmp, name)
				return true
			}
		}
		return false
	})
	return found
}

// report is what unique_workspace prints between its sentinels.
type report struct {
	PID       int    `json:"pid"`
	Workspace string `json:"workspace"`
}

// reports parses every SENTINEL / JSON / SENTINEL block in out.
func reports(t *testing.T, out, sentinel string) []report {
	t.Helper()
	var rs []report
	lines := strings.Split(out, "\n")
	for i := 0; i+2 < len(lines); i++ {
		if lines[i] != sentinel || lines[i+2] != sentinel {
			continue
		}
		var r report
		if err := json.Unmarshal([]byte(lines[i+1]), &r); err != nil {
			t.Fatalf("bad report %q: %v", lines[i+1], err)
		}
		rs = append(rs, r)
		i += 2
	}
	return rs
}

// oneLine checks that stderr is exactly one diagnostic line without a
// stack trace.
func oneLine(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, "bgtask: ") {
		t.Fatalf("stderr %q: want one line starting with \"bgtask: \"", stderr)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, ".go:") {
		t.Fatalf("stderr %q contains a stack trace", stderr)
	}
}

// interruptedCode is the exit code of a run interrupted by sig.
func interruptedCode(sig syscall.Signal) int { return 128 + int(sig) }

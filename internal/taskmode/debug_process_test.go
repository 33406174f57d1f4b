//go:build unix

package taskmode_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWaitForDebugger(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	s := p.start("run", "--wait-for-debugger", "--min-runtime", "20s", "success")
	s.line("waiting for a debugger: pid")
	// It keeps waiting: nothing signals "still waiting", so give it a
	// moment to go ahead wrongly, then check it has not (no workspace, no
	// exit).
	time.Sleep(300 * time.Millisecond)
	select {
	case <-s.done:
		t.Fatal("the run did not wait for SIGCONT")
	default:
	}
	if got := ls(t, p.tmp); len(got) != 0 {
		t.Fatalf("the run went ahead before SIGCONT: %q", got)
	}
	start := time.Now()
	s.signal(syscall.SIGCONT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	// The 20 s minimum runtime is disabled under a debugger.
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %v after SIGCONT: min runtime not disabled", took)
	}
}

func TestWaitForDebuggerTracerAttaches(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed")
	}
	s := newProc(t).start("run", "--wait-for-debugger", "success")
	line := s.line("waiting for a debugger: pid")
	var pid int
	if _, err := fmt.Sscanf(line[strings.Index(line, "pid "):], "pid %d", &pid); err != nil {
		t.Fatalf("no pid in %q: %v", line, err)
	}
	tracer := exec.Command(strace, "-p", strconv.Itoa(pid), "-o", os.DevNull)
	var out bytes.Buffer
	tracer.Stderr = &out
	if err := tracer.Start(); err != nil {
		t.Fatal(err)
	}
	traced := make(chan error, 1)
	go func() { traced <- tracer.Wait() }()
	select {
	case <-s.done: // the tracer attached and the run went ahead
	case err := <-traced:
		t.Skipf("strace could not attach (%v): %s", err, &out)
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not notice the tracer")
	}
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	select { // strace exits with its tracee
	case <-traced:
	case <-time.After(10 * time.Second):
		tracer.Process.Kill()
		<-traced
	}
}

func TestWaitForDebuggerInterrupted(t *testing.T) {
	t.Parallel()
	s := newProc(t).start("run", "--wait-for-debugger", "success")
	s.line("waiting for a debugger")
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != interruptedCode(syscall.SIGTERM) {
		t.Fatalf("exit %d, want 143", code)
	}
}

func TestDebugAddrServesPprof(t *testing.T) {
	t.Parallel()
	s := newProc(t).start("run", "--debug-addr", "127.0.0.1:0", "wait", "60")
	line := s.line("pprof: http://127.0.0.1:")
	url := line[strings.Index(line, "http://"):]
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url + "cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "wait") {
		t.Fatalf("GET %scmdline: %d %q %v", url, resp.StatusCode, body, err)
	}
	s.signal(os.Interrupt)
	if code := s.wait(); code != interruptedCode(syscall.SIGINT) {
		t.Fatalf("exit %d, want 130", code)
	}
	client.CloseIdleConnections()
}

package taskmode_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWaitForDebugger(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	s := p.start("run", "--wait-for-debugger", "minruntime")
	s.line("waiting for a debugger: pid")
	// It waits: the task has not run, so its workspace does not exist.
	if got := ls(t, p.tmp); len(got) != 0 {
		t.Fatalf("the run went ahead before SIGCONT: %q", got)
	}
	start := time.Now()
	s.signal(syscall.SIGCONT)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	// minruntime's 2 s minimum runtime is disabled under a debugger.
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("took %v after SIGCONT: min runtime not disabled", took)
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

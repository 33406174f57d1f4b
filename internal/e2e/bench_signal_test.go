package e2e_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM to `bgtask bench` ends the run in progress and removes its
// files: its child process went on under PID 1, filling the temporary
// directory (222 MB in a tester's run), and the parent exited without a
// word.
func TestBenchStoppedBySignalLeavesNothing(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cmd := exec.Command(bin, "bench", "--n", "1000000", "--reps", "1", "--scenarios", "drain", "--timeout", "2m")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The child is at work once its store directory exists.
	var dir string
	for i := 0; ; i++ {
		if m, _ := filepath.Glob(filepath.Join(tmp, "bgtask-bench-*", "store-*")); len(m) > 0 {
			dir = filepath.Dir(m[0])
			break
		}
		if i == 2000 {
			cmd.Process.Kill()
			t.Fatalf("no child store within 20 s; stderr %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(waitFor):
		cmd.Process.Kill()
		t.Fatal("bench did not exit after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) || !strings.Contains(stderr.String(), "stopped by") {
		t.Fatalf("exit %d, stderr %q; want 143 and a line saying it stopped", code, stderr.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind (%v)", dir, err)
	}
	// No process is left running with the directory in its command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(dir)) {
			t.Errorf("a process is still running on %s: %s", dir, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

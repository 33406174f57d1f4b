//go:build unix

package taskmode_test

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHangUpEndsTheRunLikeSIGTERM: SIGHUP, what a terminal or ssh session
// sends when it goes away, ends a run as SIGTERM does: the task's context
// is cancelled (its child process killed), the ephemeral workspace is
// removed, and the exit code is 129. It used to kill the process the
// default way, leaving the workspace (and an orphaned child) behind.
func TestHangUpEndsTheRunLikeSIGTERM(t *testing.T) {
	t.Parallel()
	hup := interruptedCode(syscall.SIGHUP)
	t.Run("child of the task", func(t *testing.T) {
		t.Parallel()
		p := newProc(t)
		s := p.start("run", "child_wait", "60")
		child := childPID(t, s.line("child_wait: started pid"))
		ws := workspaceOf(t, p.tmp, "child_wait")
		s.signal(syscall.SIGHUP)
		if code := s.wait(); code != hup {
			t.Fatalf("exit %d, want %d", code, hup)
		}
		if exists(ws) {
			t.Fatalf("workspace %s survived SIGHUP", ws)
		}
		// The task returned after reaping its child: the PID is free.
		if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("the task's child %d outlived the run (kill 0: %v)", child, err)
		}
	})
	t.Run("process group", func(t *testing.T) {
		t.Parallel()
		// A hang-up reaches the whole foreground process group: the
		// child dies of it and the task fails at about the moment the
		// runner gets its own SIGHUP; the signal is the outcome.
		p := newProc(t)
		p.sys = &syscall.SysProcAttr{Setpgid: true}
		s := p.start("run", "child_wait", "60")
		s.line("child_wait: started pid")
		ws := workspaceOf(t, p.tmp, "child_wait")
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if code := s.wait(); code != hup {
			t.Fatalf("exit %d, want %d", code, hup)
		}
		if exists(ws) {
			t.Fatalf("workspace %s survived SIGHUP", ws)
		}
	})
	t.Run("during the minimum runtime", func(t *testing.T) {
		t.Parallel()
		p := newProc(t)
		// success returns at once; the run then waits out 60 s (a
		// signal before that takes the other path, to the same end).
		s := p.start("run", "--min-runtime", "60", "success")
		ws := workspaceOf(t, p.tmp, "success")
		s.signal(syscall.SIGHUP)
		if code := s.wait(); code != hup {
			t.Fatalf("exit %d, want %d", code, hup)
		}
		if exists(ws) {
			t.Fatalf("workspace %s survived SIGHUP", ws)
		}
	})
}

// TestNohupKeepsHangUpIgnored: a run started with SIGHUP ignored (nohup,
// trap "" HUP) keeps ignoring it; handling it would un-ignore it. The
// SIGTERM sent after it is what ends the run.
func TestNohupKeepsHangUpIgnored(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	p.wrap = []string{"sh", "-c", `trap "" HUP; exec "$@"`, "sh"}
	s := p.start("run", "wait", "60")
	ws := workspaceOf(t, p.tmp, "wait")
	s.signal(syscall.SIGHUP)
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != interruptedCode(syscall.SIGTERM) {
		t.Fatalf("exit %d, want %d: SIGHUP was not ignored", code, interruptedCode(syscall.SIGTERM))
	}
	if exists(ws) {
		t.Fatalf("workspace %s survived", ws)
	}
}

// childPID reads PID from "child_wait: started pid PID".
func childPID(t *testing.T, line string) int {
	t.Helper()
	f := strings.Fields(line)
	pid, err := strconv.Atoi(f[len(f)-1])
	if err != nil || pid <= 0 {
		t.Fatalf("no PID in %q", line)
	}
	return pid
}

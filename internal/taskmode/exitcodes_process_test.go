//go:build unix

package taskmode_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/internal/taskmode"
)

// fastGrace keeps the timeout tests short; TestTimeoutDefaultGrace covers
// the default.
const fastGrace = "BGTASK_TIMEOUT_GRACE=200ms"

func TestExitCodes(t *testing.T) {
	t.Parallel()
	exists := filepath.Join(t.TempDir(), "present")
	if err := os.WriteFile(exists, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string // substring; "" means stderr must be empty
	}{
		{[]string{"run", "success"}, 0, ""},
		{[]string{"run", "failure"}, 1, ""},
		{[]string{"run", "nosuch"}, 2, `unknown task "nosuch"`},
		{[]string{"run", "exception"}, 3, "testtasks: exception"},
		{[]string{"run", "panic"}, 3, "goroutine "},
		{[]string{"run", "timeout"}, 4, "timed out after 1s"},
		{[]string{"run", "file_exists", exists}, 0, ""},
		{[]string{"run", "file_exists", exists + ".missing"}, 11, ""},
		{[]string{"run", "parallel", "a,b,c", ""}, 0, ""},
		{[]string{"run", "parallel", "a,b,c", "b,c"}, 3, "2 of 3 subtasks failed"},
		{[]string{"--backgroundtask", "success"}, 0, ""},
		{[]string{"--backgroundtask=failure"}, 1, ""},
		{[]string{"--backgroundtask", "nosuch"}, 2, "unknown task"},
		{[]string{"--backgroundtask", "file_exists", exists + ".missing"}, 11, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			p := newProc(t, fastGrace)
			r := p.run(tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("the runner wrote to stdout: %q", r.stdout)
			}
			if tc.stderr == "" && r.stderr != "" || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("stderr %q, want %q", r.stderr, tc.stderr)
			}
			if got := ls(t, p.tmp); len(got) != 0 {
				t.Fatalf("left behind in TMPDIR: %q", got)
			}
		})
	}
}

func TestInvalidExitCodeIsException(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	if r := p.run("run", "persistent_counter", "200"); r.code != 4 {
		t.Fatalf("first run: exit %d, want 4", r.code)
	}
	r := p.run("run", "persistent_counter", "1")
	if r.code != 3 || !strings.Contains(r.stderr, "invalid exit code 200") {
		t.Fatalf("Exit(200): exit %d, stderr %q; want 3 and a diagnostic", r.code, r.stderr)
	}
}

func TestTimeoutEndsWith4AndRemovesWorkspace(t *testing.T) {
	t.Parallel()
	p := newProc(t, fastGrace)
	s := p.start("run", "timeout")
	ws := workspaceOf(t, p.tmp, "timeout")
	start := time.Now()
	if code := s.wait(); code != 4 {
		t.Fatalf("exit %d, want 4", code)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("took %v after the workspace appeared; want about 1.2s", took)
	}
	if exists(ws) {
		t.Fatalf("workspace %s survived the timeout", ws)
	}
}

func TestTimeoutDefaultGrace(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	r := p.run("run", "timeout")
	if r.code != 4 {
		t.Fatalf("exit %d, want 4", r.code)
	}
	// 1 s timeout + 5 s grace: the task ignores its context.
	if r.took < 5500*time.Millisecond || r.took > 15*time.Second {
		t.Fatalf("took %v, want about 6s", r.took)
	}
	if !strings.Contains(r.stderr, "5s grace period") {
		t.Fatalf("stderr %q does not report the grace period", r.stderr)
	}
}

func TestTimeoutFlagAndEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"run", "--timeout", "300ms", "wait", "30"}},
		{"flag in seconds", nil, []string{"run", "--timeout", "0.3", "wait", "30"}},
		{"environment", []string{"BGTASK_DEFAULT_TIMEOUT=300ms"}, []string{"run", "wait", "30"}},
		{"environment in seconds", []string{"BGTASK_DEFAULT_TIMEOUT=0.3"}, []string{"run", "wait", "30"}},
		{"flag beats environment", []string{"BGTASK_DEFAULT_TIMEOUT=60"}, []string{"run", "--timeout=300ms", "wait", "30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newProc(t, tc.env...).run(tc.args...)
			if r.code != 4 || r.took > 5*time.Second {
				t.Fatalf("exit %d after %v, want 4 soon after 300ms", r.code, r.took)
			}
			// The task returns ctx.Err() once timed out: the timeout is the
			// one diagnostic, no "failed: context canceled" next to exit 4.
			if !strings.Contains(r.stderr, "timed out after") || strings.Contains(r.stderr, "failed") {
				t.Fatalf("stderr %q: want the timeout and no \"failed\" line", r.stderr)
			}
		})
	}
}

func TestMinRuntime(t *testing.T) {
	t.Parallel()
	t.Run("definition", func(t *testing.T) {
		t.Parallel()
		r := newProc(t).run("run", "minruntime")
		if r.code != 0 || r.took < 2*time.Second {
			t.Fatalf("exit %d after %v, want 0 after at least 2s", r.code, r.took)
		}
	})
	t.Run("flag", func(t *testing.T) {
		t.Parallel()
		r := newProc(t).run("run", "--min-runtime", "700ms", "success")
		if r.code != 0 || r.took < 700*time.Millisecond {
			t.Fatalf("exit %d after %v, want 0 after at least 700ms", r.code, r.took)
		}
	})
	t.Run("skipped on exception", func(t *testing.T) {
		t.Parallel()
		r := newProc(t).run("run", "--min-runtime", "20s", "exception")
		if r.code != 3 || r.took > 10*time.Second {
			t.Fatalf("exit %d after %v, want 3 at once", r.code, r.took)
		}
	})
}

func TestSignalRemovesWorkspace(t *testing.T) {
	t.Parallel()
	// SIGHUP (a terminal or ssh hang-up) exited 129 and left the
	// workspace behind.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := newProc(t)
			s := p.start("run", "wait", "60")
			ws := workspaceOf(t, p.tmp, "wait")
			s.signal(sig)
			if code := s.wait(); code != interruptedCode(sig) {
				t.Fatalf("exit %d, want %d", code, interruptedCode(sig))
			}
			if exists(ws) {
				t.Fatalf("workspace %s survived %v", ws, sig)
			}
		})
	}
}

// TestSignalToGroupWinsOverTaskError: SIGTERM to the process group of a
// run whose task waits on a child process (child_wait: `sleep 60`,
// honouring its context) reaches both; the child dies at once and the task
// returns that as an error (exit 3) at about the moment the runner
// receives its own SIGTERM. The signal came first: the run exits 143,
// every round.
func TestSignalToGroupWinsOverTaskError(t *testing.T) {
	t.Parallel()
	const rounds = 12
	for round := range rounds {
		p := newProc(t)
		p.sys = &syscall.SysProcAttr{Setpgid: true}
		s := p.start("run", "child_wait", "60")
		s.line("child_wait: started")
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := s.wait(); code != interruptedCode(syscall.SIGTERM) {
			t.Fatalf("round %d: exit %d, want 143", round, code)
		}
	}
}

// Each interrupted run says why on stderr, once, without contradicting
// itself: SIGTERM during the minimum runtime of a task that had succeeded
// exited 143 without a word, and a task whose child exec.CommandContext
// killed at the interruption printed "interrupted by terminated" and then
// "failed: signal: killed" (a tester).
func TestInterruptionsSayWhyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		ready     string // a stderr line once the task is where the test wants it
		want, bad string
	}{
		// "interrupted during its minimum runtime of 2s (the task had ended
		// with exit 0)"; or "interrupted by terminated" on a machine so
		// slow that the signal came before the task returned.
		{[]string{"run", "minruntime"}, "", `task "minruntime" interrupted`, "failed"},
		{[]string{"run", "child_wait", "30"}, "child_wait: started", `task "child_wait" interrupted by terminated`, "failed"},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			t.Parallel()
			p := newProc(t)
			s := p.start(tc.args...)
			if tc.ready != "" {
				s.line(tc.ready)
			} else {
				workspaceOf(t, p.tmp, tc.args[1])
				time.Sleep(100 * time.Millisecond) // the task returns at once: into the minimum runtime
			}
			s.signal(syscall.SIGTERM)
			s.line(tc.want)
			if code := s.wait(); code != interruptedCode(syscall.SIGTERM) {
				t.Fatalf("exit %d, want 143", code)
			}
			for done := false; !done; {
				select {
				case l := <-s.lines:
					if strings.Contains(l, tc.bad) {
						t.Errorf("stderr line %q after the interruption", l)
					}
				default:
					done = true
				}
			}
		})
	}
}

func TestSignalDuringGraceOfStubbornTask(t *testing.T) {
	t.Parallel()
	p := newProc(t) // default 5 s grace; a second signal cuts it short
	s := p.start("run", "--timeout", "60", "timeout")
	ws := workspaceOf(t, p.tmp, "timeout")
	// The definition's 1 s timeout wins over --timeout 60; interrupt
	// before it fires, twice.
	s.signal(syscall.SIGTERM)
	s.line(`task "timeout"`) // "interrupted by terminated", or "timed out"
	// The same signal again within RepeatWindow is the same stop
	// (TestSameSignalTwiceIsOneStop): this one comes later.
	time.Sleep(taskmode.RepeatWindow)
	start := time.Now()
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != interruptedCode(syscall.SIGTERM) && code != 4 {
		t.Fatalf("exit %d, want 143 (or 4 if the 1s timeout won the race)", code)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a second SIGTERM did not cut the grace period short (%v)", took)
	}
	if exists(ws) {
		t.Fatalf("workspace %s survived", ws)
	}
}

// TestSameSignalTwiceIsOneStop: GNU timeout sends its SIGTERM to the
// process and then to its process group, so one stop arrives twice at
// once; that cut the grace period short (a tester: `timeout 15 bgtask
// serve` always exited as if stopped twice). The repeat is the same stop:
// the stubborn task gets its whole grace period.
func TestSameSignalTwiceIsOneStop(t *testing.T) {
	t.Parallel()
	p := newProc(t, "BGTASK_TIMEOUT_GRACE=1s")
	s := p.start("run", "stubborn")
	workspaceOf(t, p.tmp, "stubborn")
	s.signal(syscall.SIGTERM)
	// Sent at once the two may merge into one pending signal; the second
	// is sent once the first was taken (as happens with timeout).
	s.line(`task "stubborn" interrupted by terminated`)
	s.signal(syscall.SIGTERM)
	// Exits before printing it if the grace period was cut short.
	s.line(`task "stubborn" did not return within the 1s grace period`)
	if code := s.wait(); code != interruptedCode(syscall.SIGTERM) {
		t.Fatalf("exit %d, want 143", code)
	}
}

func TestArgumentsArriveIntact(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	for _, sentinel := range []string{"a b  c", `it's "quoted"`, "--timeout", "$HOME;*", "-"} {
		r := p.run("run", "unique_workspace", sentinel)
		if r.code != 0 {
			t.Fatalf("%q: exit %d: %s", sentinel, r.code, r.stderr)
		}
		if got := reports(t, r.stdout, sentinel); len(got) != 1 {
			t.Fatalf("%q did not arrive intact: stdout %q", sentinel, r.stdout)
		}
	}
}

func TestRunHelpListsFlags(t *testing.T) {
	t.Parallel()
	r := newProc(t).run("run", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var missing []string
	for _, f := range []string{"--timeout", "--min-runtime", "--workspace", "--attach-console", "--wait-for-debugger", "--debug-addr", "BGTASK_DEFAULT_TIMEOUT", "BGTASK_PURGE_STALE_WORKSPACES", "BGTASK_NO_REMOVE_WORKSPACE", "BGTASK_IGNORE_NO_OUTPUT"} {
		if !strings.Contains(r.stdout, f) {
			missing = append(missing, f)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Fatalf("run --help lacks (-want +got):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "regular-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", nil, []string{"run", "--bogus", "success"}, 1, "unknown flag: --bogus"},
		{"missing task name", nil, []string{"run"}, 1, "missing task name"},
		{"missing name after --backgroundtask", nil, []string{"--backgroundtask"}, 1, "--backgroundtask: missing task name"},
		{"unparsable --timeout", nil, []string{"run", "--timeout", "soon", "success"}, 1, `"--timeout"`},
		{"negative --min-runtime", nil, []string{"run", "--min-runtime", "-1s", "success"}, 1, `"--min-runtime"`},
		{"unknown command", nil, []string{"frobnicate"}, 1, `unknown command "frobnicate"`},
		{"unknown task", nil, []string{"run", "nosuch"}, 2, `unknown task "nosuch"`},
		{"unparsable BGTASK_DEFAULT_TIMEOUT", []string{"BGTASK_DEFAULT_TIMEOUT=soon"}, []string{"run", "success"}, 1, "BGTASK_DEFAULT_TIMEOUT"},
		{"unparsable BGTASK_TIMEOUT_GRACE", []string{"BGTASK_TIMEOUT_GRACE=-3"}, []string{"run", "success"}, 1, "BGTASK_TIMEOUT_GRACE"},
		{"unparsable BGTASK_PURGE_STALE_WORKSPACES", []string{"BGTASK_PURGE_STALE_WORKSPACES=sometimes"}, []string{"run", "success"}, 1, "BGTASK_PURGE_STALE_WORKSPACES"},
		{"unwritable temp dir", []string{"TMPDIR=" + file + "/tmp"}, []string{"run", "success"}, 1, "create workspace"},
		{"uncreatable --workspace", nil, []string{"run", "--workspace", file + "/ws", "success"}, 1, "--workspace"},
		{"uncreatable state dir", []string{"XDG_STATE_HOME=" + file}, []string{"run", "persistent_counter", "1"}, 1, "persistent workspace"},
		{"non-loopback --debug-addr", nil, []string{"run", "--debug-addr", "0.0.0.0:0", "success"}, 1, "not a loopback address"},
		{"unparsable --debug-addr", nil, []string{"run", "--debug-addr", "nonsense", "success"}, 1, "--debug-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProc(t)
			r := p.runEnv(tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			oneLine(t, r.stderr)
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("stderr %q does not name the problem (%q)", r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout %q, want nothing", r.stdout)
			}
			if got := ls(t, p.tmp); len(got) != 0 {
				t.Fatalf("left behind in TMPDIR: %q", got)
			}
			if got := ls(t, p.state); len(got) != 0 {
				t.Fatalf("left behind in the state dir: %q", got)
			}
		})
	}
	if got := ls(t, filepath.Dir(file)); len(got) != 1 {
		t.Fatalf("left behind next to the regular file: %q", got)
	}
}

package taskmode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask"
)

// harness runs task mode in-process against a private temp and state dir.
type harness struct {
	reg    *bgtask.Registry
	env    map[string]string
	tmp    string
	stderr bytes.Buffer
}

func setup(t *testing.T, defs ...bgtask.Definition) *harness {
	t.Helper()
	h := &harness{reg: bgtask.NewRegistry(), tmp: t.TempDir()}
	h.env = map[string]string{"TMPDIR": h.tmp, "XDG_STATE_HOME": t.TempDir()}
	for _, d := range defs {
		if err := h.reg.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *harness) run(t *testing.T, req *Request) (code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := &Config{
		Registry:   h.reg,
		Stderr:     &h.stderr,
		Getenv:     func(k string) string { return h.env[k] },
		Executable: "/test/bgtask",
	}
	start := time.Now()
	code = Run(ctx, cfg, req)
	return code, time.Since(start)
}

// leftovers lists what the runs left in the private temp dir.
func (h *harness) leftovers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(h.tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func returning(err error) bgtask.RunFunc {
	return func(context.Context, *bgtask.Task) error { return err }
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  bgtask.RunFunc
		want int
		diag string // in stderr
	}{
		{"nil", returning(nil), 0, ""},
		{"exit 0", returning(bgtask.Exit(0)), 0, ""},
		{"exit 1", returning(bgtask.Exit(1)), 1, ""},
		{"exit 11", returning(bgtask.Exit(11)), 11, ""},
		{"exit 127", returning(bgtask.Exit(127)), 127, ""},
		{"wrapped exit 42", returning(fmt.Errorf("wrapped: %w", bgtask.Exit(42))), 42, ""},
		{"exit 128 is invalid", returning(bgtask.Exit(128)), 3, "invalid exit code 128"},
		{"exit -1 is invalid", returning(bgtask.Exit(-1)), 3, "invalid exit code -1"},
		// The runner's own codes: Exit(2) read as "no such task" and
		// Exit(5) used a reserved code; both passed through.
		{"exit 2 is the runner's", returning(bgtask.Exit(2)), 3, "invalid exit code 2"},
		{"exit 5 is reserved", returning(bgtask.Exit(5)), 3, "invalid exit code 5"},
		{"exit 10 is reserved", returning(bgtask.Exit(10)), 3, "invalid exit code 10"},
		{"exit 4: the task's own deadline", returning(bgtask.Exit(4)), 4, ""},
		{"exit 3", returning(bgtask.Exit(3)), 3, "failed: exit code 3"},
		{"error", returning(errors.New("disk on fire")), 3, "failed: disk on fire"},
		{"panic", func(context.Context, *bgtask.Task) error { panic("boom") }, 3, "panicked: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, bgtask.Definition{Name: "t", Run: tc.run})
			if got, _ := h.run(t, &Request{Name: "t"}); got != tc.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tc.want, &h.stderr)
			}
			if tc.diag == "" && h.stderr.Len() != 0 {
				t.Fatalf("unexpected stderr: %q", &h.stderr)
			}
			if !strings.Contains(h.stderr.String(), tc.diag) {
				t.Fatalf("stderr %q lacks %q", &h.stderr, tc.diag)
			}
			if tc.name == "panic" && !strings.Contains(h.stderr.String(), "goroutine ") {
				t.Fatalf("panic logged without its stack: %q", &h.stderr)
			}
			if got := h.leftovers(t); len(got) != 0 {
				t.Fatalf("workspace left behind: %q", got)
			}
		})
	}
}

func TestUnknownTask(t *testing.T) {
	t.Parallel()
	h := setup(t)
	if got, _ := h.run(t, &Request{Name: "nope"}); got != bgtask.ExitNotFound {
		t.Fatalf("exit %d, want %d", got, bgtask.ExitNotFound)
	}
	if got := strings.Count(h.stderr.String(), "\n"); got != 1 {
		t.Fatalf("want one stderr line, got %q", &h.stderr)
	}
}

func TestTimeoutCancelsThenGraceThenExit4(t *testing.T) {
	t.Parallel()
	stubborn := make(chan struct{})
	t.Cleanup(func() { close(stubborn) })
	h := setup(t,
		bgtask.Definition{Name: "polite", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ *bgtask.Task) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		bgtask.Definition{Name: "stubborn", Timeout: 50 * time.Millisecond, Run: func(context.Context, *bgtask.Task) error {
			<-stubborn // ignores its context
			return nil
		}},
	)
	h.env[EnvTimeoutGrace] = "2s"
	code, took := h.run(t, &Request{Name: "polite"})
	if code != bgtask.ExitTimeout || took > 1500*time.Millisecond {
		t.Fatalf("polite: exit %d after %v, want 4 well before the grace period ends", code, took)
	}
	code, took = h.run(t, &Request{Name: "stubborn"})
	if code != bgtask.ExitTimeout || took < 2050*time.Millisecond || took > 10*time.Second {
		t.Fatalf("stubborn: exit %d after %v, want 4 after timeout+grace (2.05s)", code, took)
	}
	if !strings.Contains(h.stderr.String(), "grace period") {
		t.Fatalf("stderr %q does not mention the grace period", &h.stderr)
	}
	if got := h.leftovers(t); len(got) != 0 {
		t.Fatalf("workspace left behind after timeout: %q", got)
	}
}

func TestTimeoutPrecedence(t *testing.T) {
	t.Parallel()
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tc := range []struct {
		name string
		def  time.Duration
		flag *time.Duration
		env  string
		want time.Duration
	}{
		{"default", 0, nil, "", DefaultTimeout},
		{"env seconds", 0, nil, "90", 90 * time.Second},
		{"env duration", 0, nil, "2m", 2 * time.Minute},
		{"env zero disables", 0, nil, "0", 0},
		{"flag beats env", 0, d(3 * time.Second), "90", 3 * time.Second},
		{"flag zero disables", 0, d(0), "", 0},
		{"definition beats flag", time.Second, d(3 * time.Second), "90", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{EnvDefaultTimeout: tc.env}
			s, err := resolveSettings(&bgtask.Definition{Timeout: tc.def}, &Request{Timeout: tc.flag}, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if s.timeout != tc.want {
				t.Fatalf("timeout %v, want %v", s.timeout, tc.want)
			}
		})
	}
}

func TestBadEnvironmentIsFailureBeforeStart(t *testing.T) {
	t.Parallel()
	for _, name := range []string{EnvDefaultTimeout, EnvTimeoutGrace, EnvPurgeStale, EnvLogLevel} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ran := false
			h := setup(t, bgtask.Definition{Name: "t", Run: func(context.Context, *bgtask.Task) error { ran = true; return nil }})
			h.env[name] = "bogus"
			if got, _ := h.run(t, &Request{Name: "t"}); got != bgtask.ExitFailure || ran {
				t.Fatalf("exit %d (ran %v), want 1 without running", got, ran)
			}
			if line := h.stderr.String(); !strings.Contains(line, name) || strings.Count(line, "\n") != 1 {
				t.Fatalf("stderr %q: want one line naming %s", line, name)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "1.5": 1500 * time.Millisecond, "90s": 90 * time.Second,
		"2m30s": 150 * time.Second, "250ms": 250 * time.Millisecond, "0": 0, "0.25": 250 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// " 5 ", "1e9", "1_000" and "+5" were accepted.
	for _, in := range []string{"", "abc", "-1", "-5s", "NaN", "Inf", "1e300", "5 s", " 5 ", " 5", "1e9", "1_000", "+5", "+5s", "0x10"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestMinRuntime(t *testing.T) {
	t.Parallel()
	ms := func(n int) *time.Duration { d := time.Duration(n) * time.Millisecond; return &d }
	for _, tc := range []struct {
		name    string
		def     bgtask.Definition
		flag    *time.Duration
		code    int
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"definition", bgtask.Definition{MinRuntime: 300 * time.Millisecond, Run: returning(nil)}, nil, 0, 300 * time.Millisecond, 5 * time.Second},
		{"flag", bgtask.Definition{Run: returning(nil)}, ms(300), 0, 300 * time.Millisecond, 5 * time.Second},
		{"definition beats flag", bgtask.Definition{MinRuntime: 300 * time.Millisecond, Run: returning(nil)}, ms(5000), 0, 300 * time.Millisecond, 4 * time.Second},
		{"task-chosen code waits too", bgtask.Definition{MinRuntime: 300 * time.Millisecond, Run: returning(bgtask.Exit(12))}, nil, 12, 300 * time.Millisecond, 5 * time.Second},
		{"exception does not wait", bgtask.Definition{MinRuntime: 10 * time.Second, Run: returning(errors.New("x"))}, nil, 3, 0, 2 * time.Second},
		{"panic does not wait", bgtask.Definition{MinRuntime: 10 * time.Second, Run: func(context.Context, *bgtask.Task) error { panic("x") }}, nil, 3, 0, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.def.Name = "t"
			h := setup(t, tc.def)
			code, took := h.run(t, &Request{Name: "t", MinRuntime: tc.flag})
			if code != tc.code || took < tc.atLeast || took > tc.atMost {
				t.Fatalf("exit %d after %v, want %d after [%v, %v]", code, took, tc.code, tc.atLeast, tc.atMost)
			}
		})
	}
}

// TestCancelledContextInterrupts: cancelling the caller's context while
// the task runs ends the run as interrupted (143) even when the task
// returns its context's error at once: the interruption came first. (Both
// the task's result and the cancellation were ready when the runner looked,
// and it used to pick one at random: exit 3 about one run in three, more
// under load.) Each round is one run; 40 rounds make the old race show.
func TestCancelledContextInterrupts(t *testing.T) {
	t.Parallel()
	var cancel context.CancelFunc
	h := setup(t, bgtask.Definition{Name: "t", Run: func(ctx context.Context, _ *bgtask.Task) error {
		cancel() // as a caller would while the task runs
		<-ctx.Done()
		return ctx.Err()
	}})
	cfg := &Config{Registry: h.reg, Stderr: &h.stderr, Getenv: func(k string) string { return h.env[k] }}
	for round := range 40 {
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		if got := Run(ctx, cfg, &Request{Name: "t"}); got != 143 {
			t.Fatalf("round %d: exit %d, want 143\n%s", round, got, h.stderr.String())
		}
		cancel()
	}
	if got := h.leftovers(t); len(got) != 0 {
		t.Fatalf("workspace left behind: %q", got)
	}
}

func TestTaskHandle(t *testing.T) {
	t.Parallel()
	type seen struct {
		Name, Workspace string
		Args            []string
		Attempt         int
		IDLen           int
	}
	var got seen
	h := setup(t, bgtask.Definition{Name: "t", Run: func(_ context.Context, task *bgtask.Task) error {
		got = seen{task.Name(), task.Workspace(), task.Args(), task.Attempt(), len(task.ID())}
		info, err := os.Stat(task.Workspace())
		if err != nil || info.Mode().Perm() != 0o700 {
			return fmt.Errorf("workspace %v %v, want a 0700 directory", info, err)
		}
		return nil
	}})
	args := []string{"a b", "'c'", `"d"`, "--flag", ""}
	if code, _ := h.run(t, &Request{Name: "t", Args: args}); code != 0 {
		t.Fatalf("exit %d: %s", code, &h.stderr)
	}
	prefix := filepath.Join(h.tmp, "bgtask-"+InstallHash("/test/bgtask")+"-t-")
	if !strings.HasPrefix(got.Workspace, prefix) {
		t.Fatalf("workspace %q lacks prefix %q", got.Workspace, prefix)
	}
	want := seen{Name: "t", Workspace: got.Workspace, Args: args, Attempt: 1, IDLen: 36}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("task handle (-want +got):\n%s", diff)
	}
}

func TestNoOutputInProcess(t *testing.T) {
	t.Parallel()
	chatty := func(_ context.Context, task *bgtask.Task) error {
		task.Logger().Warn("hello from the task")
		return errors.New("and an error")
	}
	for _, tc := range []struct {
		name   string
		attach bool
		env    string
		silent bool
	}{
		{"silenced", false, "", true},
		{"attach-console", true, "", false},
		{"env", false, "1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, bgtask.Definition{Name: "t", NoOutput: true, Run: chatty})
			h.env[EnvIgnoreNoOutput] = tc.env
			if code, _ := h.run(t, &Request{Name: "t", AttachConsole: tc.attach}); code != 3 {
				t.Fatalf("exit %d, want 3", code)
			}
			if silent := h.stderr.Len() == 0; silent != tc.silent {
				t.Fatalf("stderr %q, want silent=%v", &h.stderr, tc.silent)
			}
		})
	}
}

func TestParallel(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	var mu sync.Mutex
	var ran []string
	sub := func(_ context.Context, task *bgtask.Task) error {
		n := running.Add(1)
		defer running.Add(-1)
		raise(&peak, n)
		time.Sleep(20 * time.Millisecond) // overlap so that the bound matters
		mu.Lock()
		ran = append(ran, task.SubtaskKey())
		mu.Unlock()
		switch task.SubtaskKey() {
		case "bad":
			return errors.New("bad subtask")
		case "boom":
			panic("boom")
		}
		return nil
	}
	keys := func(_ context.Context, task *bgtask.Task) ([]string, error) { return task.Args(), nil }
	h := setup(t, bgtask.Definition{Name: "p", Subtasks: keys, RunSubtask: sub, Concurrency: 2})
	code, _ := h.run(t, &Request{Name: "p", Args: []string{"a", "b", "c", "d", "e"}})
	if code != 0 || peak.Load() > 2 || len(ran) != 5 {
		t.Fatalf("exit %d, peak %d, ran %q: want 0, at most 2 at once, 5 subtasks", code, peak.Load(), ran)
	}
	code, _ = h.run(t, &Request{Name: "p", Args: []string{"a", "bad", "boom"}})
	if code != bgtask.ExitException {
		t.Fatalf("exit %d, want 3", code)
	}
	for _, want := range []string{`2 of 3 subtasks failed: bad (exit 3), boom (exit 3)`, `subtask "boom" panicked`} {
		if !strings.Contains(h.stderr.String(), want) {
			t.Fatalf("stderr %q lacks %q", &h.stderr, want)
		}
	}
	if code, _ = h.run(t, &Request{Name: "p", Args: []string{"a", "a"}}); code != bgtask.ExitException {
		t.Fatalf("duplicate keys: exit %d, want 3", code)
	}
}

// raise sets v to n if n is larger.
func raise(v *atomic.Int32, n int32) {
	for {
		p := v.Load()
		if n <= p || v.CompareAndSwap(p, n) {
			return
		}
	}
}

// mkStale creates n directories named prefix+i in dir, aged age.
func mkStale(t *testing.T, dir, prefix string, n int, age time.Duration) {
	t.Helper()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("%s%d", prefix, i))
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age - time.Duration(i)*time.Second)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSweepStale(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	mkStale(t, tmp, "bgtask-h-old-", 7, 2*time.Minute)
	mkStale(t, tmp, "bgtask-h-fresh-", 2, 0)
	mkStale(t, tmp, "bgtask-other-old-", 2, 2*time.Minute)
	if err := os.WriteFile(filepath.Join(tmp, "bgtask-h-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := sweepStale(tmp, "bgtask-h-", DefaultStaleAge); got != MaxStaleSweep {
		t.Fatalf("removed %d, want %d", got, MaxStaleSweep)
	}
	// The oldest go first: old[6] is the oldest, old[0] and old[1] stay.
	want := []string{"bgtask-h-file", "bgtask-h-fresh-0", "bgtask-h-fresh-1", "bgtask-h-old-0", "bgtask-h-old-1", "bgtask-other-old-0", "bgtask-other-old-1"}
	if diff := cmp.Diff(want, names(t, tmp)); diff != "" {
		t.Fatalf("after sweep (-want +got):\n%s", diff)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Every environment variable's error reads NAME="value": why. The
// duration variables said NAME: "value": why, the others NAME="value".
func TestEnvErrorsShareOneShape(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]string{
		EnvDefaultTimeout: "-1", EnvTimeoutGrace: "soon", EnvPurgeStale: "-5", EnvLogLevel: "loud",
	} {
		_, err := resolveSettings(&bgtask.Definition{}, &Request{}, func(k string) string {
			if k == name {
				return v
			}
			return ""
		})
		if want := name + `="` + v + `": `; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s=%s: error %v, want it to start with %s", name, v, err, want)
		}
	}
}

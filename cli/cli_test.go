package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
)

// cliRun runs the command line in-process with app and a private TMPDIR.
func cliRun(t *testing.T, app *bgtask.Registry, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"TMPDIR": t.TempDir(), "XDG_STATE_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = Run(ctx, args, &Config{
		Registry: app,
		Stdout:   &out,
		Stderr:   &errb,
		Getenv:   func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

// recorder is an application registry whose task "record" stores its
// arguments and exits with the code in its first argument, if any.
type recorder struct {
	reg  *bgtask.Registry
	args []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{reg: bgtask.NewRegistry()}
	r.reg.MustAdd(bgtask.Definition{Name: "record", Description: "records its args", Run: func(_ context.Context, task *bgtask.Task) error {
		r.args = task.Args()
		return nil
	}})
	r.reg.MustAdd(bgtask.Definition{Name: "removeDirectory", Run: func(context.Context, *bgtask.Task) error {
		return bgtask.Exit(42) // shadows the built-in
	}, Timeout: time.Minute, NoOutput: true, Retriable: true, Tags: []string{"a", "b"}})
	return r
}

func TestRunPassesEverythingAfterNameToTheTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "record"}, []string{}},
		{[]string{"run", "record", "a b", `"q"`}, []string{"a b", `"q"`}},
		{[]string{"run", "--timeout", "5s", "record", "--timeout", "x", "--help"}, []string{"--timeout", "x", "--help"}},
		{[]string{"run", "--", "record", "-v"}, []string{"-v"}},
		{[]string{"--backgroundtask", "record", "--backgroundtask", "y"}, []string{"--backgroundtask", "y"}},
		{[]string{"--backgroundtask=record", "z"}, []string{"z"}},
		{[]string{"--timeout", "5s", "--backgroundtask", "record", "w"}, []string{"w"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t)
			code, stdout, stderr := cliRun(t, rec.reg, tc.args...)
			if code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if diff := cmp.Diff(tc.want, rec.args); diff != "" {
				t.Fatalf("task args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplicationRegistryComesFirst(t *testing.T) {
	t.Parallel()
	code, _, _ := cliRun(t, newRecorder(t).reg, "run", "removeDirectory")
	if code != 42 {
		t.Fatalf("exit %d, want the application's removeDirectory (42)", code)
	}
}

func TestBuiltinTasksWithoutApplication(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	// removeDirectory with a missing child and no wait: exit 0.
	if code, _, stderr := cliRun(t, nil, "run", "removeDirectory", parent, "child", "0"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := cliRun(t, nil, "run", "no-such-task"); code != bgtask.ExitNotFound || !strings.Contains(stderr, "unknown task") {
		t.Fatalf("exit %d, stderr %q; want 2", code, stderr)
	}
}

func TestTasksListsDefinitions(t *testing.T) {
	t.Parallel()
	code, stdout, _ := cliRun(t, newRecorder(t).reg, "tasks")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(stdout, "\n")
	if !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("no header: %q", stdout)
	}
	var got [][]string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) >= 3 && (f[0] == "record" || f[0] == "removeDirectory") {
			got = append(got, f[:min(len(f), 7)])
		}
	}
	want := [][]string{
		{"record", "app", "-", "records", "its", "args"},
		{"removeDirectory", "app", "timeout=1m0s", "no-output", "retriable(max", "3)", "tags=a,b"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("tasks (-want +got):\n%s\n%s", diff, stdout)
	}
}

func TestTasksShowsBuiltinSource(t *testing.T) {
	t.Parallel()
	_, stdout, _ := cliRun(t, nil, "tasks")
	if !strings.Contains(stdout, "removeDirectory") || !strings.Contains(stdout, "builtin") || !strings.Contains(stdout, "no-output") {
		t.Fatalf("tasks output lacks the built-in removeDirectory: %q", stdout)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, _ := cliRun(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "bgtask ") || !strings.Contains(stdout, "go1.") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"run"}, "missing task name"},
		{[]string{"run", "--nope", "record"}, "run: unknown flag: --nope"},
		{[]string{"run", "--timeout"}, "flag needs an argument"},
		{[]string{"run", "--timeout", "x1", "record"}, `invalid argument "x1" for "--timeout"`},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"tasks", "extra"}, "unknown command"},
		// Named run, which the user did not type.
		{[]string{"--backgroundtask"}, "bgtask: --backgroundtask: missing task name"},
		{[]string{"--timeout", "1s", "--backgroundtask"}, "bgtask: --backgroundtask: missing task name"},
		{[]string{"--bogus", "--backgroundtask", "record"}, "bgtask: --backgroundtask: unknown flag: --bogus"},
		{[]string{"run"}, "bgtask: run: missing task name"},
		// An empty name exited 2 (no such task) and an empty --workspace
		// was taken for none (fresh user): both usage errors.
		{[]string{"run", ""}, "bgtask: run: missing task name"},
		{[]string{"--backgroundtask", ""}, "missing task name"},
		{[]string{"run", "--workspace", "", "record"}, `invalid argument "" for "--workspace" flag: empty`},
		// bench and bench idle: bench_flags_test.go.
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := cliRun(t, newRecorder(t).reg, tc.args...)
			if code != bgtask.ExitFailure || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("stderr %q: want one line with %q", stderr, tc.stderr)
			}
		})
	}
}

func TestRewriteBackgroundTask(t *testing.T) {
	t.Parallel()
	root := &cobra.Command{Use: "bgtask"}
	root.AddCommand(&cobra.Command{Use: "run"}, &cobra.Command{Use: "tasks"})
	for _, tc := range []struct {
		in, want  []string
		rewritten bool
	}{
		{nil, nil, false},
		{[]string{"--backgroundtask", "x", "a"}, []string{"run", "x", "a"}, true},
		{[]string{"--backgroundtask=x", "a"}, []string{"run", "x", "a"}, true},
		{[]string{"--backgroundtask"}, []string{"run"}, true},
		{[]string{"--timeout", "1s", "--backgroundtask", "x"}, []string{"run", "--timeout", "1s", "x"}, true},
		{[]string{"run", "x", "--backgroundtask", "y"}, []string{"run", "x", "--backgroundtask", "y"}, false},
		{[]string{"--", "--backgroundtask", "y"}, []string{"--", "--backgroundtask", "y"}, false},
		{[]string{"tasks"}, []string{"tasks"}, false},
	} {
		got, rewritten := rewriteBackgroundTask(tc.in, root)
		if diff := cmp.Diff(tc.want, got); diff != "" || rewritten != tc.rewritten {
			t.Errorf("rewriteBackgroundTask(%q): rewritten %v, want %v (-want +got):\n%s", tc.in, rewritten, tc.rewritten, diff)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, stdout, _ := cliRun(t, nil, "--help")
	for _, cmd := range []string{"run", "tasks", "version"} {
		if !strings.Contains(stdout, cmd) {
			t.Errorf("--help lacks %q", cmd)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

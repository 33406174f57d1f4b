package cli

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// TestDurationFlagsAreStrict: every duration flag and BGTASK_* duration
// takes the documented syntax only. "1e9", "1_000", "+5" and " 5" were
// accepted (`run --timeout 1e9` ran with a 277777h46m40s timeout); each is
// now a usage error quoting the input, before anything runs.
func TestDurationFlagsAreStrict(t *testing.T) {
	t.Parallel()
	// Each command line also holds a mistake found only after the flags
	// are parsed (unknown task, unreachable server, a limit of 0), so that
	// a duration let through fails fast instead of running a task, a
	// server or a benchmark.
	flags := [][]string{
		{"run", "--timeout", "", "nosuch"},
		{"run", "--min-runtime", "", "nosuch"},
		{"--timeout", "", "--backgroundtask", "nosuch"},
		{"submit", "--server", "127.0.0.1:1", "--timeout", "", "ok"},
		{"submit", "--server", "127.0.0.1:1", "--idle-timeout", "", "ok"},
		{"serve", "--max-workers", "0", "--retention", ""},
		{"serve", "--max-workers", "0", "--shutdown-timeout", ""},
		{"serve", "--max-workers", "0", "--heartbeat-interval", ""},
		{"serve", "--max-workers", "0", "--stale-after", ""},
		{"bench", "--scenarios", "nope", "--timeout", ""},
		{"bench", "idle", "--reps", "0", "--duration", ""},
		{"bench", "idle", "--reps", "0", "--segment", ""},
		{"bench", "idle", "--reps", "0", "--work", ""},
		{"bench", "idle", "--reps", "0", "--unit", ""},
	}
	for _, in := range []string{"1e9", "1_000", "+5", " 5", "5 ", "0x10", "1.", ".5", "+1s", "-1"} {
		for _, tmpl := range flags {
			args := make([]string, len(tmpl))
			for i, a := range tmpl {
				args[i] = a
				if a == "" {
					args[i] = in
				}
			}
			code, stdout, stderr := cliRun(t, newRecorder(t).reg, args...)
			if code != bgtask.ExitFailure || stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and one line", args, code, stdout, stderr)
				continue
			}
			if !strings.Contains(stderr, strconv.Quote(in)) || !strings.Contains(stderr, "(see --help)") {
				t.Errorf("%q: stderr %q: want a usage error quoting the input", args, stderr)
			}
		}
	}
}

// TestDurationEnvironmentIsStrict: BGTASK_DEFAULT_TIMEOUT and
// BGTASK_TIMEOUT_GRACE refuse what the flags refuse, naming the variable
// and quoting the value once.
func TestDurationEnvironmentIsStrict(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"BGTASK_DEFAULT_TIMEOUT", "BGTASK_TIMEOUT_GRACE"} {
		for _, in := range []string{"1e9", "1_000", "+5", " 5"} {
			var out, errb bytes.Buffer
			env := map[string]string{"TMPDIR": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), name: in}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			code := Run(ctx, []string{"run", "record"}, &Config{Registry: newRecorder(t).reg, Stdout: &out, Stderr: &errb,
				Getenv: func(k string) string { return env[k] }})
			cancel()
			want := name + "=" + strconv.Quote(in) + ": not "
			if code != bgtask.ExitFailure || !strings.Contains(errb.String(), want) {
				t.Errorf("%s=%q: exit %d, stderr %q; want 1 and %q", name, in, code, errb.String(), want)
			}
		}
	}
}

// TestDurationFlagsAcceptTheDocumentedForms: Go durations and bare
// numbers of seconds, integer or decimal.
func TestDurationFlagsAcceptTheDocumentedForms(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"90", "1.5", "0.25", "0", "90s", "1m30s", "250ms"} {
		code, _, stderr := cliRun(t, newRecorder(t).reg, "run", "--timeout", in, "record")
		if code != bgtask.ExitSuccess {
			t.Errorf("run --timeout %q: exit %d, stderr %q", in, code, stderr)
		}
	}
}

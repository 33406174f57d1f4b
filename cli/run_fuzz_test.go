package cli

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/taskmode"
)

// FuzzRunArgv decodes task-mode command lines, `bgtask run ARGV…` or the
// Firefox spelling `bgtask --backgroundtask ARGV…`, up to the request the
// runner would get (the task is not run). Whatever ARGV is (NUL
// separates its elements): no panic; a decoded request names the task
// given and hands it exactly the arguments after its name, flags included;
// given durations are not negative; a refused command line gets one line
// on stderr and exit 1.
func FuzzRunArgv(f *testing.F) {
	for _, seed := range []struct {
		firefox bool
		argv    string
	}{
		{false, "t\x00a b\x00--flag\x00"},
		{false, "--timeout\x0090s\x00t\x00--timeout\x001"},
		{false, "--min-runtime=1.5\x00--\x00t\x00--"},
		{false, "--workspace\x00/tmp/x\x00--attach-console\x00t"},
		{false, "--timeout\x00-1\x00t"},
		{false, "--timeout\x00NaN\x00t"},
		{false, "--timeout\x001e300\x00t"},
		{false, "--help"},
		{false, "--debug-addr\x00127.0.0.1:0\x00t"},
		{false, ""},
		{true, "t\x00--backgroundtask\x00x"},
		{true, "--timeout=5\x00t\x00-v"},
		{true, ""},
	} {
		f.Add(seed.firefox, seed.argv)
	}
	f.Fuzz(func(t *testing.T, firefox bool, s string) {
		rest := strings.Split(s, "\x00")
		argv := append([]string{"run"}, rest...)
		if firefox {
			argv[0] = "--backgroundtask"
		}
		var got *taskmode.Request
		var stderr bytes.Buffer
		inv := newInvocation(&Config{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }})
		inv.runTask = func(_ context.Context, _ *taskmode.Config, req *taskmode.Request) int {
			got = req
			return 0
		}
		code := inv.execute(context.Background(), slices.Clone(argv))
		if got == nil {
			if code != 0 && (code != 1 || strings.Count(stderr.String(), "\n") != 1) {
				t.Fatalf("%q: exit %d, stderr %q; want 0 (help) or 1 with one line", argv, code, stderr.String())
			}
			return
		}
		if code != 0 {
			t.Fatalf("%q: decoded, then exit %d", argv, code)
		}
		// The task's arguments are the tail of the command line, intact,
		// right after its name.
		n := len(got.Args)
		if n >= len(rest) || !slices.Equal(rest[len(rest)-n:], got.Args) || rest[len(rest)-n-1] != got.Name {
			t.Fatalf("%q: decoded name %q args %q, want a name followed by the untouched tail of the command line", argv, got.Name, got.Args)
		}
		if got.Timeout != nil && *got.Timeout < 0 || got.MinRuntime != nil && *got.MinRuntime < 0 {
			t.Fatalf("%q: negative duration decoded (%v, %v)", argv, got.Timeout, got.MinRuntime)
		}
	})
}

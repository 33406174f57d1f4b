package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bgtask/bgtask"
)

// A flag given with an empty value is refused on every command, not taken
// for its default (--data-dir ”), for no value (--tags ”), or sent on
// (--priority ”, --idempotency-key ”); numbers that do not parse are
// refused without the Go parser's words (a tester saw "strconv.ParseInt:
// parsing ..."); an empty task name is a usage error, not a 400 from the
// server.
func TestFlagValueMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"serve", "--data-dir", ""}, "bgtask: serve: --data-dir is empty: give a value, or leave the flag out for its default"},
		{[]string{"serve", "--tags", ""}, "serve: --tags is empty"},
		{[]string{"serve", "--store", " "}, "serve: --store is empty"},
		{[]string{"serve", "--log-level", ""}, "serve: --log-level is empty"},
		{[]string{"submit", "--priority", "", "x"}, "submit: --priority is empty"},
		{[]string{"submit", "--idempotency-key", "  ", "x"}, "submit: --idempotency-key is empty"},
		{[]string{"run", "--debug-addr", "", "record"}, "run: --debug-addr is empty"},
		{[]string{"list", "--state", ""}, "list: --state is empty"},
		{[]string{"list", "--cursor", ""}, "list: --cursor is empty"},
		{[]string{"bench", "--cpuprofile", ""}, "bench: --cpuprofile is empty"},
		{[]string{"submit", ""}, "submit: the task name is empty (bgtask tasks --server URL lists the names)"},
		{[]string{"submit", " ", "arg"}, "submit: the task name is empty"},
		{[]string{"list", "--limit", "abc"}, `bgtask: list: --limit abc: want an integer`},
		{[]string{"serve", "--max-workers", "99999999999999999999"}, "serve: --max-workers 99999999999999999999: too large"},
		{[]string{"bench", "--n", "-99999999999999999999"}, "bench: --n -99999999999999999999: too small"},
		// Go's number syntax: 010 was 8, 0x10 16, 1_0 10 (a tester).
		{[]string{"list", "--limit", "0x10"}, "list: --limit 0x10: want an integer"},
		{[]string{"list", "--limit", "0b11"}, "list: --limit 0b11: want an integer"},
		{[]string{"list", "--limit", "1_0"}, "list: --limit 1_0: want an integer"},
		{[]string{"list", "--limit", "+5"}, "list: --limit +5: want an integer"},
		{[]string{"bench", "idle", "--reps", "0x0"}, "bench idle: --reps 0x0: want an integer"},
		{[]string{"serve", "--max-workers", "1.5"}, "serve: --max-workers 1.5: want an integer"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := cliRun(t, newRecorder(t).reg, tc.args...)
			if code != bgtask.ExitFailure || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) || strings.Count(stderr, "\n") != 1 ||
				!strings.HasSuffix(stderr, "(see --help)\n") || strings.Contains(stderr, "strconv") {
				t.Fatalf("stderr %q: want one usage line with %q", stderr, tc.stderr)
			}
		})
	}
}

// A leading zero is decimal: --max-workers 010 is 10 workers, not 8.
func TestIntegerFlagsAreDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{{"010", 10}, {"0", 0}, {"000", 0}, {"-007", -7}, {"42", 42}} {
		var v int
		fl := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fl.IntVar(&v, "n", 1, "")
		root := &cobra.Command{Use: "t"}
		root.Flags().AddFlagSet(fl)
		decimalInts(root)
		if err := root.Flags().Set("n", tc.in); err != nil || v != tc.want {
			t.Errorf("--n %s: %d, %v; want %d", tc.in, v, err, tc.want)
		}
	}
}

package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The values at the limits of bench's and bench idle's flags are taken:
// the checks refuse only beyond them. The checks alone run, since the
// values would run a benchmark.
func TestBenchFlagsAtTheLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{},
		{"--payload", "0"},
		{"--payload", "1048575", "--batch", "255"},
		{"--n", "1000000000", "--rss-tasks", "1000000000", "--latency-samples", "1000000", "--sse-clients", "4096", "--producers", "10000"},
		{"--batch", "100000", "--concurrency", "100000", "--reps", "1000"},
		{"--scenarios", " drain , batch "},
		{"--store", "redis://127.0.0.1:1/0?prefix=mine:&dial_timeout=1s"},
		{"--store", "rediss://u:pw@127.0.0.1:1"},
		{"--dir", dir},
		{"--cpuprofile", dir, "--scenarios", "enqueue,drain-sse"},
		{"--cpuprofile", dir, "--scenarios", "sse-floor"},
		{"--timeout", "1ns"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var f benchFlags
			fl := pflag.NewFlagSet("bench", pflag.ContinueOnError)
			f.register(fl)
			if err := fl.Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := checkBenchFlags(fl, &f); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	for _, args := range [][]string{
		{},
		{"--procs", "1", "--base-procs", "1024"},
		{"--duration", "10m", "--segment", "10m"},
		{"--segment", "101ms", "--load", "1", "--reps", "100", "--quiet-wait", "0"},
		{"--strategy", "percore-strict", "--compare", "percore-flat"},
		{"--strategy", "coop", "--compare", "coop-idleprio"},
	} {
		t.Run("idle "+strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var f benchIdleFlags
			fl := pflag.NewFlagSet("idle", pflag.ContinueOnError)
			f.register(fl)
			if err := fl.Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := f.check(fl); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

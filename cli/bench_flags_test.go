package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
)

// `bgtask bench` runs each scenario in a child process started from
// os.Executable(): in this package's tests, the test binary. A refusal
// that does not happen would start it with bench's arguments, and it would
// run every test again. It exits at once instead, so that the parent
// reports an error the test does not expect.
// Only TestBenchRunsChildren's runs, whose --dir ends in
// benchChildMarker, are run (as bgtask would).
func init() {
	if len(os.Args) < 2 || os.Args[1] != "bench" {
		return
	}
	for i, a := range os.Args {
		if a == "--dir" && i+1 < len(os.Args) && filepath.Base(os.Args[i+1]) == benchChildMarker {
			os.Exit(Run(context.Background(), os.Args[1:], &Config{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}))
		}
	}
	fmt.Fprintln(os.Stderr, "cli test binary started as a bench child: a refusal under test did not happen")
	os.Exit(3)
}

// benchChildMarker is the name of the --dir of the bench runs the test
// binary, started as bench's child, runs.
const benchChildMarker = "bench-child-ok"

// The parent's command line for each child run is one the child
// accepts: it gave --store "" for the embedded store, which every command
// now refuses, so that no bench run on the embedded store got anywhere.
func TestBenchRunsChildren(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), benchChildMarker)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cliRun(t, nil, "bench", "--reps", "1", "--scenarios", "enqueue,batch", "--n", "3", "--payload", "0", "--dir", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	for _, want := range []string{"run 1: scenario=enqueue n=3 ", "run 1: scenario=batch n=3 ", "summary (median of runs):\nscenario=enqueue n=3 "} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("stdout %q: want %q", stdout, want)
		}
	}
}

// Every refusal of bench's and bench idle's flags names the flag and the
// value given, is one line and a usage error, and comes before anything
// runs (no benchmark: the test binary refuses to be a bench child, and
// bench idle would take 45 s).
func TestBenchFlagsRefused(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	prof := t.TempDir()
	// Just over the cap, max(1024, 4 × cores): a run that took it (the
	// old code did) sets GOMAXPROCS in this process.
	overProcs := strconv.Itoa(max(1024, 4*runtime.NumCPU()) + 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// An explicit value that means "use the default" in bench.Config
		// was replaced by it: 1,000,000 tasks, 2000 samples, 200 clients.
		{[]string{"--rss-tasks", "0"}, "bench: --rss-tasks 0: want at least 1"},
		{[]string{"--latency-samples", "0"}, "bench: --latency-samples 0: want at least 1"},
		{[]string{"--latency-samples", "-1"}, "bench: --latency-samples -1: want at least 1"},
		{[]string{"--sse-clients", "0"}, "bench: --sse-clients 0: want at least 1"},
		{[]string{"--sse-clients", "-1"}, "bench: --sse-clients -1: want at least 1"},
		{[]string{"--timeout", "0"}, "bench: --timeout 0s: want more than 0"},
		// One combined message for six flags, and no "(see --help)".
		{[]string{"--n", "0"}, "bench: --n 0: want at least 1"},
		{[]string{"--reps", "-1"}, "bench: --reps -1: want at least 1"},
		{[]string{"--batch", "0"}, "bench: --batch 0: want at least 1"},
		{[]string{"--concurrency", "-3"}, "bench: --concurrency -3: want at least 1"},
		{[]string{"--producers", "0"}, "bench: --producers 0: want at least 1"},
		{[]string{"--payload", "-1"}, "bench: --payload -1: want at least 0"},
		// Checked only in the child run, after the first runs.
		{[]string{"--payload", "2000000"}, "bench: --payload 2000000: want at most 1048575"},
		{[]string{"--payload", "1048576"}, "bench: --payload 1048576: want at most 1048575"},
		// Absurd amounts of memory: now capped.
		{[]string{"--n", "2000000000"}, "bench: --n 2000000000: want at most 1000000000"},
		{[]string{"--rss-tasks", "2000000000"}, "bench: --rss-tasks 2000000000: want at most 1000000000"},
		{[]string{"--latency-samples", "1000000000"}, "bench: --latency-samples 1000000000: want at most 1000000"},
		{[]string{"--sse-clients", "100000"}, "bench: --sse-clients 100000: want at most 4096"},
		{[]string{"--producers", "100000"}, "bench: --producers 100000: want at most 10000"},
		// Refused by NewManager in the child run.
		{[]string{"--concurrency", "1000000"}, "bench: --concurrency 1000000: want at most 100000"},
		{[]string{"--batch", "1000000000"}, "bench: --batch 1000000000: want at most 100000"},
		{[]string{"--payload", "1048575"}, "bench: --batch 1000 with --payload 1048575: 1048576000 bytes of arguments per batch, want at most 256 MiB"},
		// Exited 0 with an empty summary; accepted an empty element; ran
		// a scenario twice per rep and mixed the runs in the summary.
		{[]string{"--scenarios", ""}, "bench: --scenarios is empty: give a value, or leave the flag out for its default"},
		{[]string{"--scenarios", " , "}, `bench: --scenarios " , ": scenario 1 is empty`},
		{[]string{"--scenarios", "enqueue,,batch"}, `bench: --scenarios "enqueue,,batch": scenario 2 is empty`},
		{[]string{"--scenarios", "enqueue,"}, `bench: --scenarios "enqueue,": scenario 2 is empty`},
		{[]string{"--scenarios", "enqueue,enqueue"}, `bench: --scenarios "enqueue,enqueue": "enqueue" given twice`},
		{[]string{"--scenarios", "drain, batch ,drain"}, `bench: --scenarios "drain, batch ,drain": "drain" given twice`},
		{[]string{"--scenarios", "nope"}, `bench: --scenarios "nope": unknown scenario "nope" (want enqueue,batch,`},
		// The store URL as given, checked before anything runs.
		{[]string{"--store", "garbage"}, `bench: --store "garbage": want redis://HOST:PORT/DB or rediss://HOST:PORT/DB`},
		{[]string{"--store", "http://127.0.0.1:1/0"}, `bench: --store "http://127.0.0.1:1/0": want redis://`},
		{[]string{"--store", "redis:///0"}, `bench: --store "redis:///0": no host`},
		{[]string{"--store", "redis://127.0.0.1:1/x"}, `bench: --store "redis://127.0.0.1:1/x": invalid database "x"`},
		{[]string{"--store", "redis://127.0.0.1:1/0?prefix="}, `bench: --store "redis://127.0.0.1:1/0?prefix=": want at most one ?prefix=, not empty`},
		{[]string{"--store", "redis://127.0.0.1:1/0?nope=1"}, `bench: --store "redis://127.0.0.1:1/0?nope=1": unexpected option: nope`},
		{[]string{"--store", "redis://u:s3cret@127.0.0.1:1/0?nope=1"}, `bench: --store "redis://u:xxxxx@127.0.0.1:1/0?nope=1": unexpected option`},
		{[]string{"--store", "redis://u:s3cret@127.0.0.1:x/0"}, `bench: --store (unparsable URL): invalid port`},
		// An explicit empty --dir meant a temporary one; a missing one
		// failed in the child.
		{[]string{"--dir", ""}, "bench: --dir is empty: give a value, or leave the flag out for its default"},
		{[]string{"--dir", missing}, fmt.Sprintf("bench: --dir %q: want an existing directory", missing)},
		// Nothing profiled, silently.
		{[]string{"--cpuprofile", prof, "--scenarios", "enqueue,latency"}, fmt.Sprintf(`bench: --cpuprofile %q: profiles the drain scenarios and sse-floor only, and --scenarios "enqueue,latency" has none of them`, prof)},

		// bench idle: the internal names of idlebench.Config, no
		// "(see --help)".
		{[]string{"idle", "--strategy", "bogus"}, `bench idle: --strategy "bogus": want one of coop, coop-idleprio,`},
		{[]string{"idle", "--strategy", ""}, "bench idle: --strategy is empty: give a value, or leave the flag out for its default"},
		{[]string{"idle", "--compare", "bogus"}, `bench idle: --compare "bogus": want one of coop,`},
		{[]string{"idle", "--compare", ""}, "bench idle: --compare is empty: give a value, or leave the flag out for its default"},
		{[]string{"idle", "--compare", "coop"}, `bench idle: --compare "coop": differs from --strategy "percore-headroom" in workers`},
		// An explicit 0 meant the default; a huge one allocates a P each.
		{[]string{"idle", "--procs", "0"}, "bench idle: --procs 0: want at least 1"},
		{[]string{"idle", "--procs", "-2"}, "bench idle: --procs -2: want at least 1"},
		{[]string{"idle", "--base-procs", "0"}, "bench idle: --base-procs 0: want at least 1"},
		{[]string{"idle", "--base-procs", "-1"}, "bench idle: --base-procs -1: want at least 1"},
		{[]string{"idle", "--procs", overProcs}, "bench idle: --procs " + overProcs + ": want at most"},
		{[]string{"idle", "--base-procs", overProcs}, "bench idle: --base-procs " + overProcs + ": want at most"},
		// A long --duration plans every arrival ahead; a --segment longer
		// than --duration measured a whole segment per mode instead.
		{[]string{"idle", "--duration", "1000h"}, "bench idle: --duration 1000h0m0s: want at most 10m0s"},
		{[]string{"idle", "--segment", "20s"}, "bench idle: --segment 20s: want at most --duration (10s)"},
		{[]string{"idle", "--reps", "0"}, "bench idle: --reps 0: want at least 1"},
		{[]string{"idle", "--reps", "101"}, "bench idle: --reps 101: want at most 100"},
		{[]string{"idle", "--load", "NaN"}, "bench idle: --load NaN: want at least 0.01 and at most 1"},
		{[]string{"idle", "--load", "+Inf"}, "bench idle: --load +Inf: want at least 0.01 and at most 1"},
		{[]string{"idle", "--load", "0"}, "bench idle: --load 0: want at least 0.01 and at most 1"},
		{[]string{"idle", "--load", "-0.5"}, "bench idle: --load -0.5: want at least 0.01 and at most 1"},
		{[]string{"idle", "--load", "1.5"}, "bench idle: --load 1.5: want at least 0.01 and at most 1"},
		// 1e-300 offered 0 req/s, and the run waited for ever (a tester).
		{[]string{"idle", "--load", "1e-300"}, "bench idle: --load 1e-300: want at least 0.01 and at most 1"},
		{[]string{"idle", "--duration", "0"}, "bench idle: --duration 0s: want more than 0"},
		{[]string{"idle", "--segment", "0"}, "bench idle: --segment 0s: want more than 0"},
		{[]string{"idle", "--work", "0"}, "bench idle: --work 0s: want more than 0"},
		{[]string{"idle", "--unit", "0"}, "bench idle: --unit 0s: want more than 0"},
		{[]string{"idle", "--segment", "10ms"}, "bench idle: --segment 10ms: want more than the 100ms at the start of each segment that is not measured"},
		// pflag's own refusal (its wording is the root command's).
		{[]string{"idle", "--quiet-wait", "-1s"}, `...invalid argument "-1s" for "--quiet-wait" flag: "-1s": duration must not be negative`},
	} {
		args := append([]string{"bench"}, tc.args...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := benchRefusal(t, args...)
			if code != bgtask.ExitFailure || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and nothing", code, stdout, stderr)
			}
			start, ok := strings.CutPrefix(tc.want, "...")
			if !ok {
				start = "bgtask: " + tc.want
			}
			if !strings.Contains(stderr, start) || !ok && !strings.HasPrefix(stderr, start) || !strings.HasSuffix(stderr, " (see --help)\n") || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("stderr %q: want one line %q ... (see --help)", stderr, start)
			}
			if strings.Contains(stderr, "s3cret") || strings.Contains(stderr, "prefix=bgtask-bench") || strings.Contains(stderr, "Config.") {
				t.Fatalf("stderr %q: a password, the bench's own prefix or an internal name", stderr)
			}
		})
	}
}

// benchRefusal runs the command line in-process like cliRun, for a
// refusal: a run that was not refused (bench idle runs in this process)
// ends after 5 s.
func benchRefusal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"TMPDIR": t.TempDir(), "XDG_STATE_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code = Run(ctx, args, &Config{
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

// openBenchRedis keeps the user's ?prefix= as the parent of the run's own
// prefix, deletes only the run's keys on close, and quotes the URL as the
// user gave it. The bench appended "&prefix=..." to the URL: Redis used
// the user's prefix alone, and the close purged every key under it.
func TestBenchRedisPrefix(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{NoPersistence: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Set(ctx, "mine:keep", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	userURL := srv.URL(0) + "?prefix=mine:"
	st, closeStore, err := openBenchRedis(ctx, userURL, "bgtask-bench-1-1:")
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "mine:bgtask-bench-1-1:x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_ = st
	closeStore()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "mine:keep" {
		t.Fatalf("keys after the run: %q; want only mine:keep (the user's, outside the run's prefix)", keys)
	}

	// A Redis that does not answer: the error quotes the URL as given.
	bad := "redis://127.0.0.1:1/0?prefix=mine:"
	_, _, err = openBenchRedis(ctx, bad, "bgtask-bench-1-2:")
	if err == nil || !strings.Contains(err.Error(), "cannot open the store at "+bad+":") || strings.Contains(err.Error(), "bgtask-bench") {
		t.Fatalf("error %v: want it to quote %q, without the bench's prefix", err, bad)
	}
}

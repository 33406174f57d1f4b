package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/bench"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/redisstore"
)

type benchFlags struct {
	cfg       bench.Config
	scenarios string
	reps      int
	dir       string
	store     string
	json      bool
	child     bool
	profile   string
}

func newBenchCmd(inv *invocation) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the task manager on the embedded store or Redis (enqueue, batch, drain, latency, rss)",
		Long: `bench measures the task manager with no-op tasks on a fresh embedded store
(durable writes) per run, like river bench; with --store redis://HOST:PORT/DB,
on that Redis instead, each run under a key prefix of its own that is
deleted afterwards:

  enqueue  Submit one by one (--producers goroutines): tasks/s
  batch    SubmitMany in batches of --batch: tasks/s
  drain    N tasks stored, then a manager with --concurrency slots runs them: tasks/s
  drain-stalled   drain with one subscriber that never reads
  drain-sse-stalled  drain with --sse-clients clients on /v1/events that read nothing
  drain-sse       drain with --sse-clients clients reading /v1/events over HTTP
  sse-floor       no manager: the bytes of drain-sse's streams written to as many
                  clients, 128 KiB at a time (what moving them costs at the least)
  latency  low load, one task in the system at a time (the next is submitted
           after the previous one finished): Submit call -> first line of the
           task, p50/p95/p99
  rss      --rss-tasks tasks run through with 1 s retention: resident set at 10%,
           50% and 100%, and the peak

Every run is a fresh child process (so its peak RSS is its own); the runs
of all scenarios alternate (run 1 of each, then run 2 of each, ...,
each rep starting one scenario further on), so that a busy moment of the
machine and the previous run's leftovers touch them alike; the summary gives the
median of --reps runs, and the median ratio of each drain-* variant to
drain within the same rep. Use "bgtask bench idle" for the idle
scheduling benchmark.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inv.bench(cmd.Context(), cmd.Flags(), &f)
		},
	}
	f.register(cmd.Flags())
	cmd.AddCommand(newBenchIdleCmd(inv))
	return cmd
}

// register defines bench's flags on fl, writing into f.
func (f *benchFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.scenarios, "scenarios", strings.Join(bench.All, ","), "comma-separated scenarios, each at most once")
	fl.IntVar(&f.cfg.N, "n", 20000, fmt.Sprintf("tasks per enqueue, batch and drain run (1 to %d)", bench.MaxTasks))
	fl.IntVar(&f.cfg.Concurrency, "concurrency", 100, fmt.Sprintf("worker slots of the manager (1 to %d)", bgtask.MaxMaxWorkers))
	fl.IntVar(&f.cfg.Producers, "producers", 1, fmt.Sprintf("goroutines submitting in the enqueue scenario (1 to %d)", bench.MaxProducers))
	fl.IntVar(&f.cfg.BatchSize, "batch", 1000, fmt.Sprintf("SubmitMany batch size (1 to %d, and --batch × (--payload+1) at most %d MiB)", bench.MaxBatchSize, bench.MaxBatchBytes>>20))
	fl.IntVar(&f.cfg.Payload, "payload", 100, fmt.Sprintf("bytes of each task's argument (0 to %d: bgtask.MaxArgsBytes less 1 for the argument's separator)", bench.MaxPayload))
	fl.IntVar(&f.cfg.LatencySamples, "latency-samples", 2000, fmt.Sprintf("measured tasks in the latency scenario (1 to %d)", bench.MaxLatencySamples))
	fl.IntVar(&f.cfg.RSSTasks, "rss-tasks", 1000000, fmt.Sprintf("tasks run through in the rss scenario (1 to %d)", bench.MaxTasks))
	fl.IntVar(&f.cfg.SSEClients, "sse-clients", 200, fmt.Sprintf("clients of /v1/events in drain-sse and drain-sse-stalled, and of sse-floor (1 to %d)", bench.MaxSSEClients))
	durationVar(fl, &f.cfg.Timeout, "timeout", 120*time.Second, "cap on each run (more than 0)")
	fl.IntVar(&f.reps, "reps", 3, "runs of each scenario (at least 1); the summary reports the median")
	fl.StringVar(&f.dir, "dir", "", "existing directory for the stores (default: a temporary directory)")
	fl.StringVar(&f.store, "store", "", "run on the Redis at this URL (redis://HOST:PORT/DB, rediss://…) instead of the embedded store; each run uses a key prefix of its own (after the URL's ?prefix=, if any) and deletes it afterwards")
	fl.BoolVar(&f.json, "json", false, "print results as JSON lines")
	fl.StringVar(&f.profile, "cpuprofile", "", "write a CPU profile of the timed part of each drain* and sse-floor run into `DIR` (SCENARIO-REP.pprof)")
	fl.BoolVar(&f.child, "child", false, "internal: run one scenario in this process")
	_ = fl.MarkHidden("child")
}

func (inv *invocation) bench(ctx context.Context, fl *pflag.FlagSet, f *benchFlags) error {
	if err := checkBenchFlags(fl, f); err != nil {
		return err
	}
	dir := f.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "bgtask-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if f.child {
		return inv.benchChild(ctx, f, dir)
	}
	if inv.own {
		// A stop signal ends the run in progress (its child process is
		// killed) and removes the temporary directory: the child used to
		// go on under PID 1, filling it.
		var signalled func() (os.Signal, bool)
		var stop func()
		ctx, signalled, stop = stopOnSignal(ctx)
		defer stop()
		err := inv.benchParent(ctx, f, dir)
		if s, ok := signalled(); ok {
			inv.diag("bench: stopped by %v; the run in progress was ended and its files removed", s)
			return signalExit(s)
		}
		return err
	}
	return inv.benchParent(ctx, f, dir)
}

// benchParent runs every scenario and rep in child processes and prints
// the results and their summary.
func (inv *invocation) benchParent(ctx context.Context, f *benchFlags, dir string) error {
	if f.profile != "" {
		if err := os.MkdirAll(f.profile, 0o755); err != nil {
			return err
		}
	}
	var all []bench.Result
	scs := f.cfg.Scenarios
	for rep := range f.reps {
		// Each rep starts one scenario further on, so that no scenario
		// always runs right after the same other one (a run leaves the
		// disk flushing and caches cold for the next).
		for k := range scs {
			sc := scs[(rep+k)%len(scs)]
			r, err := inv.benchRun(ctx, f, sc, dir, rep+1)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", sc, rep+1, err)
			}
			if f.json {
				_ = json.NewEncoder(inv.stdout).Encode(r)
			} else {
				fmt.Fprintf(inv.stdout, "run %d: %s\n", rep+1, r.Line())
			}
			all = append(all, r)
		}
	}
	if !f.json {
		inv.benchSummary(all)
	}
	return nil
}

// benchRun runs one scenario in a child process and parses its result.
func (inv *invocation) benchRun(ctx context.Context, f *benchFlags, sc, dir string, rep int) (bench.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return bench.Result{}, err
	}
	args := []string{"bench", "--child", "--json", "--scenarios", sc, "--dir", dir,
		"--n", strconv.Itoa(f.cfg.N), "--concurrency", strconv.Itoa(f.cfg.Concurrency),
		"--producers", strconv.Itoa(f.cfg.Producers), "--batch", strconv.Itoa(f.cfg.BatchSize),
		"--payload", strconv.Itoa(f.cfg.Payload), "--latency-samples", strconv.Itoa(f.cfg.LatencySamples),
		"--rss-tasks", strconv.Itoa(f.cfg.RSSTasks), "--sse-clients", strconv.Itoa(f.cfg.SSEClients),
		"--timeout", f.cfg.Timeout.String()}
	if f.store != "" {
		// Only when given: every command refuses a flag given empty.
		args = append(args, "--store", f.store)
	}
	if f.profile != "" {
		// The child writes its profile to this file.
		args = append(args, "--cpuprofile", filepath.Join(f.profile, fmt.Sprintf("%s-%d.pprof", sc, rep)))
	}
	cctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, inv.stderr
	if err := cmd.Run(); err != nil {
		return bench.Result{}, err
	}
	sc2 := bufio.NewScanner(&out)
	for sc2.Scan() {
		var r bench.Result
		if json.Unmarshal(sc2.Bytes(), &r) == nil && r.Scenario == sc {
			return r, nil
		}
	}
	return bench.Result{}, fmt.Errorf("no result from the child process")
}

// benchChild runs the scenarios in this process, each on a fresh store.
func (inv *invocation) benchChild(ctx context.Context, f *benchFlags, dir string) error {
	cfg := f.cfg
	cfg.CPUProfile = f.profile
	cfg.Out = bytes.NewBuffer(nil)
	cfg.SyncDir = dir
	runs := 0
	cfg.OpenStore = func(ctx context.Context) (store.Store, func(), error) {
		if f.store != "" {
			runs++
			return openBenchRedis(ctx, f.store, fmt.Sprintf("bgtask-bench-%d-%d:", os.Getpid(), runs))
		}
		d, err := os.MkdirTemp(dir, "store-")
		if err != nil {
			return nil, nil, err
		}
		s, err := boltstore.New(d, nil)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close(); os.RemoveAll(d) }, nil
	}
	res, err := bench.Run(ctx, cfg)
	for _, r := range res {
		_ = json.NewEncoder(inv.stdout).Encode(r)
	}
	return err
}

// benchSummary prints the median of each scenario's runs.
func (inv *invocation) benchSummary(all []bench.Result) {
	fmt.Fprintln(inv.stdout, "\nsummary (median of runs):")
	by := map[string][]bench.Result{}
	var order []string
	for _, r := range all {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	for _, sc := range order {
		rs := by[sc]
		med := func(f func(bench.Result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		m := bench.Result{
			Scenario:    sc,
			N:           int(med(func(r bench.Result) float64 { return float64(r.N) })),
			Elapsed:     time.Duration(med(func(r bench.Result) float64 { return float64(r.Elapsed) })),
			TasksPerSec: med(func(r bench.Result) float64 { return r.TasksPerSec }),
			AckedPerSec: med(func(r bench.Result) float64 { return r.AckedPerSec }),
			P50:         time.Duration(med(func(r bench.Result) float64 { return float64(r.P50) })),
			P95:         time.Duration(med(func(r bench.Result) float64 { return float64(r.P95) })),
			P99:         time.Duration(med(func(r bench.Result) float64 { return float64(r.P99) })),
			Max:         time.Duration(med(func(r bench.Result) float64 { return float64(r.Max) })),
			WakeP50:     time.Duration(med(func(r bench.Result) float64 { return float64(r.WakeP50) })),
			WakeP99:     time.Duration(med(func(r bench.Result) float64 { return float64(r.WakeP99) })),
			SyncP50:     time.Duration(med(func(r bench.Result) float64 { return float64(r.SyncP50) })),
			SyncP99:     time.Duration(med(func(r bench.Result) float64 { return float64(r.SyncP99) })),
			PeakKiB:     int64(med(func(r bench.Result) float64 { return float64(r.PeakKiB) })),
			CPU:         time.Duration(med(func(r bench.Result) float64 { return float64(r.CPU) })),
			StreamBytes: int64(med(func(r bench.Result) float64 { return float64(r.StreamBytes) })),
		}
		for i := range rs[0].RSSKiB {
			m.RSSKiB = append(m.RSSKiB, int64(med(func(r bench.Result) float64 {
				if i < len(r.RSSKiB) {
					return float64(r.RSSKiB[i])
				}
				return 0
			})))
		}
		fmt.Fprintln(inv.stdout, m.Line())
	}
	for _, sc := range []string{bench.DrainStalled, bench.DrainSSEStalled, bench.DrainSSE} {
		if ratio, ok := drainRatio(by[bench.Drain], by[sc]); ok {
			fmt.Fprintf(inv.stdout, "ratio %s/drain tasks_per_s=%.3f (median of %d same-rep ratios)\n", sc, ratio, min(len(by[bench.Drain]), len(by[sc])))
		}
	}
}

// drainRatio is the median over reps of other's drain rate divided by the
// plain drain's rate in the same rep.
func drainRatio(base, other []bench.Result) (float64, bool) {
	n := min(len(base), len(other))
	if n == 0 {
		return 0, false
	}
	rs := make([]float64, n)
	for i := range n {
		rs[i] = other[i].TasksPerSec / base[i].TasksPerSec
	}
	slices.Sort(rs)
	return rs[n/2], true
}

// openBenchRedis opens the Redis at storeURL (checked by
// checkBenchStore) under its ?prefix=, if any, followed by prefix;
// closing it deletes the keys under that prefix. Errors quote storeURL
// as the user gave it.
func openBenchRedis(ctx context.Context, storeURL, prefix string) (store.Store, func(), error) {
	_, userPrefix, err := benchStoreURL(storeURL)
	if err != nil {
		return nil, nil, err
	}
	// Config.Prefix takes the place of the URL's ?prefix=, so that
	// redisstore's errors quote the URL as given.
	s, err := redisstore.New(ctx, storeURL, &redisstore.Config{Prefix: userPrefix + prefix})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the store at %s: %w", redisstore.RedactURL(storeURL), err)
	}
	return s, func() {
		_, _ = s.Purge(context.Background())
		s.Close()
	}, nil
}

// checkBenchFlags refuses, before anything runs, each flag value that is
// out of range, naming the flag and the value as given: a value given is
// used or refused, never replaced by a default.
func checkBenchFlags(fl *pflag.FlagSet, f *benchFlags) error {
	scs, err := parseScenarios(f.scenarios)
	if err != nil {
		return err
	}
	f.cfg.Scenarios = scs
	for _, c := range []struct {
		name    string
		v, from int
		to      int
		why     string
	}{
		{"n", f.cfg.N, 1, bench.MaxTasks, ""},
		{"concurrency", f.cfg.Concurrency, 1, bgtask.MaxMaxWorkers, " (bgtask.MaxMaxWorkers)"},
		{"producers", f.cfg.Producers, 1, bench.MaxProducers, ""},
		{"batch", f.cfg.BatchSize, 1, bench.MaxBatchSize, ""},
		{"payload", f.cfg.Payload, 0, bench.MaxPayload, " (with the byte bgtask.MaxArgsBytes counts per argument, 1 MiB)"},
		{"latency-samples", f.cfg.LatencySamples, 1, bench.MaxLatencySamples, ""},
		{"rss-tasks", f.cfg.RSSTasks, 1, bench.MaxTasks, ""},
		{"sse-clients", f.cfg.SSEClients, 1, bench.MaxSSEClients, ""},
		{"reps", f.reps, 1, math.MaxInt, ""},
	} {
		switch {
		case c.v < c.from:
			return usagef("bench: --%s %d: want at least %d", c.name, c.v, c.from)
		case c.v > c.to:
			return usagef("bench: --%s %d: want at most %d%s", c.name, c.v, c.to, c.why)
		}
	}
	if b := int64(f.cfg.BatchSize) * int64(f.cfg.Payload+1); b > bench.MaxBatchBytes {
		return usagef("bench: --batch %d with --payload %d: %d bytes of arguments per batch, want at most %d MiB (a smaller --batch)",
			f.cfg.BatchSize, f.cfg.Payload, b, bench.MaxBatchBytes>>20)
	}
	if f.cfg.Timeout <= 0 {
		return usagef("bench: --timeout %v: want more than 0", f.cfg.Timeout)
	}
	if fl.Changed("dir") {
		if fi, err := os.Stat(f.dir); err != nil || !fi.IsDir() {
			return usagef("bench: --dir %q: want an existing directory", f.dir)
		}
	}
	if f.store != "" {
		if _, _, err := benchStoreURL(f.store); err != nil {
			return usageError{err}
		}
	}
	if f.profile != "" && !f.child && !slices.ContainsFunc(scs, isProfiled) {
		return usagef("bench: --cpuprofile %q: profiles the drain scenarios and sse-floor only, and --scenarios %q has none of them", f.profile, f.scenarios)
	}
	return nil
}

// isProfiled reports whether sc is one of the scenarios --cpuprofile
// profiles: drain, its variants and sse-floor.
func isProfiled(sc string) bool {
	return sc == bench.Drain || sc == bench.DrainStalled || sc == bench.DrainSSE || sc == bench.DrainSSEStalled || sc == bench.SSEFloor
}

// parseScenarios splits --scenarios at commas (around which spaces do not
// count) and refuses an empty list, an empty element, an unknown name and
// a name given twice.
func parseScenarios(s string) ([]string, error) {
	want := strings.Join(bench.All, ",")
	if strings.TrimSpace(s) == "" {
		return nil, usagef("bench: --scenarios %q: want one or more of %s", s, want)
	}
	var out []string
	for i, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			return nil, usagef("bench: --scenarios %q: scenario %d is empty (want comma-separated scenarios from %s)", s, i+1, want)
		case !slices.Contains(bench.All, p):
			return nil, usagef("bench: --scenarios %q: unknown scenario %q (want %s)", s, p, want)
		case slices.Contains(out, p):
			return nil, usagef("bench: --scenarios %q: %q given twice (--reps sets the runs of each)", s, p)
		}
		out = append(out, p)
	}
	return out, nil
}

// benchStoreURL checks --store, a redis:// or rediss:// URL, without
// connecting, and returns it without its ?prefix= parameter, and that
// prefix. Its errors quote the URL as given (password redacted).
func benchStoreURL(raw string) (base, prefix string, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("bench: --store %q: %s", redisstore.RedactURL(raw), fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password and all
		}
		if !strings.Contains(raw, "@") {
			return "", "", fmt.Errorf("bench: --store %q: not a URL: %v", raw, err)
		}
		return "", "", fmt.Errorf("bench: --store (unparsable URL): %v", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "", "", bad("want redis://HOST:PORT/DB or rediss://HOST:PORT/DB (leave --store out for the embedded store)")
	}
	if u.Hostname() == "" {
		return "", "", bad("no host (want %s://HOST:PORT/DB)", u.Scheme)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return "", "", bad("invalid database %q (want a number from 0)", db)
		}
	}
	q := u.Query()
	if ps := q["prefix"]; len(ps) > 0 {
		if len(ps) > 1 || ps[0] == "" {
			return "", "", bad("want at most one ?prefix=, not empty (leave it out for none)")
		}
		prefix = ps[0]
		q.Del("prefix")
		u.RawQuery = q.Encode()
	}
	base = u.String()
	if _, err := redis.ParseURL(base); err != nil {
		return "", "", bad("%s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	return base, prefix, nil
}

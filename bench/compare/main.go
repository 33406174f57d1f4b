// Command benchanchors measures background-task systems side by side with the
// same scenarios and the same timing code:
//
//	enqueue  A: insert N no-op tasks from one process (each insert path) -> tasks/s
//	drain    B: N tasks already stored; start one worker with concurrency C and
//	            time until all N handlers ran (and until the store reports
//	            nothing outstanding) -> tasks/s
//	latency  C: one task at a time, each enqueued right after the previous
//	            one's handler started; enqueue-call-start -> handler-start
//	            p50/p95/p99
//	idle       : CPU burnt by an idle worker (cost of polling knobs)
//	(D, peak RSS: every measurement runs in a fresh child process, which
//	reports its /proc/self/status VmHWM at the end; for drain that is the
//	worker's peak RSS.)
//
// The orchestrator (this process without -child) resets the stores, preloads
// tasks for drain, and runs each measurement in a child process so that CPU and
// RSS numbers belong to that measurement alone. Every loop is capped in count
// and in time (-timeout per measurement), so the run always ends by itself.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

type config struct {
	systems   string
	scenarios string
	n         int
	c         int
	latN      int
	latWarmup int
	latGap    time.Duration
	batch     int
	producers int
	payload   int
	reps      int
	timeout   time.Duration
	idleFor   time.Duration
	// quietBelow > 0: before each measurement wait (at most quietWait)
	// until the machine's busy share of all cores is below this percentage
	quietBelow float64
	quietWait  time.Duration
	out        string
	knobs      Knobs

	migrateOnly bool
	report      bool
	reportFiles []string
	// child mode
	child    bool
	system   string
	scenario string
	mode     string
	rep      int
}

func parseFlags(args []string) (*config, error) {
	var cfg config
	fs := flag.NewFlagSet("benchanchors", flag.ContinueOnError)
	fs.StringVar(&cfg.systems, "systems", "asynq,river", "comma-separated systems to measure: "+systemNames())
	fs.StringVar(&cfg.scenarios, "scenarios", "enqueue,drain,latency,idle", "comma-separated scenarios: enqueue,drain,latency,idle")
	fs.IntVar(&cfg.n, "n", 20000, "tasks per enqueue/drain run")
	fs.IntVar(&cfg.c, "c", 100, "worker concurrency (asynq Config.Concurrency, river QueueConfig.MaxWorkers)")
	fs.IntVar(&cfg.latN, "lat-n", 500, "measured sequential tasks in the latency scenario")
	fs.IntVar(&cfg.latWarmup, "lat-warmup", 10, "unmeasured sequential tasks before the latency samples")
	fs.DurationVar(&cfg.latGap, "lat-gap", 0, "latency: random pause in [0,lat-gap) before each enqueue (0 = enqueue right after the previous handler started)")
	fs.IntVar(&cfg.batch, "batch", 1000, "batch size for batch insert paths (river many/manyfast) and for drain prefill")
	fs.IntVar(&cfg.producers, "producers", 1, "enqueue: goroutines inserting concurrently (N is split between them)")
	fs.IntVar(&cfg.payload, "payload", 100, "payload size in bytes (a JSON object)")
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions of every measurement; the summary reports the median")
	fs.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "cap on one measurement (each loop stops when it is reached)")
	fs.DurationVar(&cfg.idleFor, "idle-for", 5*time.Second, "idle scenario: measuring window")
	fs.Float64Var(&cfg.quietBelow, "quiet-below", 0, "before each measurement, wait until all cores together are busy less than this % (1 s windows, other processes included); 0 = do not wait")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", 30*time.Second, "cap on the wait for -quiet-below (then measure anyway)")
	fs.StringVar(&cfg.out, "out", "", "also append every result as a JSON line to this file")

	fs.StringVar(&cfg.knobs.Profile, "profile", "default", "knob preset: default (library defaults), tuned (every poll/cooldown knob 10ms) or fast (every knob 1ms)")
	fs.StringVar(&cfg.knobs.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis without persistence (loopback only)")
	fs.StringVar(&cfg.knobs.RedisAOFAddr, "redis-aof-addr", "127.0.0.1:6380", "Redis with appendonly everysec (for asynq-aof)")
	fs.IntVar(&cfg.knobs.RedisDB, "redis-db", 5, "dedicated Redis DB index (FLUSHDB between runs)")
	fs.StringVar(&cfg.knobs.PGDSN, "pg-dsn", "postgres://root:bench@127.0.0.1:5432/bench?sslmode=disable", "PostgreSQL DSN (loopback only)")
	asynqTCI := fs.Duration("asynq-task-check-interval", -1, "asynq Config.TaskCheckInterval (overrides profile; 0 = library default 1s)")
	riverFC := fs.Duration("river-fetch-cooldown", -1, "river Config.FetchCooldown (overrides profile; 0 = library default 100ms)")
	riverFP := fs.Duration("river-fetch-poll-interval", -1, "river Config.FetchPollInterval (overrides profile; 0 = library default 1s)")
	fs.IntVar(&cfg.knobs.PGMaxConns, "pg-max-conns", 0, "pgxpool MaxConns for river (0 = pgx default)")
	fs.StringVar(&cfg.knobs.BgtaskDir, "bgtask-dir", "", "directory for bgtask's embedded store (default: a temporary directory, removed at the end)")

	fs.BoolVar(&cfg.migrateOnly, "migrate-only", false, "apply River migrations and exit")
	fs.BoolVar(&cfg.report, "report", false, "print bgtask-vs-others tables (markdown: medians, ranges, ratios) from the -out .jsonl files given as arguments, and exit")
	fs.BoolVar(&cfg.child, "child", false, "internal: run one measurement and print RESULT")
	fs.StringVar(&cfg.system, "system", "", "internal (child)")
	fs.StringVar(&cfg.scenario, "scenario", "", "internal (child)")
	fs.StringVar(&cfg.mode, "mode", "", "internal (child)")
	fs.IntVar(&cfg.rep, "rep", 0, "internal (child)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg.reportFiles = fs.Args()

	switch cfg.knobs.Profile {
	case "default":
	case "tuned":
		cfg.knobs.AsynqTaskCheckInterval = 10 * time.Millisecond
		cfg.knobs.RiverFetchCooldown = 10 * time.Millisecond
		cfg.knobs.RiverFetchPollInterval = 10 * time.Millisecond
	case "fast": // each knob at the smallest value the library accepts
		cfg.knobs.AsynqTaskCheckInterval = time.Millisecond
		cfg.knobs.RiverFetchCooldown = time.Millisecond
		cfg.knobs.RiverFetchPollInterval = time.Millisecond
	default:
		return nil, fmt.Errorf("unknown -profile %q", cfg.knobs.Profile)
	}
	if *asynqTCI >= 0 {
		cfg.knobs.AsynqTaskCheckInterval = *asynqTCI
	}
	if *riverFC >= 0 {
		cfg.knobs.RiverFetchCooldown = *riverFC
	}
	if *riverFP >= 0 {
		cfg.knobs.RiverFetchPollInterval = *riverFP
	}
	if cfg.n < 1 || cfg.c < 1 || cfg.reps < 1 || cfg.producers < 1 || cfg.latN < 1 {
		return nil, fmt.Errorf("-n, -c, -reps, -producers and -lat-n must be >= 1")
	}
	return &cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch {
	case cfg.report:
		if err := runReport(os.Stdout, cfg.reportFiles); err != nil {
			fatal("report: %v", err)
		}
	case cfg.migrateOnly:
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s := newRiverSystem("river", cfg.knobs.PGDSN, cfg.knobs)
		if err := s.Setup(ctx); err != nil {
			fatal("river migrate: %v", err)
		}
		s.Close()
		fmt.Println("river migrations applied")
	case cfg.child:
		if err := runChild(cfg); err != nil {
			fatal("child %s/%s: %v", cfg.system, cfg.scenario, err)
		}
	default:
		if err := orchestrate(cfg); err != nil {
			fatal("%v", err)
		}
	}
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchanchors: "+format+"\n", a...)
	os.Exit(1)
}

// Result is one measurement.
type Result struct {
	System       string  `json:"system"`
	Profile      string  `json:"profile"`
	Scenario     string  `json:"scenario"`
	Mode         string  `json:"mode"`
	Rep          int     `json:"rep"`
	N            int     `json:"n"`
	Done         int     `json:"done"`
	C            int     `json:"c,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	Producers    int     `json:"producers,omitempty"`
	PayloadBytes int     `json:"payload_bytes"`
	ElapsedS     float64 `json:"elapsed_s"`
	TasksPerS    float64 `json:"tasks_per_s,omitempty"`
	AckedS       float64 `json:"acked_s,omitempty"`
	AckedPerS    float64 `json:"acked_tasks_per_s,omitempty"`
	P50Ms        float64 `json:"p50_ms,omitempty"`
	P95Ms        float64 `json:"p95_ms,omitempty"`
	P99Ms        float64 `json:"p99_ms,omitempty"`
	MaxMs        float64 `json:"max_ms,omitempty"`
	MeanMs       float64 `json:"mean_ms,omitempty"`
	EnqP50Ms     float64 `json:"enq_call_p50_ms,omitempty"`
	EnqP99Ms     float64 `json:"enq_call_p99_ms,omitempty"`
	Timeouts     int     `json:"timeouts,omitempty"`
	ProcCPUS     float64 `json:"proc_cpu_s"`    // CPU of the measuring process in the window
	MachineCPUS  float64 `json:"machine_cpu_s"` // CPU of all processes (incl. Redis/Postgres) in the window
	// RedisCPUS is the CPU time of the system's Redis server in the drain
	// window (systems on Redis only; INFO cpu, all its threads).
	RedisCPUS float64 `json:"redis_cpu_s,omitempty"`
	VmHWMKB   int64   `json:"vmhwm_kb"` // peak RSS of the measuring process
	// resident set at the end, split: anonymous (heap, stacks) and file
	// (binary, and for bgtask the memory-mapped database file)
	RssAnonKB int64 `json:"rss_anon_kb,omitempty"`
	RssFileKB int64 `json:"rss_file_kb,omitempty"`
	Capped    bool  `json:"capped,omitempty"`
	// -quiet-below: busy % of all cores in the last 1 s window before the
	// child started, and how long the orchestrator waited for it
	PreBusyPct float64 `json:"pre_busy_pct,omitempty"`
	QuietWaitS float64 `json:"quiet_wait_s,omitempty"`
	Knobs      string  `json:"knobs,omitempty"`
}

// ---------------------------------------------------------------- orchestrator

func orchestrate(cfg *config) error {
	ctx := context.Background()
	var systems []System
	for _, name := range splitList(cfg.systems) {
		ctor, ok := systemRegistry[name]
		if !ok {
			return fmt.Errorf("unknown system %q (have %s)", name, systemNames())
		}
		s := ctor(cfg.knobs)
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := s.Setup(sctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%s setup: %w", name, err)
		}
		defer s.Close()
		systems = append(systems, s)
	}
	scenarios := splitList(cfg.scenarios)
	for _, sc := range scenarios {
		switch sc {
		case "enqueue", "drain", "latency", "idle":
		default:
			return fmt.Errorf("unknown scenario %q", sc)
		}
	}

	var outf *os.File
	if cfg.out != "" {
		f, err := os.OpenFile(cfg.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		outf = f
	}

	fmt.Printf("# benchanchors %s GOMAXPROCS=%d NumCPU=%d profile=%s n=%d c=%d lat-n=%d batch=%d producers=%d payload=%dB reps=%d timeout=%s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cfg.knobs.Profile, cfg.n, cfg.c, cfg.latN, cfg.batch, cfg.producers, cfg.payload, cfg.reps, cfg.timeout)
	fmt.Printf("# modules: %s\n", moduleVersions())
	for _, s := range systems {
		v := ""
		if vs, ok := s.(interface{ Version(context.Context) string }); ok {
			v = " server=" + vs.Version(ctx)
		}
		fmt.Printf("# system=%s%s knobs: %s\n", s.Name(), v, s.Knobs())
	}

	var results []Result
	for rep := 1; rep <= cfg.reps; rep++ {
		for _, sc := range scenarios {
			// rotate the order of systems between repetitions so that no
			// system always runs first (or right after a heavy run)
			for i := range systems {
				s := systems[(i+rep-1)%len(systems)]
				modes := []string{"-"}
				if sc == "enqueue" {
					modes = s.EnqueueModes()
				}
				for _, mode := range modes {
					r, err := measure(ctx, cfg, s, sc, mode, rep)
					if err != nil {
						fmt.Printf("system=%s profile=%s scenario=%s mode=%s rep=%d error=%q\n", s.Name(), cfg.knobs.Profile, sc, mode, rep, err.Error())
						continue
					}
					fmt.Println(formatLine(r))
					if outf != nil {
						b, _ := json.Marshal(r)
						fmt.Fprintln(outf, string(b))
					}
					results = append(results, r)
				}
			}
		}
	}
	for _, s := range systems {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := s.Reset(rctx); err != nil {
			fmt.Fprintf(os.Stderr, "final reset %s: %v\n", s.Name(), err)
		}
		cancel()
	}
	printSummary(os.Stdout, results)
	return nil
}

// measure resets the store, preloads for drain, and runs one measurement in a
// child process.
func measure(ctx context.Context, cfg *config, s System, scenario, mode string, rep int) (Result, error) {
	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := s.Reset(rctx); err != nil {
		return Result{}, fmt.Errorf("reset: %w", err)
	}
	if scenario == "drain" {
		k, err := s.Enqueue(rctx, s.PrefillMode(), cfg.n, cfg.batch, makePayload(cfg.payload))
		if err != nil {
			return Result{}, fmt.Errorf("prefill: %w", err)
		}
		if out, err := s.Outstanding(rctx); err != nil || out != cfg.n || k != cfg.n {
			return Result{}, fmt.Errorf("prefill: inserted %d, store reports %d outstanding (%v), want %d", k, out, err, cfg.n)
		}
	}
	if rl, ok := s.(releaser); ok {
		if err := rl.Release(); err != nil {
			return Result{}, fmt.Errorf("release: %w", err)
		}
	}
	var preBusy, waited float64
	if cfg.quietBelow > 0 {
		preBusy, waited = waitQuiet(rctx, cfg.quietBelow, cfg.quietWait)
	}
	exe, err := os.Executable()
	if err != nil {
		return Result{}, err
	}
	args := append(append([]string{}, os.Args[1:]...),
		"-child", "-system", s.Name(), "-scenario", scenario, "-mode", mode, "-rep", fmt.Sprint(rep))
	// The child caps itself at -timeout; this is the backstop for a hung child.
	cctx, ccancel := context.WithTimeout(ctx, cfg.timeout+60*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // die with the orchestrator
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	var res *Result
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r Result
			if err := json.Unmarshal([]byte(rest), &r); err == nil {
				res = &r
			}
		} else {
			fmt.Fprintln(os.Stderr, "child:", line)
		}
	}
	io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	if res == nil {
		return Result{}, fmt.Errorf("child gave no result (%v)", werr)
	}
	res.PreBusyPct, res.QuietWaitS = preBusy, waited
	if scenario == "enqueue" {
		// the store must hold exactly what the child says it inserted
		vctx, vcancel := context.WithTimeout(ctx, 30*time.Second)
		defer vcancel()
		if out, err := s.Outstanding(vctx); err != nil || out != res.Done {
			return Result{}, fmt.Errorf("verify: child inserted %d, store reports %d outstanding (%v)", res.Done, out, err)
		}
	}
	return *res, nil
}

// ---------------------------------------------------------------- child

func runChild(cfg *config) error {
	ctor, ok := systemRegistry[cfg.system]
	if !ok {
		return fmt.Errorf("unknown system %q", cfg.system)
	}
	s := ctor(cfg.knobs)
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err := s.Setup(sctx)
	cancel()
	if err != nil {
		return err
	}
	defer s.Close()

	ctx, cancelRun := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancelRun()
	payload := makePayload(cfg.payload)
	r := Result{
		System: s.Name(), Profile: cfg.knobs.Profile, Scenario: cfg.scenario, Mode: cfg.mode,
		Rep: cfg.rep, PayloadBytes: len(payload), Knobs: s.Knobs(),
	}
	switch cfg.scenario {
	case "enqueue":
		err = childEnqueue(ctx, cfg, s, payload, &r)
	case "drain":
		err = childDrain(ctx, cfg, s, &r)
	case "latency":
		err = childLatency(ctx, cfg, s, payload, &r)
	case "idle":
		err = childIdle(ctx, cfg, s, &r)
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.scenario)
	}
	if err != nil {
		return err
	}
	r.VmHWMKB = vmHWM()
	r.RssAnonKB, r.RssFileKB = procStatusKB("RssAnon:"), procStatusKB("RssFile:")
	b, _ := json.Marshal(r)
	fmt.Printf("RESULT %s\n", b)
	return nil
}

func childEnqueue(ctx context.Context, cfg *config, s System, payload []byte, r *Result) error {
	r.N, r.Batch, r.Producers = cfg.n, cfg.batch, cfg.producers
	if cfg.mode == "single" {
		r.Batch = 0
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, cfg.producers)
	cw := startCPU()
	t0 := time.Now()
	for p := range cfg.producers {
		share := cfg.n / cfg.producers
		if p < cfg.n%cfg.producers {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.Enqueue(ctx, cfg.mode, share, cfg.batch, payload)
			done.Add(int64(k))
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	mach, self := cw.stop()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	r.Done = int(done.Load())
	r.Capped = r.Done < cfg.n
	r.ElapsedS = el.Seconds()
	r.TasksPerS = float64(r.Done) / el.Seconds()
	r.ProcCPUS, r.MachineCPUS = self.Seconds(), mach.Seconds()
	return nil
}

func childDrain(ctx context.Context, cfg *config, s System, r *Result) error {
	r.N, r.C = cfg.n, cfg.c
	if out, err := s.Outstanding(ctx); err != nil || out != cfg.n {
		return fmt.Errorf("expected %d preloaded tasks, store reports %d (%v)", cfg.n, out, err)
	}
	var count atomic.Int64
	allRan := make(chan struct{})
	onTask := func() {
		if count.Add(1) == int64(cfg.n) {
			close(allRan)
		}
	}
	rc, onRedis := s.(redisCPUer)
	var redis0 float64
	if onRedis {
		var err error
		if redis0, err = rc.RedisCPU(ctx); err != nil {
			return fmt.Errorf("redis cpu: %w", err)
		}
	}
	cw := startCPU()
	t0 := time.Now()
	stop, err := s.StartWorker(ctx, cfg.c, onTask)
	if err != nil {
		return err
	}
	select {
	case <-allRan:
	case <-ctx.Done():
		r.Capped = true
	}
	ran := time.Since(t0)
	// then wait until the store itself reports every task finished (acked)
	acked := time.Duration(0)
	if !r.Capped {
		for {
			out, err := s.Outstanding(ctx)
			if err == nil && out == 0 {
				acked = time.Since(t0)
				break
			}
			if ctx.Err() != nil {
				r.Capped = true
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	mach, self := cw.stop()
	if onRedis {
		redis1, err := rc.RedisCPU(ctx)
		if err != nil {
			return fmt.Errorf("redis cpu: %w", err)
		}
		r.RedisCPUS = redis1 - redis0
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stop(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "stop worker: %v\n", err)
	}
	r.Done = int(min(count.Load(), int64(cfg.n)))
	r.ElapsedS = ran.Seconds()
	r.TasksPerS = float64(r.Done) / ran.Seconds()
	if acked > 0 {
		r.AckedS = acked.Seconds()
		r.AckedPerS = float64(cfg.n) / acked.Seconds()
	}
	r.ProcCPUS, r.MachineCPUS = self.Seconds(), mach.Seconds()
	return nil
}

func childLatency(ctx context.Context, cfg *config, s System, payload []byte, r *Result) error {
	r.N, r.C = cfg.latN, cfg.c
	started := make(chan time.Time, 64)
	onTask := func() {
		t := time.Now()
		select {
		case started <- t:
		default:
		}
	}
	stop, err := s.StartWorker(ctx, cfg.c, onTask)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := stop(sctx); err != nil {
			fmt.Fprintf(os.Stderr, "stop worker: %v\n", err)
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the worker finish starting up

	const perTaskTimeout = 10 * time.Second
	var lats, enqs []time.Duration
	cw := startCPU()
	t0 := time.Now()
loop:
	for i := 0; i < cfg.latWarmup+cfg.latN; i++ {
		if ctx.Err() != nil {
			r.Capped = true
			break
		}
		if cfg.latGap > 0 {
			time.Sleep(rand.N(cfg.latGap))
		}
		for len(started) > 0 { // drop stray signals (e.g. a late task after a timeout)
			<-started
		}
		ts := time.Now()
		k, err := s.Enqueue(ctx, "single", 1, 1, payload)
		te := time.Now()
		if err != nil || k != 1 {
			if ctx.Err() != nil {
				r.Capped = true
				break
			}
			return fmt.Errorf("enqueue: %v (k=%d)", err, k)
		}
		timer := time.NewTimer(perTaskTimeout)
		select {
		case th := <-started:
			timer.Stop()
			if i >= cfg.latWarmup {
				lats = append(lats, th.Sub(ts))
				enqs = append(enqs, te.Sub(ts))
			}
		case <-timer.C:
			r.Timeouts++
		case <-ctx.Done():
			timer.Stop()
			r.Capped = true
			break loop
		}
	}
	el := time.Since(t0)
	mach, self := cw.stop()
	r.Done = len(lats)
	r.ElapsedS = el.Seconds()
	r.ProcCPUS, r.MachineCPUS = self.Seconds(), mach.Seconds()
	if len(lats) > 0 {
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		sort.Slice(enqs, func(i, j int) bool { return enqs[i] < enqs[j] })
		var sum time.Duration
		for _, l := range lats {
			sum += l
		}
		r.P50Ms = ms(pct(lats, 50))
		r.P95Ms = ms(pct(lats, 95))
		r.P99Ms = ms(pct(lats, 99))
		r.MaxMs = ms(lats[len(lats)-1])
		r.MeanMs = ms(sum / time.Duration(len(lats)))
		r.EnqP50Ms = ms(pct(enqs, 50))
		r.EnqP99Ms = ms(pct(enqs, 99))
		r.TasksPerS = float64(len(lats)) / el.Seconds()
	}
	return nil
}

func childIdle(ctx context.Context, cfg *config, s System, r *Result) error {
	r.C = cfg.c
	stop, err := s.StartWorker(ctx, cfg.c, func() {})
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // start-up work is not idle work
	cw := startCPU()
	t0 := time.Now()
	select {
	case <-time.After(cfg.idleFor):
	case <-ctx.Done():
		r.Capped = true
	}
	el := time.Since(t0)
	mach, self := cw.stop()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stop(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "stop worker: %v\n", err)
	}
	r.ElapsedS = el.Seconds()
	r.ProcCPUS, r.MachineCPUS = self.Seconds(), mach.Seconds()
	return nil
}

// ---------------------------------------------------------------- output

func pct(sorted []time.Duration, p float64) time.Duration {
	// nearest-rank percentile
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func formatLine(r Result) string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	fmt.Fprintf(&b, "system=%s profile=%s scenario=%s", r.System, r.Profile, r.Scenario)
	if r.Mode != "-" {
		kv("mode", r.Mode)
	}
	kv("rep", r.Rep)
	switch r.Scenario {
	case "enqueue":
		kv("n", r.N)
		kv("done", r.Done)
		kv("producers", r.Producers)
		if r.Batch > 0 {
			kv("batch", r.Batch)
		}
		kv("elapsed_s", f3(r.ElapsedS))
		kv("tasks_per_s", f0(r.TasksPerS))
	case "drain":
		kv("n", r.N)
		kv("done", r.Done)
		kv("c", r.C)
		kv("elapsed_s", f3(r.ElapsedS))
		kv("tasks_per_s", f0(r.TasksPerS))
		kv("acked_s", f3(r.AckedS))
		kv("acked_tasks_per_s", f0(r.AckedPerS))
	case "latency":
		kv("n", r.N)
		kv("done", r.Done)
		kv("c", r.C)
		kv("p50_ms", f3(r.P50Ms))
		kv("p95_ms", f3(r.P95Ms))
		kv("p99_ms", f3(r.P99Ms))
		kv("max_ms", f3(r.MaxMs))
		kv("mean_ms", f3(r.MeanMs))
		kv("enq_call_p50_ms", f3(r.EnqP50Ms))
		kv("enq_call_p99_ms", f3(r.EnqP99Ms))
		kv("timeouts", r.Timeouts)
		kv("elapsed_s", f3(r.ElapsedS))
	case "idle":
		kv("c", r.C)
		kv("elapsed_s", f3(r.ElapsedS))
		kv("proc_cpu_pct", f1(100*r.ProcCPUS/r.ElapsedS))
		kv("machine_cpu_pct", f1(100*r.MachineCPUS/r.ElapsedS))
	}
	kv("payload_b", r.PayloadBytes)
	kv("proc_cpu_s", f3(r.ProcCPUS))
	kv("machine_cpu_s", f3(r.MachineCPUS))
	if r.Done > 0 && r.Scenario != "latency" {
		kv("machine_cpu_us_per_task", f1(r.MachineCPUS*1e6/float64(r.Done)))
	}
	if r.RedisCPUS > 0 && r.Done > 0 {
		kv("redis_cpu_us_per_task", f1(r.RedisCPUS*1e6/float64(r.Done)))
	}
	kv("vmhwm_kb", r.VmHWMKB)
	if r.RssAnonKB > 0 || r.RssFileKB > 0 {
		kv("rss_anon_kb", r.RssAnonKB)
		kv("rss_file_kb", r.RssFileKB)
	}
	if r.Capped {
		kv("capped", true)
	}
	if r.PreBusyPct > 0 || r.QuietWaitS > 0 {
		kv("pre_busy_pct", f1(r.PreBusyPct))
		kv("quiet_wait_s", f1(r.QuietWaitS))
	}
	return b.String()
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printSummary prints, per (system, scenario, mode), the median over
// repetitions of every metric (each metric's median taken on its own).
func printSummary(w io.Writer, results []Result) {
	type key struct{ system, scenario, mode string }
	var order []key
	groups := map[key][]Result{}
	for _, r := range results {
		k := key{r.System, r.Scenario, r.Mode}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	scRank := map[string]int{"enqueue": 0, "drain": 1, "latency": 2, "idle": 3}
	sort.SliceStable(order, func(i, j int) bool {
		if scRank[order[i].scenario] != scRank[order[j].scenario] {
			return scRank[order[i].scenario] < scRank[order[j].scenario]
		}
		return order[i].system < order[j].system
	})
	col := func(rs []Result, f func(Result) float64) float64 {
		var vs []float64
		for _, r := range rs {
			vs = append(vs, f(r))
		}
		return median(vs)
	}
	spread := func(rs []Result, f func(Result) float64) string {
		lo, hi := f(rs[0]), f(rs[0])
		for _, r := range rs {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
		return fmt.Sprintf("%.0f–%.0f", lo, hi)
	}
	fmt.Fprintln(w, "\n## summary (median of reps)")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "system\tprofile\tscenario\tmode\treps\tn\tc\ttasks/s\ttasks/s range\tacked tasks/s\tp50 ms\tp95 ms\tp99 ms\tproc CPU s\tmachine CPU s\tCPU µs/task\tVmHWM MiB\tcapped\t")
	for _, k := range order {
		rs := groups[k]
		r0 := rs[0]
		capped := 0
		for _, r := range rs {
			if r.Capped {
				capped++
			}
		}
		mode := k.mode
		if mode == "-" {
			mode = ""
		}
		n, c := fmt.Sprint(r0.N), fmt.Sprint(r0.C)
		if r0.C == 0 {
			c = ""
		}
		tps, rng, acked, p50, p95, p99, perTask := "", "", "", "", "", "", ""
		procCPU := f3(col(rs, func(r Result) float64 { return r.ProcCPUS }))
		machCPU := f3(col(rs, func(r Result) float64 { return r.MachineCPUS }))
		switch k.scenario {
		case "enqueue", "drain":
			tps = f0(col(rs, func(r Result) float64 { return r.TasksPerS }))
			rng = spread(rs, func(r Result) float64 { return r.TasksPerS })
			perTask = f1(col(rs, func(r Result) float64 { return r.MachineCPUS * 1e6 / float64(max(r.Done, 1)) }))
			if k.scenario == "drain" {
				acked = f0(col(rs, func(r Result) float64 { return r.AckedPerS }))
			}
		case "latency":
			n = fmt.Sprint(int(col(rs, func(r Result) float64 { return float64(r.Done) })))
			p50 = f3(col(rs, func(r Result) float64 { return r.P50Ms }))
			p95 = f3(col(rs, func(r Result) float64 { return r.P95Ms }))
			p99 = f3(col(rs, func(r Result) float64 { return r.P99Ms }))
		case "idle":
			n = ""
			procCPU = f1(col(rs, func(r Result) float64 { return 100 * r.ProcCPUS / r.ElapsedS })) + "%"
			machCPU = f1(col(rs, func(r Result) float64 { return 100 * r.MachineCPUS / r.ElapsedS })) + "%"
		}
		hwm := f1(col(rs, func(r Result) float64 { return float64(r.VmHWMKB) / 1024 }))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			k.system, r0.Profile, k.scenario, mode, len(rs), n, c, tps, rng, acked, p50, p95, p99, procCPU, machCPU, perTask, hwm, capped)
	}
	tw.Flush()
}

// ---------------------------------------------------------------- helpers

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func moduleVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	var parts []string
	for _, m := range bi.Deps {
		switch m.Path {
		case "github.com/hibiken/asynq", "github.com/riverqueue/river", "github.com/riverqueue/river/riverdriver/riverpgxv5",
			"github.com/jackc/pgx/v5", "github.com/redis/go-redis/v9", "github.com/bgtask/bgtask", "go.etcd.io/bbolt":
			v := m.Path + "@" + m.Version
			if m.Replace != nil {
				v += "=>" + m.Replace.Path
			}
			parts = append(parts, v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

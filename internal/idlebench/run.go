package idlebench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/bgtask/bgtask/idle"
)

// capacityConcurrency is the closed loop's number of clients: enough to
// keep every core of the server busy.
func capacityConcurrency() int { return 4 * runtime.NumCPU() }

// Run measures how an idle workload affects the latency of an HTTP
// server under steady load, in three modes in one run: (a) no idle work,
// (b) a CPU-heavy idle workload run through idle Schedulers with the
// InFlight middleware as load source, (c) the same workload on plain
// goroutines. See docs/idle.md for the method.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, st, cmp, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	oldProcs := runtime.GOMAXPROCS(cfg.Procs)
	defer runtime.GOMAXPROCS(oldProcs)

	r := &runner{cfg: cfg, st: st, cmp: cmp}
	r.res = Result{
		Cores: runtime.NumCPU(), Procs: cfg.Procs, BaseProcs: cfg.BaseProcs, Strategy: cfg.Strategy, Load: cfg.Load,
		Poisson: !cfg.Constant, ChildGenerator: !cfg.InProcess, Compare: cfg.Compare,
	}
	r.reqWork, r.unitWork = calibrate(cfg.Work), calibrate(cfg.Unit)
	r.res.WorkCost, r.res.UnitCost = r.reqWork.cost(), r.unitWork.cost()
	cfg.Logf("calibrated: request %v CPU, idle unit %v CPU", r.res.WorkCost, r.res.UnitCost)

	if err := r.startServer(); err != nil {
		return Result{}, err
	}
	defer r.stopServer()
	if cfg.InProcess {
		r.gen = newLoadGen()
	} else if r.gen, err = startChild(ctx); err != nil {
		return Result{}, err
	}
	defer r.gen.close()

	if err := r.measureCapacity(ctx); err != nil {
		return Result{}, err
	}
	r.res.LoadStart = loadAvg()
	if err := r.measureModes(ctx); err != nil {
		return Result{}, err
	}
	r.res.LoadEnd = loadAvg()
	r.res.summarize(cfg.QuietBelow)
	return r.res, nil
}

// runner holds one Run's state.
type runner struct {
	cfg        Config
	st         Strategy
	res        Result
	reqWork    *burner
	unitWork   *burner
	srv        *http.Server
	url        string
	sources    [][]idle.LoadSource // per worker
	cmp        Strategy            // Config.Compare's, if set
	cmpSources [][]idle.LoadSource
	gen        generator
	requests   requestLog
}

func (r *runner) startServer() error {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		arrival := sentDelay(req)
		runtime.LockOSThread()
		cpu0, inv0 := threadUsage()
		w0 := time.Now()
		b := r.reqWork.burn()
		wall := time.Since(w0)
		cpu1, inv1 := threadUsage()
		runtime.UnlockOSThread()
		r.requests.add(reqRecord{arrival: arrival, stall: max(wall-(cpu1-cpu0), 0), preempted: inv1 > inv0})
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "ok %d\n", b)
	})
	// One InFlight per worker, each with that worker's threshold, chained
	// in every mode so that all three pay the same middleware cost (and
	// the compared strategy's too, when there is one).
	var err error
	if h, r.sources, err = sourcesFor(r.st, h); err != nil {
		return err
	}
	if r.cfg.Compare != "" {
		if h, r.cmpSources, err = sourcesFor(r.cmp, h); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("idlebench: %w", err)
	}
	r.url = "http://" + ln.Addr().String() + "/"
	r.srv = &http.Server{Handler: h}
	go r.srv.Serve(ln)
	return nil
}

// sourcesFor returns h wrapped in one InFlight middleware per worker of
// st, and each worker's load sources.
func sourcesFor(st Strategy, h http.Handler) (http.Handler, [][]idle.LoadSource, error) {
	var sources [][]idle.LoadSource
	for k := range st.Workers {
		th := 1
		switch {
		case st.Threshold > 0 && st.Flat:
			th = st.Threshold
		case st.Threshold > 0:
			th = max(1, st.Threshold-k)
		}
		src := idle.NewInFlight(&idle.InFlightConfig{Threshold: th})
		h = src.Middleware(h)
		srcs := []idle.LoadSource{src}
		if st.NoSource {
			srcs = nil
		}
		if st.CPUSource {
			c, err := idle.NewCPU(nil)
			if err != nil {
				return nil, nil, err
			}
			srcs = append(srcs, c)
		}
		sources = append(sources, srcs)
	}
	return h, sources, nil
}

func (r *runner) stopServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
}

func (r *runner) measureCapacity(ctx context.Context) error {
	if r.cfg.Rate > 0 {
		r.res.Rate, r.res.Load = r.cfg.Rate, 0
		return nil
	}
	r.waitQuiet(ctx)
	cmd := genCmd{Op: "closed", URL: r.url, Duration: r.cfg.Warmup, Concurrency: capacityConcurrency()}
	if _, err := r.gen.do(ctx, cmd); err != nil {
		return fmt.Errorf("idlebench: capacity warm-up: %w", err)
	}
	cmd.Duration = r.cfg.CapacityDuration
	res, err := r.gen.do(ctx, cmd)
	if err != nil {
		return fmt.Errorf("idlebench: capacity: %w", err)
	}
	if res.Requests == 0 {
		return errors.New("idlebench: capacity: no request succeeded")
	}
	r.res.Capacity = float64(res.Requests) / res.Elapsed.Seconds()
	r.res.Rate = r.cfg.Load * r.res.Capacity
	if r.res.Rate < 1 {
		// The Poisson arrivals of a rate near 0 never come: each segment
		// waited for ever.
		return fmt.Errorf("idlebench: Load %g of a capacity of %.0f req/s offers under one request a second", r.cfg.Load, r.res.Capacity)
	}
	r.cfg.Logf("capacity %.0f req/s (closed loop, %d clients); offering %.0f req/s", r.res.Capacity, cmd.Concurrency, r.res.Rate)
	return nil
}

// waitQuiet waits, up to QuietWait, for a half-second window in which the
// other processes on the machine use less than QuietBelow cores.
func (r *runner) waitQuiet(ctx context.Context) {
	if r.cfg.QuietWait < 0 || readMachine() == (machineTimes{}) {
		return
	}
	const window = 500 * time.Millisecond
	deadline := time.Now().Add(r.cfg.QuietWait)
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		if i == 1 {
			r.cfg.Notef("idlebench: other processes are busy; waiting up to %v for a quiet machine", r.cfg.QuietWait)
		}
		m0, p0, t0 := readMachine(), processCPU(), time.Now()
		select {
		case <-time.After(window):
		case <-ctx.Done():
			return
		}
		others := (readMachine().sub(m0).busy - (processCPU() - p0)).Seconds() / time.Since(t0).Seconds()
		if others < r.cfg.QuietBelow {
			return
		}
	}
	if ctx.Err() == nil {
		r.cfg.Notef("idlebench: the machine did not quieten within %v; measuring anyway", r.cfg.QuietWait)
	}
}

// plan returns the modes of the segments: a b c c b a, over and over,
// until every mode has perMode segments.
func plan(perMode int) []int {
	pattern := [...]int{0, 1, 2, 2, 1, 0}
	var out []int
	var count [3]int
	for i := 0; count[0] < perMode || count[1] < perMode || count[2] < perMode; i++ {
		if m := pattern[i%len(pattern)]; count[m] < perMode {
			out = append(out, m)
			count[m]++
		}
	}
	return out
}

// measureModes runs one continuous open-loop load and switches the server
// between the modes segment by segment, then files every request under
// the mode of the segment its scheduled arrival fell in.
func (r *runner) measureModes(ctx context.Context) error {
	r.waitQuiet(ctx)
	cfg := r.cfg
	perMode := max(1, int(cfg.Duration/(cfg.Segment-cfg.Guard)))
	segs := plan(perMode)
	startAt := time.Now().Add(500 * time.Millisecond) // time for the child to get the job
	first := startAt.Add(cfg.Warmup)
	cmd := genCmd{
		Op: "open", URL: r.url, Rate: r.res.Rate, Poisson: !cfg.Constant, Seed: cfg.Seed,
		StartAt: startAt.UnixNano(), Duration: cfg.Warmup + time.Duration(len(segs))*cfg.Segment,
	}
	type reply struct {
		res genResult
		err error
	}
	done := make(chan reply, 1)
	go func() {
		res, err := r.gen.do(ctx, cmd)
		done <- reply{res, err}
	}()
	cfg.Logf("measuring: %d segments of %v (the first %v of each unmeasured), %v per mode",
		len(segs), cfg.Segment, cfg.Guard, time.Duration(perMode)*(cfg.Segment-cfg.Guard))

	modes := [3]*ModeResult{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	err := r.switchModes(ctx, segs, first, modes)
	rep := <-done
	if err = errors.Join(err, rep.err); err != nil {
		return fmt.Errorf("idlebench: %w", err)
	}
	var lat [3][]time.Duration
	bySeg := make([][]time.Duration, len(segs))
	for i, at := range rep.res.Scheduled {
		off := time.Duration(at - first.UnixNano())
		k := int(off / cfg.Segment)
		if off < 0 || k >= len(segs) || off-time.Duration(k)*cfg.Segment < cfg.Guard {
			continue // warm-up or guard
		}
		lat[segs[k]] = append(lat[segs[k]], rep.res.Latencies[i])
		bySeg[k] = append(bySeg[k], rep.res.Latencies[i])
	}
	var segsOf [3][][]time.Duration
	for k, m := range segs {
		segsOf[m] = append(segsOf[m], bySeg[k])
	}
	r.res.P99RatioBLow, r.res.P99RatioBHigh = ratioInterval(segsOf[1], segsOf[0], 0.99, cfg.Seed)
	for i, m := range modes {
		m.Errors = rep.res.Errors * perMode / len(segs) // not attributable: spread evenly
		m.Measured = time.Duration(perMode) * (cfg.Segment - cfg.Guard)
		if !cfg.InProcess { // in process, the generator's CPU is part of CPU
			m.GenCPU = time.Duration(float64(rep.res.CPU) * m.Wall.Seconds() / cmd.Duration.Seconds())
		}
		m.setLatencies(lat[i])
		m.setRequestFigures()
		r.cfg.Logf("mode %s: %d requests, p50 %v, p99 %v, %d idle units", m.Name, m.Requests, m.P50, m.P99, m.Units)
	}
	r.res.A, r.res.B, r.res.C = *modes[0], *modes[1], *modes[2]
	r.res.LagP50, r.res.LagP99 = rep.res.LagP50, rep.res.LagP99
	return nil
}

// switchModes runs the segments: at each boundary it files the figures of
// the segment that ended on its mode and, if the mode changes, stops the
// old workload and starts the new one.
func (r *runner) switchModes(ctx context.Context, segs []int, first time.Time, modes [3]*ModeResult) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	sleepUntil := func(at time.Time) error {
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := tally{requests: &r.requests}
	procs := func(mode int) {
		if mode == 0 {
			runtime.GOMAXPROCS(r.cfg.BaseProcs)
		} else {
			runtime.GOMAXPROCS(r.cfg.Procs)
		}
	}
	procs(0)
	defer procs(1)
	if err := sleepUntil(first); err != nil {
		return err
	}
	t.begin(nil)
	cur := 0 // mode a: no workload
	for i := range segs {
		if err := sleepUntil(first.Add(time.Duration(i+1) * r.cfg.Segment)); err != nil {
			return errors.Join(err, t.stop())
		}
		if i+1 == len(segs) || segs[i+1] != cur {
			if err := t.stop(); err != nil { // final counts of the old workload
				return err
			}
		}
		t.file(modes[segs[i]])
		if i+1 < len(segs) && segs[i+1] != cur {
			cur = segs[i+1]
			procs(cur) // with the old workload stopped, before the new one starts
			w, err := r.startWorkload(cur)
			if err != nil {
				return err
			}
			t.begin(w)
		}
	}
	return nil
}

func (r *runner) startWorkload(mode int) (workload, error) {
	switch mode {
	case 1:
		return startSched(r.st, r.sources, r.unitWork)
	case 2:
		if r.cfg.Compare != "" {
			return startSched(r.cmp, r.cmpSources, r.unitWork)
		}
		return startPlain(r.st.Workers, r.unitWork), nil
	}
	return nil, nil
}

// tally measures the segments: process and machine CPU, and the current
// workload's units and CPU since the last boundary.
type tally struct {
	w       workload
	stopped bool
	at      time.Time
	cpu     time.Duration
	mach    machineTimes
	units   int64
	idleCPU time.Duration
	st      idle.Stats
	sched   schedSample
	// requests collects the requests' figures; file moves them to the
	// mode of the segment that ended.
	requests *requestLog
}

// begin starts counting with w (nil in mode a) as the workload.
func (t *tally) begin(w workload) {
	t.w, t.stopped = w, false
	t.units, t.idleCPU, t.st = 0, 0, idle.Stats{}
	if t.at.IsZero() {
		t.at, t.cpu, t.mach, t.sched = time.Now(), processCPU(), readMachine(), readSched()
	}
}

// stop stops the workload; its counts stay readable for file.
func (t *tally) stop() error {
	if t.w == nil || t.stopped {
		return nil
	}
	t.stopped = true
	return t.w.stop()
}

// file adds the figures since the last boundary to m.
func (t *tally) file(m *ModeResult) {
	now, cpu, mach := time.Now(), processCPU(), readMachine()
	m.Wall += now.Sub(t.at)
	m.CPU += cpu - t.cpu
	d := mach.sub(t.mach)
	m.Machine.busy += d.busy
	m.Machine.idle += d.idle
	m.Machine.steal += d.steal
	t.at, t.cpu, t.mach = now, cpu, mach
	m.Procs = runtime.GOMAXPROCS(0)
	sched := readSched()
	m.sched.add(t.sched, sched)
	m.requestLog = append(m.requestLog, t.requests.take()...)
	t.sched = sched
	if t.w != nil {
		units, idleCPU, st := t.w.units(), t.w.cpu(), t.w.stats()
		m.Units += units - t.units
		m.IdleCPU += idleCPU - t.idleCPU
		m.Periods += st.Periods - t.st.Periods
		m.Callback += st.Ran - t.st.Ran
		t.units, t.idleCPU, t.st = units, idleCPU, st
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if !slices.IsSorted(sorted) {
		sorted = slices.Clone(sorted)
		slices.Sort(sorted)
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

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
	cfg, st, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	oldProcs := runtime.GOMAXPROCS(cfg.Procs)
	defer runtime.GOMAXPROCS(oldProcs)

	r := &runner{cfg: cfg, st: st}
	r.res = Result{
		Cores: runtime.NumCPU(), Procs: cfg.Procs, Strategy: cfg.Strategy, Load: cfg.Load,
		Poisson: !cfg.Constant, ChildGenerator: !cfg.InProcess,
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
	modes := []*ModeResult{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	var lat [3][]time.Duration
	for round := range cfg.Rounds {
		for i, m := range modes {
			l, err := r.segment(ctx, m, round)
			if err != nil {
				return Result{}, err
			}
			lat[i] = append(lat[i], l...)
		}
	}
	for i, m := range modes {
		m.setLatencies(lat[i])
	}
	r.res.A, r.res.B, r.res.C = *modes[0], *modes[1], *modes[2]
	r.res.summarize()
	return r.res, nil
}

// runner holds one Run's state.
type runner struct {
	cfg      Config
	st       Strategy
	res      Result
	reqWork  *burner
	unitWork *burner
	srv      *http.Server
	url      string
	sources  [][]idle.LoadSource // per worker
	gen      generator
}

func (r *runner) startServer() error {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b := r.reqWork.burn()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "ok %d\n", b)
	})
	// One InFlight per worker, each with that worker's threshold, chained
	// in every mode so that all three pay the same middleware cost.
	for k := range r.st.Workers {
		th := 1
		if r.st.Threshold > 0 {
			th = max(1, r.st.Threshold-k)
		}
		src := idle.NewInFlight(&idle.InFlightConfig{Threshold: th})
		h = src.Middleware(h)
		srcs := []idle.LoadSource{src}
		if r.st.CPUSource {
			c, err := idle.NewCPU(nil)
			if err != nil {
				return err
			}
			srcs = append(srcs, c)
		}
		r.sources = append(r.sources, srcs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("idlebench: %w", err)
	}
	r.url = "http://" + ln.Addr().String() + "/"
	r.srv = &http.Server{Handler: h, ErrorLog: nil}
	go r.srv.Serve(ln)
	return nil
}

func (r *runner) stopServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
}

func (r *runner) measureCapacity(ctx context.Context) error {
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
	r.cfg.Logf("capacity %.0f req/s (closed loop, %d clients); offering %.0f req/s", r.res.Capacity, cmd.Concurrency, r.res.Rate)
	return nil
}

// segment runs mode m once: its workload, a warm-up, and a measured open
// loop. It adds the figures to m and returns the latencies.
func (r *runner) segment(ctx context.Context, m *ModeResult, round int) ([]time.Duration, error) {
	if !r.waitQuiet(ctx) {
		m.Noisy++
	}
	w, err := r.startWorkload(m.Name)
	if err != nil {
		return nil, err
	}
	lat, err := r.measure(ctx, m, w, round)
	if w != nil {
		err = errors.Join(err, w.stop())
	}
	if err != nil {
		return nil, fmt.Errorf("idlebench: mode %s: %w", m.Name, err)
	}
	return lat, nil
}

// waitQuiet waits, up to QuietWait, for a half-second window in which the
// other processes on the machine use less than QuietBelow cores. It
// reports whether it found one.
func (r *runner) waitQuiet(ctx context.Context) bool {
	if r.cfg.QuietWait < 0 || readMachine() == (machineTimes{}) {
		return true
	}
	const window = 500 * time.Millisecond
	deadline := time.Now().Add(r.cfg.QuietWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m0, p0, t0 := readMachine(), processCPU(), time.Now()
		select {
		case <-time.After(window):
		case <-ctx.Done():
			return false
		}
		others := (readMachine().sub(m0).busy - (processCPU() - p0)).Seconds() / time.Since(t0).Seconds()
		if others < r.cfg.QuietBelow {
			return true
		}
	}
	r.cfg.Logf("the machine did not quieten within %v; measuring anyway", r.cfg.QuietWait)
	return false
}

func (r *runner) startWorkload(mode string) (workload, error) {
	switch mode {
	case "b":
		return startSched(r.st, r.sources, r.unitWork)
	case "c":
		return startPlain(r.st.Workers, r.unitWork), nil
	}
	return nil, nil
}

// measure warms up, then runs the measured open loop with w (nil in mode
// a) running, and records it on m.
func (r *runner) measure(ctx context.Context, m *ModeResult, w workload, round int) ([]time.Duration, error) {
	open := genCmd{Op: "open", URL: r.url, Rate: r.res.Rate, Poisson: !r.cfg.Constant}
	open.Duration, open.Seed = r.cfg.Warmup, r.cfg.Seed+uint64(1000*round)+1
	if _, err := r.gen.do(ctx, open); err != nil {
		return nil, err
	}
	open.Duration, open.Seed = r.cfg.Duration, r.cfg.Seed+uint64(1000*round)
	var s segmentStats
	s.begin(w)
	res, err := r.gen.do(ctx, open)
	if err != nil {
		return nil, err
	}
	s.end(w)
	slices.Sort(res.Latencies)
	m.add(res, s)
	r.cfg.Logf("round %d mode %s: %d requests (%d errors), p50 %v p99 %v, %d idle units",
		round+1, m.Name, res.Requests, res.Errors, percentile(res.Latencies, 0.50), percentile(res.Latencies, 0.99), s.units)
	return res.Latencies, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if !slices.IsSorted(sorted) {
		sorted = slices.Clone(sorted)
		slices.Sort(sorted)
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

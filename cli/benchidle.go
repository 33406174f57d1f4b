package cli

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bgtask/bgtask/internal/idlebench"
)

func newBenchIdleCmd(inv *invocation) *cobra.Command {
	var f benchIdleFlags
	cfg := &f.cfg
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "Measure how idle scheduling protects HTTP request latency",
		Long: `bench idle starts an HTTP server on 127.0.0.1, measures its capacity, then
offers about half of it from a load generator in a child process and measures
request latency in three modes, interleaved in short segments under one
continuous load:

  a  no idle workload
  b  a CPU-heavy workload run through the idle scheduler
  c  the same workload run by plain goroutines

It reports p50/p99 per mode, the p99 ratios b/a and c/a, the share of the
spare CPU the idle workload used in mode b, where the added latency comes
from, and how quiet the machine was. Before measuring the capacity and
again before the modes, it waits up to --quiet-wait for half a second in
which other processes use less than 0.15 cores (it says so on stderr).
A run takes about 45 s on a quiet machine. The scheduler's overhead per
callback is measured by go test -bench . ./idle. See docs/idle.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.verbose {
				cfg.Logf = func(format string, args ...any) { fmt.Fprintf(inv.stderr, format+"\n", args...) }
			}
			if err := f.check(cmd.Flags()); err != nil {
				return err
			}
			cfg.Notef = func(format string, args ...any) { fmt.Fprintf(inv.stderr, format+"\n", args...) }
			var all []idlebench.Result
			for i := range f.reps {
				if f.reps > 1 {
					fmt.Fprintf(inv.stdout, "run %d of %d\n", i+1, f.reps)
				}
				res, err := idlebench.Run(cmd.Context(), f.cfg)
				if err != nil {
					return err
				}
				fmt.Fprintln(inv.stdout, res.String())
				all = append(all, res)
			}
			if f.reps > 1 {
				fmt.Fprint(inv.stdout, idlebench.Summary(all))
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// benchIdleFlags are bench idle's flags.
type benchIdleFlags struct {
	cfg       idlebench.Config
	verbose   bool
	reps      int
	quietWait time.Duration
}

// register defines bench idle's flags on fl, writing into f.
func (f *benchIdleFlags) register(fl *pflag.FlagSet) {
	cfg := &f.cfg
	durationVar(fl, &cfg.Duration, "duration", idlebench.DefaultDuration, fmt.Sprintf("measured time per mode (more than 0, at most %v)", maxIdleDuration))
	durationVar(fl, &cfg.Segment, "segment", idlebench.DefaultSegment, fmt.Sprintf("how long the server stays in one mode before switching to the next (more than the %v not measured at its start, at most --duration)", idlebench.DefaultGuard))
	fl.Float64Var(&cfg.Load, "load", idlebench.DefaultLoad, "offered load as a fraction of the measured capacity (0.01 to 1)")
	durationVar(fl, &cfg.Work, "work", idlebench.DefaultWork, "CPU time per request (more than 0)")
	durationVar(fl, &cfg.Unit, "unit", idlebench.DefaultUnit, "CPU time per unit of idle work (more than 0)")
	fl.StringVar(&cfg.Strategy, "strategy", idlebench.DefaultStrategy, "idle strategy: "+strings.Join(idlebench.StrategyNames(), ", "))
	fl.StringVar(&cfg.Compare, "compare", "", "a second strategy to run in mode c instead of plain goroutines (same run, same neighbours; same workers and extra Ps as --strategy)")
	fl.BoolVar(&cfg.InProcess, "in-process", false, "run the load generator in this process")
	fl.BoolVar(&cfg.Constant, "constant", false, "constant arrivals instead of Poisson")
	durationVar(fl, &f.quietWait, "quiet-wait", idlebench.DefaultQuietWait, "how long to wait for a quiet machine before measuring (0: do not wait)")
	fl.IntVar(&cfg.Procs, "procs", 0, fmt.Sprintf("GOMAXPROCS in modes b and c, 1 to %d (default: the strategy's, see docs/idle.md)", maxIdleProcs()))
	fl.IntVar(&cfg.BaseProcs, "base-procs", 0, fmt.Sprintf("GOMAXPROCS in mode a, 1 to %d; e.g. the cores, to compare with the program as it ran before idle work raised it (default: --procs)", maxIdleProcs()))
	fl.IntVar(&f.reps, "reps", 1, fmt.Sprintf("runs (1 to %d); with more than one, also print the medians of the ratios", maxIdleReps))
	fl.BoolVar(&f.verbose, "verbose", false, "print progress on stderr")
}

// Limits of bench idle's flags.
const (
	// maxIdleReps bounds --reps.
	maxIdleReps = 100
	// maxIdleDuration bounds --duration: the load generator plans every
	// arrival of the run ahead (about 24 bytes each, at thousands per
	// second) and the run takes about 3 × --duration.
	maxIdleDuration = 10 * time.Minute
)

// maxIdleProcs bounds --procs and --base-procs: the runtime allocates a P
// (with its caches) for each.
func maxIdleProcs() int { return max(1024, 4*runtime.NumCPU()) }

// check refuses, before anything runs and by flag name, the
// values out of range, those the benchmark's Config would take for "use
// the default" and those it would refuse by field name; it sets
// cfg.QuietWait from --quiet-wait.
func (f *benchIdleFlags) check(fl *pflag.FlagSet) error {
	cfg, reps, quietWait := &f.cfg, f.reps, f.quietWait
	switch {
	case reps < 1:
		return usagef("bench idle: --reps %d: want at least 1", reps)
	case reps > maxIdleReps:
		return usagef("bench idle: --reps %d: want at most %d", reps, maxIdleReps)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"duration", cfg.Duration}, {"segment", cfg.Segment}, {"work", cfg.Work}, {"unit", cfg.Unit}} {
		if d.v <= 0 {
			return usagef("bench idle: --%s %v: want more than 0", d.name, d.v)
		}
	}
	names := strings.Join(idlebench.StrategyNames(), ", ")
	all := idlebench.Strategies()
	st, stOK := all[cfg.Strategy]
	cmp, cmpOK := all[cfg.Compare]
	switch {
	case cfg.Duration > maxIdleDuration:
		return usagef("bench idle: --duration %v: want at most %v", cfg.Duration, maxIdleDuration)
	case cfg.Segment <= idlebench.DefaultGuard:
		return usagef("bench idle: --segment %v: want more than the %v at the start of each segment that is not measured", cfg.Segment, idlebench.DefaultGuard)
	case cfg.Segment > cfg.Duration:
		// Each mode gets at least one segment: a longer one would
		// measure more than --duration.
		return usagef("bench idle: --segment %v: want at most --duration (%v)", cfg.Segment, cfg.Duration)
	case !(cfg.Load >= 0.01 && cfg.Load <= 1): // NaN too; 1e-300 offered 0 req/s and hung
		return usagef("bench idle: --load %v: want at least 0.01 and at most 1", cfg.Load)
	case !stOK:
		return usagef("bench idle: --strategy %q: want one of %s", cfg.Strategy, names)
	case fl.Changed("compare") && !cmpOK:
		return usagef("bench idle: --compare %q: want one of %s (leave it out for plain goroutines in mode c)", cfg.Compare, names)
	case cfg.Compare != "" && (max(cmp.Workers, 1) != max(st.Workers, 1) || cmp.ExtraProcs != st.ExtraProcs):
		return usagef("bench idle: --compare %q: differs from --strategy %q in workers (%d, %d) or extra Ps (%v, %v); want a strategy with the same",
			cfg.Compare, cfg.Strategy, max(cmp.Workers, 1), max(st.Workers, 1), cmp.ExtraProcs, st.ExtraProcs)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"procs", cfg.Procs}, {"base-procs", cfg.BaseProcs}} {
		// 0 is Config's "the default": given, it would be replaced.
		switch {
		case fl.Changed(p.name) && p.v < 1:
			return usagef("bench idle: --%s %d: want at least 1 (leave it out for the default)", p.name, p.v)
		case p.v > maxIdleProcs():
			return usagef("bench idle: --%s %d: want at most %d", p.name, p.v, maxIdleProcs())
		}
	}
	cfg.QuietWait = quietWait
	if quietWait == 0 {
		cfg.QuietWait = -1 // do not wait
	}
	return nil
}

package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask/internal/idlebench"
)

func newBenchIdleCmd(inv *invocation) *cobra.Command {
	var cfg idlebench.Config
	var verbose bool
	var reps int
	var quietWait time.Duration
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
			if verbose {
				cfg.Logf = func(format string, args ...any) { fmt.Fprintf(inv.stderr, format+"\n", args...) }
			}
			if reps < 1 || reps > 100 {
				return fmt.Errorf("--reps must be between 1 and 100, got %d", reps)
			}
			if err := checkBenchIdleFlags(&cfg, quietWait); err != nil {
				return err
			}
			cfg.Notef = func(format string, args ...any) { fmt.Fprintf(inv.stderr, format+"\n", args...) }
			var all []idlebench.Result
			for i := range reps {
				if reps > 1 {
					fmt.Fprintf(inv.stdout, "run %d of %d\n", i+1, reps)
				}
				res, err := idlebench.Run(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				fmt.Fprintln(inv.stdout, res.String())
				all = append(all, res)
			}
			if reps > 1 {
				fmt.Fprint(inv.stdout, idlebench.Summary(all))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	durationVar(fl, &cfg.Duration, "duration", idlebench.DefaultDuration, "measured time per mode")
	durationVar(fl, &cfg.Segment, "segment", idlebench.DefaultSegment, "how long the server stays in one mode before switching to the next")
	fl.Float64Var(&cfg.Load, "load", idlebench.DefaultLoad, "offered load as a fraction of the measured capacity")
	durationVar(fl, &cfg.Work, "work", idlebench.DefaultWork, "CPU time per request")
	durationVar(fl, &cfg.Unit, "unit", idlebench.DefaultUnit, "CPU time per unit of idle work")
	fl.StringVar(&cfg.Strategy, "strategy", idlebench.DefaultStrategy, "idle strategy: "+strings.Join(idlebench.StrategyNames(), ", "))
	fl.StringVar(&cfg.Compare, "compare", "", "a second strategy to run in mode c instead of plain goroutines (same run, same neighbours)")
	fl.BoolVar(&cfg.InProcess, "in-process", false, "run the load generator in this process")
	fl.BoolVar(&cfg.Constant, "constant", false, "constant arrivals instead of Poisson")
	durationVar(fl, &quietWait, "quiet-wait", idlebench.DefaultQuietWait, "how long to wait for a quiet machine before measuring (0: do not wait)")
	fl.IntVar(&cfg.Procs, "procs", 0, "GOMAXPROCS in modes b and c (default: the strategy's, see docs/idle.md)")
	fl.IntVar(&cfg.BaseProcs, "base-procs", 0, "GOMAXPROCS in mode a; e.g. the cores, to compare with the program as it ran before idle work raised it (default: --procs)")
	fl.IntVar(&reps, "reps", 1, "runs; with more than one, also print the medians of the ratios")
	fl.BoolVar(&verbose, "verbose", false, "print progress on stderr")
	return cmd
}

// checkBenchIdleFlags refuses, by flag name, the values the benchmark's
// Config would take for "use the default" or refuse by field name, and
// sets cfg.QuietWait from --quiet-wait.
func checkBenchIdleFlags(cfg *idlebench.Config, quietWait time.Duration) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--duration", cfg.Duration}, {"--segment", cfg.Segment}, {"--work", cfg.Work}, {"--unit", cfg.Unit}} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive, got %v", d.name, d.v)
		}
	}
	switch {
	case cfg.Segment <= idlebench.DefaultGuard:
		return fmt.Errorf("--segment must be longer than the %v at the start of each segment that is not measured, got %v", idlebench.DefaultGuard, cfg.Segment)
	case !(cfg.Load > 0 && cfg.Load <= 1): // NaN too
		return fmt.Errorf("--load must be in (0, 1], got %v", cfg.Load)
	case cfg.Strategy == "":
		return fmt.Errorf("--strategy must not be empty (one of %s)", strings.Join(idlebench.StrategyNames(), ", "))
	case cfg.Procs < 0:
		return fmt.Errorf("--procs must not be negative, got %d", cfg.Procs)
	case cfg.BaseProcs < 0:
		return fmt.Errorf("--base-procs must not be negative, got %d", cfg.BaseProcs)
	}
	cfg.QuietWait = quietWait
	if quietWait == 0 {
		cfg.QuietWait = -1 // do not wait
	}
	return nil
}

// Package idlebench measures whether idle work run through package idle
// leaves an HTTP server's latency alone, and how much of the spare CPU it
// gets to use.
//
// [Run] starts an HTTP server on 127.0.0.1 whose handler burns about 1 ms
// of CPU (SHA-256, calibrated at start), measures its capacity with a
// closed loop, then offers half of it as an open-loop Poisson load for the
// whole measurement, and switches the server between three modes every
// 500 ms, in the order a b c c b a …, until each mode has 10 s measured:
//
//	(a) no idle work;
//	(b) a CPU-heavy idle workload (units of ~20 µs of SHA-256, checking
//	    TimeRemaining between units) run through idle Schedulers whose
//	    load source is the InFlight middleware on the server;
//	(c) the same workload on plain goroutines.
//
// Each request is filed under the mode of the segment in which it was
// scheduled to arrive; the first 100 ms of every segment are not
// measured. Latency runs from the scheduled arrival, not the actual send,
// so a generator that falls behind does not hide queueing. Interleaving
// the modes under one load makes a drift or a burst of the machine's other
// load (other processes, the hypervisor's steal) hit the three alike.
//
// The load generator runs in a child process — the same executable,
// started again with BGTASK_IDLEBENCH_LOADGEN=1, which this package's init
// function turns into a generator — so that it has its own Go runtime,
// like a real client, instead of sharing the Go scheduler with the server
// and the idle work. Any binary that links this package can therefore run
// Run; Config.InProcess keeps the generator in the process instead.
//
// How mode (b) uses the schedulers is a Strategy; Strategies lists the
// ones measured in docs/idle.md and DefaultStrategy is the one chosen.
//
// Run it with
//
//	go test -run '^$' -bench Idle -benchtime 1x ./internal/idlebench
//
// (environment variables BGTASK_IDLEBENCH_STRATEGY, _DURATION, _SEGMENT,
// _LOAD, _INPROCESS=1 and _CONSTANT=1 override the defaults), or from the
// CLI as `bgtask bench idle`. A run takes about 45 s.
package idlebench

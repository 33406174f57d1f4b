// Package idle runs low-priority work only when the process is idle, in
// short slices, with a timeout that guarantees it runs eventually: the W3C
// "Cooperative Scheduling of Background Tasks" API (requestIdleCallback)
// for Go.
//
// # Processing model
//
// A [Scheduler] keeps two lists. [Scheduler.Request] appends a callback to
// the pending list and returns its [Handle]; handles start at 1 and
// strictly increase. When an idle period starts — callbacks are waiting and
// no [LoadSource] is busy — every pending callback moves, in order, to the
// end of the runnable list, and runnable callbacks run one at a time, first
// in first out, for as long as the period lasts. A callback requested
// during a period is pending, so it never runs in that period; callbacks
// left runnable when the period ends carry over to the next one.
//
// Each callback receives a [Deadline]. Its TimeRemaining is the time to
// min(period start + MaxPeriod (50 ms), the earliest busy time a source
// announced), read live: the moment a source turns busy it drops to 0, so a
// CPU-heavy callback that checks it every few tens of microseconds gives
// way to foreground work at once. It is never negative.
//
// A callback requested with a [RequestOpts] Timeout runs at the latest when
// the timeout expires (and the running callback returns): it is then taken
// off both lists and run before any runnable callback, with DidTimeout true
// and TimeRemaining 0. Callbacks whose timeouts have expired run among
// themselves in request order too, whatever order their timeouts expired
// in: every path is first in, first out. If it ran in
// an idle period first, the timeout does nothing; the two race under one
// lock and only one of them calls it. [Scheduler.Cancel] takes a callback
// off both lists and defuses its timeout; cancelling an unknown handle, or
// one that already ran, does nothing, and a callback may cancel itself. A
// callback that panics is recovered and reported (Config.PanicHandler) and
// the others still run. Stop, or cancelling the context given to Start,
// stops the scheduler at once: no callback starts after it, and the running
// one sees TimeRemaining 0.
//
// # Load sources
//
// Idleness comes from pluggable [LoadSource]s. Each says whether it is busy
// now, may announce the next time it expects to be (the analogue of the
// browser's next timer or frame), and notifies the scheduler when that
// changes, so that nothing polls:
//
//   - [Counter]: counted by the program itself — the task manager counts
//     its running foreground tasks with it. It can carry a known next busy
//     time (SetNextBusy).
//   - [InFlight]: an HTTP middleware that counts requests in flight, and
//     predicts the next arrival when arrivals are regular.
//   - [CPU]: samples the process's (or its cgroup's) CPU use, not counting
//     the idle callbacks themselves, and is busy above a share of the cores.
//
// With no source at all the scheduler falls back to requestIdleCallback's
// setTimeout shim: the process counts as always idle and every callback
// gets its own fixed 50 ms budget.
//
// # Long tasks
//
// A callback lasts at most one period, but a task may run for minutes. A
// [Gate] bridges the two: the task runs in its own goroutine and calls
// [Gate.Yield] between units of work; Yield returns at once while the
// current slice has time left, and otherwise hands the period back (the
// callback returns) and blocks until the next callback runs. With a
// Timeout on the gate every slice comes within the timeout, so the task
// progresses by at least one unit per timeout even under continuous
// foreground load. The task manager runs idle-priority tasks this way:
//
//	g := s.NewGate(&idle.RequestOpts{Timeout: time.Minute})
//	defer g.Close()
//	for _, item := range items {
//		if err := g.Yield(ctx); err != nil {
//			return err
//		}
//		process(item)
//	}
//
// # Protecting the CPU, not just the schedule
//
// Go cannot preempt a callback at the scheduler's will: the live deadline
// only helps if the callback checks it. Config.LowPriority adds a kernel
// guarantee on Linux: callbacks run on a dedicated OS thread with the
// SCHED_IDLE policy, so the kernel runs foreground threads first even
// while a callback is between two checks. Raise GOMAXPROCS for such
// schedulers: a callback keeps its P while the kernel runs requests on
// every core instead of its thread, and a request arriving then needs a P
// of its own to share a CPU rather than wait in Go's run queue. Leave the
// requests two Ps per core: GOMAXPROCS = 2 × cores + the number of
// LowPriority schedulers (6 for one per core on 2 cores). docs/idle.md has
// the measurements behind this advice.
//
// All timing goes through an injectable [clock.Clock], so that every rule
// above is tested without sleeping.
package idle

// Package testtasks holds the test-only task definitions (README: "Test-only
// tasks").
// They exist only in binaries built with the testtasks build tag; without
// it, Registry returns nil and the CLI's lookup chain skips it.
//
// The tasks are deterministic so that process-level tests of task mode and
// the manager's tests can share them:
//
//	success                     → 0
//	failure                     → Exit(1)
//	exception                   → an error (exit 3)
//	panic                       → panics (exit 3)
//	timeout                     → Timeout 1 s; sleeps 5 minutes ignoring its
//	                              context, so only the grace period ends it
//	minruntime                  → MinRuntime 2 s; returns at once
//	wait [SECONDS]              → sleeps SECONDS (default 10), honouring ctx
//	retriable_wait [SECONDS]    → Retriable (max 3 attempts): wait on
//	                              attempt 1, return at once on later ones
//	                              (crash-recovery tests of the manager)
//	unique_workspace SENTINEL [N]
//	                            → prints SENTINEL, {"pid":…,"workspace":…},
//	                              SENTINEL on three stdout lines; if N > 1,
//	                              runs `run unique_workspace SENTINEL N-1`
//	                              with os.Executable and returns its code
//	no_output SENTINEL [N]      → the same, with NoOutput
//	persistent_counter N        → persistent workspace; returns the number
//	                              stored there (4 if none), stores N
//	file_exists PATH            → 0 if PATH exists, else Exit(11)
//	progress STEPS [MS]         → SetTotal(STEPS), then STEPS × Add(1), MS
//	                              (default 100) apart, honouring ctx
//	bytes BYTES                 → ProgressUnit "bytes": SetTotal(BYTES), then
//	                              4 × Set(BYTES·i/4), 50 ms apart
//	parallel KEYS FAILKEYS      → one subtask per comma-separated key; those
//	                              in FAILKEYS fail while Attempt() == 1
//	run_detached NAME [ARG...]  → bgtask.RunDetached(NAME, ARG...) (tests
//	                              of detached launch)
package testtasks

// Package taskmode is the headless runner behind `bgtask run`: it runs one
// task definition in the current process and turns the result into the
// exit-code contract (bgtask.Exit* constants; docs/concepts.md).
//
// A run: look the name up; resolve timeout, grace period and minimum
// runtime; optionally wait for a debugger and serve pprof; sweep stale
// workspaces and open this run's workspace; silence a no-output task; run
// the task with its context cancelled on timeout or signal; wait out the
// minimum runtime; remove the ephemeral workspace. It starts no store, no
// HTTP server (unless --debug-addr asks for one) and no metrics.
//
// The runner writes nothing to stdout. Its diagnostics are single lines on
// stderr prefixed "bgtask: "; only a panicking task adds a stack trace.
package taskmode

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bgtask/bgtask"
)

// Config says how the runner reaches its environment. The zero value runs
// against the real process environment without owning the process.
type Config struct {
	// Registry resolves task names (already chained: application,
	// built-in, test-only). Required.
	Registry *bgtask.Registry
	// Stderr receives diagnostics and the task's log. nil: os.Stderr.
	Stderr io.Writer
	// Getenv reads environment variables. nil: os.Getenv.
	Getenv func(string) string
	// Name is the program's name, the prefix of diagnostics ("NAME: ...").
	// "": "bgtask".
	Name string
	// Executable is the path hashed into ephemeral workspace names.
	// "": os.Executable().
	Executable string
	// OwnProcess lets the runner act on the whole process: redirect file
	// descriptors 1 and 2 to /dev/null for no-output tasks and handle
	// SIGHUP, SIGINT and SIGTERM (stopSignals). Set by cli.Main only;
	// in-process callers (tests,
	// cli.Run) leave it false and get io.Discard and context cancellation
	// instead.
	OwnProcess bool
}

// Request is one `bgtask run` invocation.
type Request struct {
	// Name of the task and Args, exactly what followed it.
	Name string
	Args []string
	// Timeout is --timeout (nil: not given; 0: no timeout).
	Timeout *time.Duration
	// MinRuntime is --min-runtime (nil: not given).
	MinRuntime *time.Duration
	// Workspace is --workspace ("": not given).
	Workspace string
	// AttachConsole is --attach-console.
	AttachConsole bool
	// WaitForDebugger is --wait-for-debugger.
	WaitForDebugger bool
	// DebugAddr is --debug-addr ("": no pprof server).
	DebugAddr string
}

// Run runs the request and returns the process exit code: one of the
// bgtask.Exit* codes, a task-specific code, or 128+N after signal N
// (129 for SIGHUP, 130 for SIGINT, 143 for SIGTERM) or after ctx is
// cancelled (143).
func Run(ctx context.Context, cfg *Config, req *Request) int {
	r := newRunner(cfg)
	return r.run(ctx, req)
}

// runner holds one run's environment. It is used by the goroutine that
// called Run; the task goroutine only reads stderr and logLevel.
type runner struct {
	cfg    *Config
	stderr io.Writer
	getenv func(string) string
	// sigs delivers the stop signals (SIGHUP, SIGINT, SIGTERM) when the
	// runner owns the process; nil otherwise.
	sigs chan os.Signal
	// sigsReady is closed once sigs is registered (nil: nothing to await).
	sigsReady chan struct{}
}

func newRunner(cfg *Config) *runner {
	r := &runner{cfg: cfg, stderr: cfg.Stderr, getenv: cfg.Getenv}
	if r.stderr == nil {
		r.stderr = os.Stderr
	}
	if _, isFile := r.stderr.(*os.File); !isFile {
		r.stderr = &lockedWriter{w: r.stderr} // the task goroutine writes too
	}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	return r
}

// diag writes one diagnostic line to stderr.
func (r *runner) diag(format string, a ...any) {
	fmt.Fprintf(r.stderr, "%s: "+format+"\n", append([]any{r.name()}, a...)...)
}

// name is the program's name.
func (r *runner) name() string {
	if r.cfg.Name == "" {
		return "bgtask"
	}
	return r.cfg.Name
}

func (r *runner) run(ctx context.Context, req *Request) int {
	def, ok := r.cfg.Registry.Lookup(req.Name)
	if !ok {
		r.diag("unknown task %q (see `%s tasks`)", req.Name, r.name())
		return bgtask.ExitNotFound
	}
	s, err := resolveSettings(def, req, r.getenv)
	if err != nil {
		r.diag("%v", err)
		return bgtask.ExitFailure
	}
	if def.CheckArgs != nil {
		if err := def.CheckArgs(req.Args); err != nil {
			// Before silence: a no-output task's usage errors are seen.
			r.diag("%v", err)
			return bgtask.ExitCode(err)
		}
	}
	r.handleSignals()
	if req.WaitForDebugger {
		r.awaitSignalHandlers()
		if code, stop := r.waitForDebugger(ctx); stop {
			return code
		}
		s.timeout, s.minRuntime = 0, 0
	}
	if req.DebugAddr != "" {
		r.awaitSignalHandlers() // before the URL tells anyone we are up
		stop, err := r.serveDebug(req.DebugAddr)
		if err != nil {
			r.diag("--debug-addr: %v", err)
			return bgtask.ExitFailure
		}
		defer stop()
	}
	return r.runInWorkspace(ctx, def, req, s)
}

// handleSignals routes the stop signals (stopSignals: SIGHUP, SIGINT,
// SIGTERM; SIGHUP not if the process started ignoring it) to r.sigs when
// the runner owns the process. Registering costs a few hundred microseconds (the runtime
// starts a thread for signal masks), so it runs concurrently with the stale
// sweep; awaitSignalHandlers joins it before anything needs cleaning up. A
// signal that arrives earlier kills the process the default way, with
// nothing left behind.
//
// The handlers stay registered until the process exits: cli.Main's caller
// exits right after, and signal.Stop would cost as much again.
func (r *runner) handleSignals() {
	if !r.cfg.OwnProcess {
		return
	}
	r.sigs = make(chan os.Signal, 2)
	r.sigsReady = make(chan struct{})
	go func() {
		signal.Notify(r.sigs, HandledStopSignals()...)
		close(r.sigsReady)
	}()
}

// awaitSignalHandlers returns once handleSignals has registered.
func (r *runner) awaitSignalHandlers() {
	if r.sigsReady != nil {
		<-r.sigsReady
	}
}

// runInWorkspace opens the workspace, runs the task in it and closes it.
func (r *runner) runInWorkspace(ctx context.Context, def *bgtask.Definition, req *Request, s *settings) int {
	ws, err := r.openWorkspace(def, req, s)
	if err != nil {
		r.diag("%v", err)
		return bgtask.ExitFailure
	}
	defer func() {
		if err := ws.close(); err != nil {
			r.diag("%v", err)
		}
	}()
	out := r.stderr
	if s.silence {
		if out, err = r.silence(); err != nil {
			r.diag("no-output: %v", err)
			return bgtask.ExitFailure
		}
	}
	return r.execute(ctx, def, r.newTaskEnv(def, req, ws.dir, out, s), s)
}

// lockedWriter serialises writes to a writer that is not safe for
// concurrent use (a test's buffer); *os.File needs no help.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// interrupted maps a signal (nil: the caller's context ended) to the exit
// code of an interrupted run.
func interrupted(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGTERM)
}

// sleep waits d, or until a signal or ctx ends it early; it reports the
// exit code of an interruption and whether one happened.
func (r *runner) sleep(ctx context.Context, d time.Duration) (int, bool) {
	if d <= 0 {
		return 0, false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, false
	case sig := <-r.sigs:
		return interrupted(sig), true
	case <-ctx.Done():
		return interrupted(nil), true
	}
}

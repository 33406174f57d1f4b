package taskmode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/parallel"
)

// taskEnv is what every Task handle of one run shares.
type taskEnv struct {
	id        string
	args      []string
	workspace string
	logger    *slog.Logger
}

func (r *runner) newTaskEnv(def *bgtask.Definition, req *Request, dir string, out io.Writer, s *settings) *taskEnv {
	h := slog.NewTextHandler(out, &slog.HandlerOptions{Level: s.logLevel})
	return &taskEnv{
		id:        newRunID(time.Now()),
		args:      req.Args,
		workspace: dir,
		logger:    slog.New(h).With("task", def.Name),
	}
}

// newTask returns the handle of the task (key "") or of one subtask.
// Progress changes are logged at debug level (BGTASK_LOG_LEVEL=debug).
func (e *taskEnv) newTask(name, key string) *bgtask.Task {
	logger := e.logger
	if key != "" {
		logger = logger.With("subtask", key)
	}
	var t *bgtask.Task
	t = bgtask.NewTask(bgtask.TaskConfig{
		ID:         e.id,
		Name:       name,
		Args:       e.args,
		Attempt:    1,
		Workspace:  e.workspace,
		SubtaskKey: key,
		Logger:     logger,
		OnProgress: func() {
			if logger.Enabled(context.Background(), slog.LevelDebug) {
				p := t.Progress().Snapshot()
				logger.Debug("progress", "current", p.Current, "total", p.Total, "message", p.Message)
			}
		},
	})
	return t
}

// execute runs the task under its timeout and the signals, then waits out
// the minimum runtime. It returns the exit code.
func (r *runner) execute(ctx context.Context, def *bgtask.Definition, env *taskEnv, s *settings) int {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	done := make(chan outcome, 1)
	go func() {
		code := r.invoke(tctx, def, env)
		// Read after the task returned: an interruption through ctx that
		// the task could have seen (it returns ctx.Err(), exit 3) came
		// first, and wins below.
		done <- outcome{code: code, interrupted: ctx.Err() != nil}
	}()

	var expired <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case o := <-done:
		// When the task's return and the interruption are both there,
		// the interruption came first (the task returned because of it,
		// or at the same moment): it is the outcome, whichever case the
		// select happened to pick. A signal the process received before
		// the task failed wins too: it may have reached the task another
		// way (a child of the task killed by the same signal to the
		// process group) before the runner's channel had it.
		if o.code != bgtask.ExitSuccess {
			r.flushSignals()
		}
		if sig, ok := r.pendingSignal(); ok {
			r.diag("task %q interrupted by %v", def.Name, sig)
			return interrupted(sig)
		}
		if o.interrupted {
			return interrupted(nil)
		}
		code := o.code
		if code == bgtask.ExitException {
			return code // an exception does not wait out the minimum runtime
		}
		if icode, stopped := r.sleep(ctx, s.minRuntime-time.Since(start)); stopped {
			r.diag("task %q interrupted during its minimum runtime of %v (the task had ended with exit %d)", def.Name, s.minRuntime, code)
			return icode
		}
		return code
	case <-expired:
		r.diag("task %q timed out after %v", def.Name, s.timeout)
		cancel()
		r.awaitGrace(def.Name, done, s.grace, nil)
		return bgtask.ExitTimeout
	case sig := <-r.sigs:
		r.diag("task %q interrupted by %v", def.Name, sig)
		cancel()
		r.awaitGrace(def.Name, done, s.grace, sig)
		return interrupted(sig)
	case <-ctx.Done():
		r.awaitGrace(def.Name, done, s.grace, nil)
		return interrupted(nil)
	}
}

// outcome is what the task goroutine reports: the exit code, and whether
// the caller's context had ended by the time the task returned.
type outcome struct {
	code        int
	interrupted bool
}

// flushSignals returns once every stop signal (SIGHUP, SIGINT, SIGTERM)
// that reached the process before the call is in r.sigs (nothing to do
// when the runner does not own the process). os/signal delivers
// asynchronously; the runner sends itself a marker signal, SIGWINCH, and
// waits for it: the kernel delivers the lower-numbered SIGHUP (1), SIGINT
// (2) and SIGTERM (15) pending before it first, and the runtime hands a
// batch of signals to os/signal in increasing number, so the marker
// arrives after them. Bounded by a second in case the marker is blocked.
func (r *runner) flushSignals() {
	if r.sigs == nil {
		return
	}
	r.awaitSignalHandlers()
	if markerSignal == nil {
		return // no such signal here (Windows)
	}
	mark := make(chan os.Signal, 1)
	signal.Notify(mark, markerSignal)
	defer signal.Stop(mark)
	if err := signalSelf(markerSignal); err != nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-mark:
	case <-t.C:
	}
}

// pendingSignal returns a stop signal the runner has received and
// not yet acted on, without waiting.
func (r *runner) pendingSignal() (os.Signal, bool) {
	select {
	case sig := <-r.sigs: // nil when the runner does not own the process
		return sig, true
	default:
		return nil, false
	}
}

// RepeatWindow is how soon the same stop signal may arrive again and still
// be the same stop request: GNU timeout (without --foreground) and some
// supervisors send their signal to the process and then to its whole
// process group, so one request arrives twice within microseconds, where a
// person pressing Ctrl-C twice is far slower. A repeat within the window
// does not cut the grace period short (task mode) or force the exit
// (serve).
const RepeatWindow = 500 * time.Millisecond

// awaitGrace gives a cancelled task the grace period to return. A second
// signal cuts it short — not first (the signal that interrupted the task,
// or nil) arriving again within RepeatWindow. A task still running
// afterwards is abandoned: the process exits around it.
func (r *runner) awaitGrace(name string, done <-chan outcome, grace time.Duration, first os.Signal) {
	t := time.NewTimer(grace)
	defer t.Stop()
	firstAt := time.Now()
	for range 64 { // bounded: each round ends the wait or skips one repeat
		select {
		case <-done:
			return
		case s := <-r.sigs:
			if first != nil && s == first && time.Since(firstAt) < RepeatWindow {
				continue
			}
			return
		case <-t.C:
			r.diag("task %q did not return within the %v grace period", name, grace)
			return
		}
	}
}

// invoke runs the task (or its subtasks) and maps the outcome to an exit
// code.
func (r *runner) invoke(ctx context.Context, def *bgtask.Definition, env *taskEnv) int {
	t := env.newTask(def.Name, "")
	if def.Parallel() {
		return r.runParallel(ctx, def, env, t)
	}
	return r.call(ctx, fmt.Sprintf("task %q", def.Name), def.Run, t)
}

// call runs one run function, recovering a panic (logged with its stack)
// and logging an exception.
func (r *runner) call(ctx context.Context, label string, run bgtask.RunFunc, t *bgtask.Task) (code int) {
	defer func() {
		if v := recover(); v != nil {
			r.diag("%s panicked: %v\n%s", label, v, debug.Stack())
			code = bgtask.ExitException
		}
	}()
	err := run(ctx, t)
	code = bgtask.ExitCode(err)
	// A task that returns its context's error after the runner cancelled
	// it (timeout, signal) failed because of that: the runner has said
	// why ("timed out after 1s"), and "failed: context canceled" next to
	// it would mislead.
	// Any other error after the cancel is most likely its consequence (a
	// child process killed by exec.CommandContext: "signal: killed"):
	// "failed" next to "interrupted by terminated" contradicted it.
	switch {
	case code != bgtask.ExitException:
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
	case ctx.Err() != nil:
		r.diag("%s returned after it was stopped: %s", label, describe(err))
	default:
		r.diag("%s failed: %s", label, describe(err))
	}
	return code
}

// describe renders a run function's error for a diagnostic line.
func describe(err error) string {
	var ee *bgtask.ExitError
	if errors.As(err, &ee) {
		if bgtask.ValidExitCode(ee.Code) {
			return fmt.Sprintf("exit code %d", ee.Code)
		}
		return fmt.Sprintf("invalid exit code %d (valid: 0, 1, 3, 4 and %d..%d)", ee.Code, bgtask.ExitTaskMin, bgtask.ExitTaskMax)
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// runParallel runs one subtask per key, at most Concurrency at once. The
// task succeeds (0) if every subtask returns nil (or Exit(0)); otherwise
// it ends with ExitException and lists the failed keys on stderr. Task
// mode runs each subtask once: there is no retry of failed subtasks.
func (r *runner) runParallel(ctx context.Context, def *bgtask.Definition, env *taskEnv, t *bgtask.Task) int {
	keys, err := listSubtasks(ctx, def, t)
	if err != nil {
		r.diag("task %q: %v", def.Name, err)
		return bgtask.ExitException
	}
	limit := def.Concurrency
	if limit <= 0 {
		limit = bgtask.DefaultSubtaskConcurrency
	}
	t.Progress().SetTotal(float64(len(keys)))
	codes := make([]int, len(keys))
	todo := make([]int, len(keys))
	for i := range todo {
		todo[i] = i
		codes[i] = notRun
	}
	// The same scheduling as the manager's (internal/parallel); task mode
	// runs every subtask, once.
	parallel.Run(ctx, todo, limit, func(ctx context.Context, i int) {
		label := fmt.Sprintf("task %q subtask %q", def.Name, keys[i])
		codes[i] = r.call(ctx, label, def.RunSubtask, env.newTask(def.Name, keys[i]))
		t.Progress().Add(1, keys[i])
	})
	var failed []string
	for i, c := range codes {
		switch c {
		case bgtask.ExitSuccess:
		case notRun:
			failed = append(failed, keys[i]+" (not run: interrupted)")
		default:
			failed = append(failed, fmt.Sprintf("%s (exit %d)", keys[i], c))
		}
	}
	if len(failed) > 0 {
		r.diag("task %q: %d of %d subtasks failed: %s", def.Name, len(failed), len(keys), strings.Join(failed, ", "))
		return bgtask.ExitException
	}
	return bgtask.ExitSuccess
}

// notRun marks a subtask that an interruption kept from starting.
const notRun = -1

// listSubtasks calls the definition's Subtasks and checks the keys are
// non-empty and unique; a panic there is an exception like any other.
func listSubtasks(ctx context.Context, def *bgtask.Definition, t *bgtask.Task) (keys []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("listing subtasks panicked: %v\n%s", v, debug.Stack())
		}
	}()
	keys, err = def.Subtasks(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("listing subtasks: %w", err)
	}
	if err := parallel.CheckKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

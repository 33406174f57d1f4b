package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask/internal/taskmode"
)

const runLong = `Run one task headless in this process and exit with its exit code.
Everything after NAME belongs to the task, flags included.

Exit codes:
  0        success: the task returned nil or Exit(0)
  1        failure: the runner failed before the task could start (bad
           flags, workspace locked or not creatable), or the task chose 1
  2        no task with that name
  3        exception: the task returned an error, panicked, or returned an
           invalid exit code (a parallel task: some subtask failed)
  4        timeout: the timeout expired first
  5-10     reserved
  11-127   task-specific, via bgtask.Exit(n)
  129      interrupted by SIGHUP (a hang-up), the workspace removed
  130      interrupted by SIGINT (Ctrl-C), the workspace removed
  143      interrupted by SIGTERM, the workspace removed

Timeout: the task's own, else --timeout, else $BGTASK_DEFAULT_TIMEOUT, else
10m (0 disables it). On expiry the task's context is cancelled, the runner
waits up to $BGTASK_TIMEOUT_GRACE (default 5s), then exits 4.
Durations are Go durations (90s, 1m30s) or bare numbers of seconds (90).

Environment:
  BGTASK_DEFAULT_TIMEOUT          default timeout (default 10m)
  BGTASK_TIMEOUT_GRACE            grace period after a timeout (default 5s)
  BGTASK_PURGE_STALE_WORKSPACES   always | never | <age in ms> (default 60000)
  BGTASK_NO_REMOVE_WORKSPACE      non-empty: keep the ephemeral workspace
  BGTASK_IGNORE_NO_OUTPUT         non-empty: like --attach-console
  BGTASK_LOG_LEVEL                debug | info | warn | error (default info)
  TMPDIR                          where ephemeral workspaces are created
  XDG_STATE_HOME, HOME            persistent workspaces live in
                                  $XDG_STATE_HOME/bgtask/workspaces/NAME
                                  (else ~/.local/state/bgtask/...)`

// errMissingTaskName: `run` or `--backgroundtask` without a task name.
var errMissingTaskName = errors.New("missing task name")

func newRunCmd(inv *invocation) *cobra.Command {
	var (
		req                 taskmode.Request
		timeout, minRuntime durationFlag
	)
	cmd := &cobra.Command{
		Use:   "run [flags] NAME [ARG...]",
		Short: "Run one task headless and exit with its exit code",
		Long:  runLong,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "" {
				// "" is no name (an unset shell variable): exit 1, not
				// 2 (no such task).
				return usageError{fmt.Errorf("%s: %w", inv.typed(cmd), errMissingTaskName)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name, req.Args = args[0], args[1:]
			req.Timeout, req.MinRuntime = timeout.value(), minRuntime.value()
			cfg := &taskmode.Config{
				Registry:   inv.registry,
				Stderr:     inv.stderr,
				Getenv:     inv.getenv,
				Name:       inv.name,
				OwnProcess: inv.own,
			}
			run := inv.runTask
			if run == nil {
				run = taskmode.Run
			}
			if code := run(cmd.Context(), cfg, &req); code != 0 {
				return exitStatus(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after NAME belong to the task
	f.Var(&timeout, "timeout", "timeout when the task has none (e.g. 90s, 2m; 0: none)")
	f.Var(&minRuntime, "min-runtime", "minimum runtime when the task has none; an early finisher waits")
	f.Var(nonEmpty{&req.Workspace, "leave --workspace out for a throw-away workspace"}, "workspace", "use `DIR` as workspace (created if missing, never removed)")
	f.BoolVar(&req.AttachConsole, "attach-console", false, "let a no-output task write to stdout/stderr")
	f.BoolVar(&req.WaitForDebugger, "wait-for-debugger", false, "print the PID and wait for SIGCONT or a tracer; disables timeout and min runtime")
	f.StringVar(&req.DebugAddr, "debug-addr", "", "serve net/http/pprof on loopback `ADDR` (e.g. 127.0.0.1:6060) during the run")
	return cmd
}

// durationFlag is a flag value holding an optional duration in the syntax
// of taskmode.ParseDuration (a Go duration or a number of seconds).
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := taskmode.ParseDuration(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

func (f *durationFlag) Type() string { return "duration" }

func (f *durationFlag) value() *time.Duration {
	if !f.set {
		return nil
	}
	d := f.d
	return &d
}

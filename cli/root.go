package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/taskmode"
	"github.com/bgtask/bgtask/internal/testtasks"
	"github.com/bgtask/bgtask/tasks"
)

// commands lists the constructors of the subcommands, one file each. To add
// a command, write cli/NAME.go with a newNAMECmd(*invocation) and add it
// here.
var commands = []func(*invocation) *cobra.Command{
	newRunCmd,
	newServeCmd,
	newSubmitCmd,
	newStatusCmd,
	newListCmd,
	newWatchCmd,
	newCancelCmd,
	newRetryCmd,
	newServersCmd,
	newTasksCmd,
	newBenchCmd,
	newStoreCmd,
	newVersionCmd,
}

// globalFlags are the persistent flags every command sees, registered by
// register. Client commands (submit, status, list, watch, cancel, retry)
// add their shared flags here: --server (BGTASK_SERVER), --token
// (BGTASK_TOKEN), --json. Task mode reads none of them.
type globalFlags struct{}

func (g *globalFlags) register(_ *pflag.FlagSet, _ func(string) string) {}

// invocation is one execution of the command line: the streams, the
// environment and the registries the commands share.
type invocation struct {
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
	own     bool
	global  globalFlags
	app     *bgtask.Registry
	builtin *bgtask.Registry
	test    *bgtask.Registry // nil without the testtasks build tag
	// registry chains app → builtin → test.
	registry *bgtask.Registry
	// runTask runs a decoded `bgtask run` request; nil: taskmode.Run.
	// The argv fuzz test records the request instead.
	runTask func(context.Context, *taskmode.Config, *taskmode.Request) int
}

func newInvocation(cfg *Config) *invocation {
	if cfg == nil {
		cfg = &Config{}
	}
	inv := &invocation{
		stdout:  cfg.Stdout,
		stderr:  cfg.Stderr,
		getenv:  cfg.Getenv,
		own:     cfg.ownProcess,
		app:     cfg.Registry,
		builtin: tasks.Builtin(),
		test:    testtasks.Registry(),
	}
	if inv.stdout == nil {
		inv.stdout = os.Stdout
	}
	if inv.stderr == nil {
		inv.stderr = os.Stderr
	}
	if inv.getenv == nil {
		inv.getenv = os.Getenv
	}
	inv.registry = bgtask.Chain(inv.app, inv.builtin, inv.test)
	return inv
}

// exitStatus is returned by a command that has already reported its
// outcome and only needs the process to exit with that code.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// execute builds the command tree, runs args and maps the result to an
// exit code: an exitStatus is passed through; any other error is printed
// as one line and exits 1 (bgtask.ExitFailure).
func (inv *invocation) execute(ctx context.Context, args []string) int {
	root := inv.newRoot()
	root.SetArgs(rewriteBackgroundTask(args, root))
	err := root.ExecuteContext(ctx)
	var st exitStatus
	switch {
	case err == nil:
		return bgtask.ExitSuccess
	case errors.As(err, &st):
		return int(st)
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	hint := " (see --help)"
	var nu notUsage
	if errors.As(err, &nu) {
		hint = ""
	}
	fmt.Fprintf(inv.stderr, "bgtask: %s%s\n", msg, hint)
	return bgtask.ExitFailure
}

// notUsage marks an error that is no mistake in the command line: execute
// prints it without pointing to --help.
type notUsage struct{ error }

func (e notUsage) Unwrap() error { return e.error }

func (inv *invocation) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "bgtask",
		Short: "Run background tasks: headless task mode, task manager, idle scheduling",
		Long: `bgtask runs background work for Go programs.

Task mode:  bgtask run NAME [ARG...]   (or: bgtask --backgroundtask NAME [ARG...])
            runs one task headless and exits with its exit code.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(inv.stdout)
	root.SetErr(inv.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%s: %w", c.Name(), err)
	})
	inv.global.register(root.PersistentFlags(), inv.getenv)
	for _, newCmd := range commands {
		root.AddCommand(newCmd(inv))
	}
	return root
}

// rewriteBackgroundTask turns the Firefox spelling
//
//	bgtask [FLAGS] --backgroundtask NAME [ARG...]
//	bgtask [FLAGS] --backgroundtask=NAME [ARG...]
//
// into `bgtask run [FLAGS] NAME [ARG...]`. It only looks before the first
// subcommand name or "--", so a task argument spelled --backgroundtask is
// left alone.
func rewriteBackgroundTask(args []string, root *cobra.Command) []string {
	for i, a := range args {
		if a == "--" || isCommand(root, a) {
			return args
		}
		name, ok := strings.CutPrefix(a, "--backgroundtask=")
		if a != "--backgroundtask" && !ok {
			continue
		}
		out := append([]string{"run"}, args[:i]...)
		if ok {
			out = append(out, name)
		}
		return append(out, args[i+1:]...)
	}
	return args
}

func isCommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}

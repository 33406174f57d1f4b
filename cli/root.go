package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

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
	name    string // the program's name: "bgtask" or Config.Name
	version string // Config.Version ("": bgtask's)
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
	// reconnectFor is how long watch and submit --wait try to resume a
	// dropped stream (0: client.DefaultGiveUpAfter); tests shorten it.
	reconnectFor time.Duration
	// serverArg is "--server ADDR " when the command was given --server
	// (set by client), for the commands its hints suggest.
	serverArg string
	// backgroundTask is set when the command line said --backgroundtask
	// (rewritten to run): messages about run then name that.
	backgroundTask bool
}

func newInvocation(cfg *Config) *invocation {
	if cfg == nil {
		cfg = &Config{}
	}
	inv := &invocation{
		name:         cfg.Name,
		version:      cfg.Version,
		stdout:       cfg.Stdout,
		stderr:       cfg.Stderr,
		getenv:       cfg.Getenv,
		own:          cfg.ownProcess,
		reconnectFor: cfg.reconnectFor,
		app:          cfg.Registry,
		builtin:      tasks.Builtin(),
		test:         testtasks.Registry(),
	}
	if inv.name == "" {
		inv.name = "bgtask"
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
// as one line, "NAME: message", and exits 1 (bgtask.ExitFailure). Only a
// usage error (a mistake in the command line: unknown command or flag,
// bad flag value, wrong arguments) adds "(see --help)".
func (inv *invocation) execute(ctx context.Context, args []string) int {
	root := inv.newRoot()
	args, inv.backgroundTask = rewriteBackgroundTask(args, root)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var st exitStatus
	switch {
	case err == nil:
		return bgtask.ExitSuccess
	case errors.As(err, &st):
		return int(st)
	}
	hint := ""
	if isUsage(err) {
		hint = " (see --help)"
	}
	inv.diag("%s%s", err, hint)
	return bgtask.ExitFailure
}

// diag writes one diagnostic line on stderr: "NAME: message". Newlines in
// the message become spaces, and the "bgtask: " prefixes of the library's
// own errors are dropped, so that no line says "bgtask: ...: bgtask: ...".
func (inv *invocation) diag(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\n", " "), "bgtask: ", "")
	fmt.Fprintf(inv.stderr, "%s: %s\n", inv.name, msg)
}

// usageError marks a mistake in the command line: execute adds
// "(see --help)".
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// usagef returns a usageError.
func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// isUsage reports whether err is a usage error: marked as one, or cobra's
// unknown command (which no hook can mark).
func isUsage(err error) bool {
	var nu notUsage
	if errors.As(err, &nu) {
		return false
	}
	var ue usageError
	return errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ")
}

// notUsage marks an error that is no mistake in the command line even if
// it would look like one: execute prints it without pointing to --help.
type notUsage struct{ error }

func (e notUsage) Unwrap() error { return e.error }

// markUsage makes the argument checks of cmd and its subcommands return
// usage errors.
func markUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markUsage(sub)
	}
}

func (inv *invocation) newRoot() *cobra.Command {
	n := inv.name
	root := &cobra.Command{
		Use:   n,
		Short: "Run background tasks: headless task mode, task manager, idle scheduling",
		Long: n + ` runs background work: one registry of tasks, three ways to run them.

Task mode:     ` + n + ` run NAME [ARG...]   (or: ` + n + ` --backgroundtask NAME [ARG...])
               runs one task headless and exits with its exit code.
Task manager:  ` + n + ` serve [--demo] runs the server (HTTP API, dashboard);
               submit, watch, status, list, cancel, retry talk to it.
Durations are Go durations (90s, 1m30s) or numbers of seconds (90).`,
		Version:           inv.versionLine(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(inv.stdout)
	root.SetErr(inv.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w", inv.typedPath(c), flagValueError(err))}
	})
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		return inv.checkEmptyFlags(c)
	}
	root.SetVersionTemplate("{{.Version}}\n")
	inv.global.register(root.PersistentFlags(), inv.getenv)
	for _, newCmd := range commands {
		root.AddCommand(newCmd(inv))
	}
	markUsage(root)
	decimalInts(root)
	return root
}

// decimalInts makes every integer flag of cmd and its subcommands take
// plain decimal digits, as the HTTP API and the durations do: pflag reads
// Go's number syntax, so --limit 010 meant 8, 0x10 16, 1_0 10 and +5 5,
// silently.
func decimalInts(cmd *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
			if _, done := f.Value.(decimalInt); !done {
				f.Value = decimalInt{f.Value}
			}
		}
	}
	cmd.Flags().VisitAll(wrap)
	cmd.PersistentFlags().VisitAll(wrap)
	for _, sub := range cmd.Commands() {
		decimalInts(sub)
	}
}

// decimalInt is an integer flag that takes an optional minus sign and
// decimal digits only; leading zeros are decimal (010 is 10).
type decimalInt struct{ pflag.Value }

func (d decimalInt) Set(s string) error {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return &strconv.NumError{Func: "ParseInt", Num: s, Err: strconv.ErrSyntax}
	}
	trimmed := strings.TrimLeft(digits, "0")
	if trimmed == "" {
		trimmed = "0"
	}
	if len(digits) != len(s) {
		trimmed = "-" + trimmed
	}
	return d.Value.Set(trimmed)
}

// checkEmptyFlags refuses a string flag given with an empty (or
// all-white-space) value, whatever the command: `--data-dir ”` used to
// mean the default, `--priority ”` the definition's, `--tags ”` no tags,
// silently. Leaving a flag out is how to ask for its default.
func (inv *invocation) checkEmptyFlags(c *cobra.Command) error {
	var err error
	c.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		empty := false
		switch f.Value.Type() {
		case "string":
			empty = strings.TrimSpace(f.Value.String()) == ""
		case "stringSlice", "stringArray":
			sv, ok := f.Value.(pflag.SliceValue)
			empty = ok && len(sv.GetSlice()) == 0
		}
		if empty {
			err = usagef("%s: --%s is empty: give a value, or leave the flag out for its default", inv.typedPath(c), f.Name)
		}
	})
	return err
}

// flagValueError rewrites pflag's refusal of a number
// (`invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing
// "abc": invalid syntax`) without the Go parser's words: `--limit "abc":
// want an integer`, or `... out of range` with the flag's bounds. Other
// errors are returned as they are.
func flagValueError(err error) error {
	var ive *pflag.InvalidValueError
	var ne *strconv.NumError
	if !errors.As(err, &ive) || !errors.As(err, &ne) {
		return err
	}
	f := ive.GetFlag()
	var want string
	switch t := f.Value.Type(); t {
	case "int", "int64", "int32", "int16", "int8":
		want = "an integer"
	case "uint", "uint64", "uint32", "uint16", "uint8":
		want = "a whole number, 0 or more"
	case "float64", "float32":
		want = "a number"
	case "bool":
		want = "true or false"
	default:
		want = "a value of type " + t
	}
	if errors.Is(ne.Err, strconv.ErrRange) {
		if strings.HasPrefix(ive.GetValue(), "-") {
			return fmt.Errorf("--%s %s: too small", f.Name, shellWord(ive.GetValue()))
		}
		return fmt.Errorf("--%s %s: too large", f.Name, shellWord(ive.GetValue()))
	}
	return fmt.Errorf("--%s %s: want %s", f.Name, shellWord(ive.GetValue()), want)
}

// rewriteBackgroundTask turns the Firefox spelling
//
//	bgtask [FLAGS] --backgroundtask NAME [ARG...]
//	bgtask [FLAGS] --backgroundtask=NAME [ARG...]
//
// into `bgtask run [FLAGS] NAME [ARG...]` and reports whether it did. It
// only looks before the first subcommand name or "--", so a task argument
// spelled --backgroundtask is left alone.
func rewriteBackgroundTask(args []string, root *cobra.Command) ([]string, bool) {
	for i, a := range args {
		if a == "--" || isCommand(root, a) {
			return args, false
		}
		name, ok := strings.CutPrefix(a, "--backgroundtask=")
		if a != "--backgroundtask" && !ok {
			continue
		}
		out := append([]string{"run"}, args[:i]...)
		if ok {
			out = append(out, name)
		}
		return append(out, args[i+1:]...), true
	}
	return args, false
}

// typed is how the user spelled command c, for messages: "--backgroundtask"
// for the run command when the command line said that, else c's name.
func (inv *invocation) typed(c *cobra.Command) string {
	if inv.backgroundTask && c.Name() == "run" {
		return "--backgroundtask"
	}
	return c.Name()
}

// typedPath is typed with the parent commands below the root: "bench
// idle", "store check".
func (inv *invocation) typedPath(c *cobra.Command) string {
	if !c.HasParent() || !c.Parent().HasParent() {
		return inv.typed(c)
	}
	return inv.typedPath(c.Parent()) + " " + c.Name()
}

func isCommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}

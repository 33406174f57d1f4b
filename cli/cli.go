// Package cli is the command-line entry point of bgtask. The bgtask binary
// is
//
//	func main() { os.Exit(cli.Main(nil)) }
//
// and a program that packages its own tasks at build time does the same
// with its registry:
//
//	func main() {
//		reg := bgtask.NewRegistry()
//		reg.MustAdd(bgtask.Definition{Name: "report", Run: report})
//		os.Exit(cli.Main(reg))
//	}
//
// A program that wants its own name and version in --help, in error
// messages and in `version` / `--version` calls MainWith instead:
//
//	os.Exit(cli.MainWith(&cli.Config{Registry: reg, Name: "myprog", Version: "v1.2.0"}))
//
// Task names are looked up in the application's registry first, then in
// the built-in tasks (package tasks), then, in a binary built with the
// testtasks tag, in the test-only tasks.
//
// `bgtask serve` runs only what the application exposes to it: the
// built-in tasks are TaskModeOnly (bgtask run runs them, the server
// refuses them). An application that wants its server to run one chooses
// so per definition, by registering its own copy with the field cleared:
//
//	d := tasks.RemoveDirectory()
//	d.TaskModeOnly = false // any client of the server may now run it
//	reg.MustAdd(d)
//	os.Exit(cli.Main(reg))
package cli

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/bgtask/bgtask"
)

// Config configures Run. The zero value uses the process's standard
// streams and environment and no application registry.
type Config struct {
	// Registry is the application's registry, searched before the
	// built-in and test-only tasks. nil: none.
	Registry *bgtask.Registry
	// Stdout receives command output. nil: os.Stdout.
	Stdout io.Writer
	// Stderr receives diagnostics. nil: os.Stderr.
	Stderr io.Writer
	// Getenv reads the environment. nil: os.Getenv.
	Getenv func(string) string
	// Name is the program's name in usage lines, help texts and the
	// prefix of diagnostics ("NAME: ..."). "": "bgtask".
	Name string
	// Version is the program's version, printed by `NAME version` and
	// `NAME --version` with the bgtask version it embeds. "": bgtask's
	// own version (see Version).
	Version string

	// ownProcess is set by Main only: task mode may then redirect file
	// descriptors and handle SIGHUP/SIGINT/SIGTERM for the whole process.
	ownProcess bool
	// reconnectFor shortens the reconnect bound of watch (tests only).
	reconnectFor time.Duration
}

// Main runs the command line of the current process (os.Args) with the
// application's registry app (nil: none) and returns the exit code for
// os.Exit. It owns the process: a no-output task's stdout and stderr are
// redirected at the file-descriptor level, and SIGHUP/SIGINT/SIGTERM end a
// task run cleanly (exit 129/130/143, workspace removed).
func Main(app *bgtask.Registry) int {
	return MainWith(&Config{Registry: app})
}

// MainWith is Main with a Config: the application's registry, name and
// version. Its streams and environment default to the process's (nil
// fields), and it owns the process as Main does. cfg may be nil.
func MainWith(cfg *Config) int {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	c.ownProcess = true
	return Run(context.Background(), os.Args[1:], &c)
}

// Run runs the command line args (without the program name) and returns
// the exit code. Unlike Main it leaves the process alone: no-output tasks
// write to io.Discard, and cancelling ctx interrupts a task run (exit 143).
// cfg may be nil.
func Run(ctx context.Context, args []string, cfg *Config) int {
	inv := newInvocation(cfg)
	return inv.execute(ctx, args)
}

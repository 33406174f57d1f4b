package cli_test

import (
	"context"
	"fmt"
	"os"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/cli"
)

// A program packages its tasks at build time: it registers them and hands
// the registry to the CLI entry point. Its main would be
//
//	os.Exit(cli.Main(reg))
//
// Here cli.Run runs one task headless in-process, as `prog run greet
// world` would, and returns the task-mode exit code.
func Example_runTaskHeadless() {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{
		Name: "greet",
		Run: func(_ context.Context, t *bgtask.Task) error {
			fmt.Println("hello,", t.Args()[0])
			return nil
		},
	})
	reg.MustAdd(bgtask.Definition{
		Name: "check",
		Run: func(context.Context, *bgtask.Task) error {
			return bgtask.Exit(11) // a task-specific exit code
		},
	})

	cfg := &cli.Config{Registry: reg, Stderr: os.Stdout}
	fmt.Println("exit", cli.Run(context.Background(), []string{"run", "greet", "world"}, cfg))
	fmt.Println("exit", cli.Run(context.Background(), []string{"run", "check"}, cfg))
	fmt.Println("exit", cli.Run(context.Background(), []string{"run", "nosuch"}, cfg))
	// Output:
	// hello, world
	// exit 0
	// exit 11
	// bgtask: unknown task "nosuch" (see `bgtask tasks`)
	// exit 2
}

// Command app is a user's own program that packages its tasks at build
// time: it builds its registry and hands it to cli.MainWith with its own
// name and version, and so gets `app run NAME`, `app tasks`, `app
// --version` and the built-in tasks (removeDirectory) for free.
//
//	go build -o app ./examples/app
//	./app run greet world          # prints "hello, world", exit 0
//	./app run require-dir /nope    # exit 11
//	./app run removeDirectory /tmp/x cache 10
//	./app --version                # app v0.1.0 (bgtask …, go1.26 linux/amd64)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/cli"
)

// exitMissingDir is require-dir's task-specific exit code.
const exitMissingDir = 11

func registry() *bgtask.Registry {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{
		Name:        "greet",
		Description: "greet NAME: print a greeting",
		Run:         greet,
	})
	reg.MustAdd(bgtask.Definition{
		Name:        "require-dir",
		Description: "require-dir DIR: exit 11 unless DIR is a directory",
		Run:         requireDir,
	})
	return reg
}

func greet(_ context.Context, t *bgtask.Task) error {
	args := t.Args()
	if len(args) != 1 {
		return errors.New("usage: greet NAME")
	}
	_, err := fmt.Printf("hello, %s\n", args[0])
	return err
}

func requireDir(_ context.Context, t *bgtask.Task) error {
	args := t.Args()
	if len(args) != 1 {
		return errors.New("usage: require-dir DIR")
	}
	if info, err := os.Stat(args[0]); err != nil || !info.IsDir() {
		t.Logger().Warn("not a directory", "dir", args[0])
		return bgtask.Exit(exitMissingDir)
	}
	return nil
}

// version is the program's version; set it at link time with
// -ldflags "-X main.version=v1.2.3".
var version = "v0.1.0"

func main() {
	// cli.Main(registry()) works too; MainWith puts the program's own name
	// in --help and error messages and its version in `app version`.
	os.Exit(cli.MainWith(&cli.Config{Registry: registry(), Name: "app", Version: version}))
}

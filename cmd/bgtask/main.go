// Command bgtask runs background tasks: `bgtask run NAME [ARG...]` runs one
// built-in task headless (see `bgtask tasks` and `bgtask run --help`).
// Programs with their own tasks call cli.Main with their registry instead.
package main

import (
	"os"

	"github.com/bgtask/bgtask/cli"
)

func main() {
	os.Exit(cli.Main(nil))
}

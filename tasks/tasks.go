// Package tasks holds bgtask's built-in, general-purpose task definitions.
// The CLI looks names up in the application's registry first, then in
// Builtin, then (in a binary built with the testtasks tag) in the test-only
// tasks.
//
// Built-in tasks:
//
//   - removeDirectory PARENT CHILD SECONDS [SUFFIX]: waits up to SECONDS for
//     PARENT/CHILD to appear, removes it, then removes every directory in
//     PARENT whose name ends with SUFFIX. See RemoveDirectory.
//
// Every built-in is TaskModeOnly: `bgtask run` runs it, but a manager
// (`bgtask serve`, Manager.Submit, the HTTP API) refuses it, so that no
// client of a server can make it delete files. An application that wants
// its server to run one registers its own copy with the field cleared:
//
//	d := tasks.RemoveDirectory()
//	d.TaskModeOnly = false // exposed to managers: any client of the server may submit it
//	reg.MustAdd(d)
//	os.Exit(cli.Main(reg))
package tasks

import "github.com/bgtask/bgtask"

// Builtin returns a new registry holding the built-in tasks. Each call
// returns a fresh registry (building it costs a few microseconds), so
// callers may add to it without affecting anyone else.
func Builtin() *bgtask.Registry {
	r := bgtask.NewRegistry()
	r.MustAdd(RemoveDirectory())
	return r
}

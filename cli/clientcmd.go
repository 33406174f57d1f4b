package cli

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/client"
)

// DefaultServer is the server client commands talk to without --server or
// BGTASK_SERVER.
const DefaultServer = "http://" + DefaultListen

// Exit codes of the client commands. They extend the task-mode contract: a
// task that ended FAILURE makes `submit --wait` and `watch` exit with the
// task's own exit code (3 exception, 4 timeout, 11–127 its choice).
const (
	// ExitCancelled is the exit code of `submit --wait` and `watch` for a
	// task that ended CANCELLED.
	ExitCancelled = 5
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server string
	token  string
	json   bool
}

func (inv *invocation) addClientFlags(cmd *cobra.Command, f *clientFlags) {
	fl := cmd.Flags()
	fl.Var(nonEmpty{&f.server, "leave --server out for $BGTASK_SERVER, else " + DefaultServer}, "server", "server address (default $BGTASK_SERVER, else "+DefaultServer+")")
	fl.Var(nonEmpty{&f.token, "leave --token out for $BGTASK_TOKEN"}, "token", "bearer token (default $BGTASK_TOKEN)")
	fl.BoolVar(&f.json, "json", false, "print JSON for scripts")
}

// nonEmpty is a string flag that refuses "": an empty --server or --token
// (a shell variable that was not set) used to fall back to the default
// without a word.
type nonEmpty struct {
	p    *string
	hint string
}

func (v nonEmpty) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v nonEmpty) Set(s string) error {
	if s == "" {
		return errors.New("empty; " + v.hint)
	}
	*v.p = s
	return nil
}

func (v nonEmpty) Type() string { return "string" }

// client returns an API client for the flags, with the environment's
// defaults.
func (inv *invocation) client(f *clientFlags) (*client.Client, error) {
	server, token := f.server, f.token
	if server != "" {
		inv.serverArg = "--server " + shellWord(server) + " "
	}
	if server == "" {
		server = inv.getenv("BGTASK_SERVER")
	}
	if server == "" {
		server = DefaultServer
	}
	if token == "" {
		token = inv.getenv("BGTASK_TOKEN")
	}
	return client.New(server, token)
}

// apiError maps a client error to an exit status: an unknown task or task
// name exits 2 (bgtask.ExitNotFound), anything else 1 with a one-line
// message; a 404 for a path the server has no endpoint for (a wrong
// --server URL) says so.
func (inv *invocation) apiError(err error) error {
	if client.IsNoEndpoint(err) {
		inv.diag("%v; is --server the server's root URL (http://HOST:PORT)?", err)
		return exitStatus(bgtask.ExitFailure)
	}
	if client.IsNotFound(err) {
		inv.diag("%v", err)
		return exitStatus(bgtask.ExitNotFound)
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		inv.diag("%v", err)
		return exitStatus(bgtask.ExitFailure)
	}
	return err
}

// printJSON writes v as indented JSON on stdout.
func (inv *invocation) printJSON(v any) error {
	enc := json.NewEncoder(inv.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// taskExit maps a finished task to the exit code of submit --wait and
// watch.
func taskExit(info *bgtask.TaskInfo) int {
	switch info.State {
	case bgtask.StateSuccess:
		return bgtask.ExitSuccess
	case bgtask.StateCancelled:
		return ExitCancelled
	}
	// A FAILURE exits with its code when that cannot be read as one of
	// the command's own (1 bad flags or an unreachable server, 2 unknown
	// name or ID, 5 CANCELLED): an orphan out of attempts (exit code 1),
	// say, exits 3.
	if c := info.ExitCode; c != nil && (*c == bgtask.ExitTimeout || *c >= bgtask.ExitTaskMin && *c <= bgtask.ExitTaskMax) {
		return *c
	}
	return bgtask.ExitException
}

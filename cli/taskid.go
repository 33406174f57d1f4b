package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// errEmptyTaskID refuses an empty ID argument: it would ask for
// /v1/tasks/, which is no task, and the server's "no such endpoint"
// answer would blame --server.
var errEmptyTaskID = errors.New("empty task ID (want the ID that submit or list printed)")

// taskIDArg is the argument check of status, watch, cancel and retry:
// exactly one argument, a task ID that is not empty. Refused before any
// request, as a usage error (exit 1).
func taskIDArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	if args[0] == "" {
		return fmt.Errorf("%s: %w", cmd.Name(), errEmptyTaskID)
	}
	return nil
}

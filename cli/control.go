package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/client"
)

func newCancelCmd(inv *invocation) *cobra.Command {
	return inv.controlCmd("cancel", "Cancel an ONGOING task on whichever server runs it",
		"cancel requested", (*client.Client).Cancel)
}

func newRetryCmd(inv *invocation) *cobra.Command {
	return inv.controlCmd("retry", "Re-run the failed subtasks of a finished parallel task",
		"retry queued", (*client.Client).Retry)
}

func (inv *invocation) controlCmd(use, short, done string, op func(*client.Client, context.Context, string) (*bgtask.TaskInfo, error)) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  taskIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := inv.client(&f)
			if err != nil {
				return err
			}
			info, err := op(c, cmd.Context(), args[0])
			if err != nil {
				return inv.apiError(err)
			}
			if f.json {
				return inv.printJSON(localInfo(info))
			}
			fmt.Fprintf(inv.stdout, "%s: %s (%s)\n", info.ID, done, info.State)
			return nil
		},
	}
	inv.addClientFlags(cmd, &f)
	return cmd
}

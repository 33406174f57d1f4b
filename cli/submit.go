package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/duration"
	"github.com/bgtask/bgtask/internal/httpapi"
)

type submitFlags struct {
	clientFlags
	wait        bool
	key         string
	priority    string
	timeout     duration.Value
	idleTimeout duration.Value
}

func newSubmitCmd(inv *invocation) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit [FLAGS] NAME [ARG...]",
		Short: "Submit a task to a server and print its ID (--wait: follow it to the end)",
		Long: `submit sends a task to the server and prints its ID. Everything after NAME
belongs to the task, flags included.

With --wait it follows the task like watch and exits 0 on SUCCESS, 5 on
CANCELLED and the task's exit code on FAILURE (3 exception, 4 timeout, or the
task's own code). Ctrl-C stops following (exit 130; SIGTERM 143, SIGHUP 129);
the task keeps running.

Durations are Go durations (90s, 1m30s) or numbers of seconds (90).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MinimumNArgs(1)(cmd, args); err != nil {
				return err
			}
			if strings.TrimSpace(args[0]) == "" {
				return fmt.Errorf("submit: the task name is empty (%s tasks --server URL lists the names)", inv.name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return inv.submit(cmd, &f, args[0], args[1:])
		},
	}
	cmd.Flags().SetInterspersed(false)
	inv.addClientFlags(cmd, &f.clientFlags)
	fl := cmd.Flags()
	fl.BoolVar(&f.wait, "wait", false, "follow the task until it ends; the exit code tells how it ended")
	fl.StringVar(&f.key, "idempotency-key", "", "submitting the same key again returns the same task")
	fl.StringVar(&f.priority, "priority", "", "normal or idle (default: the definition's)")
	fl.Var(&f.timeout, "timeout", "timeout of one run, more than 0, e.g. 90s or 90 (default: the definition's, else the server's; there is no \"none\")")
	fl.Var(&f.idleTimeout, "idle-timeout", "idle-priority tasks: longest wait for an idle period")
	return cmd
}

func (inv *invocation) submit(cmd *cobra.Command, f *submitFlags, name string, args []string) error {
	c, err := inv.client(&f.clientFlags)
	if err != nil {
		return err
	}
	switch f.priority {
	case "", string(bgtask.PriorityNormal), string(bgtask.PriorityIdle):
	default:
		return usagef("submit: --priority must be %s or %s, got %s", bgtask.PriorityNormal, bgtask.PriorityIdle, shellWord(f.priority))
	}
	if f.timeout.IsSet && f.timeout.D == 0 {
		return usagef("submit: --timeout must be more than 0; leave it out for the definition's timeout, else the server's default")
	}
	req := httpapi.SubmitRequest{Name: name, Args: args, IdempotencyKey: f.key, Priority: f.priority}
	if f.timeout.D > 0 {
		req.Timeout = f.timeout.D.String()
	}
	if f.idleTimeout.D > 0 {
		req.IdleTimeout = f.idleTimeout.D.String()
	}
	info, err := c.Submit(cmd.Context(), req)
	if err != nil {
		return inv.apiError(err)
	}
	if !f.wait {
		if f.json {
			return inv.printJSON(localInfo(info))
		}
		fmt.Fprintln(inv.stdout, info.ID)
		return nil
	}
	if !f.json {
		fmt.Fprintln(inv.stderr, info.ID)
	}
	return inv.watchTask(cmd.Context(), c, info.ID, f.json)
}

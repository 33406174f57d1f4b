package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
)

func newTasksCmd(inv *invocation) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "tasks [--server URL]",
		Short: "List the tasks this binary can run (--server: the tasks a server accepts)",
		Long: `tasks lists the task definitions this binary can run with ` + "`run`" + `, the
registry each comes from and its options.

With --server URL it asks that server instead (GET
/v1/definitions) and lists the tasks it accepts from ` + "`submit`" + `: those of
` + "`serve --demo`" + ` included, task-mode-only ones (removeDirectory) left out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("server") {
				if f.json {
					return usagef("tasks: --json needs --server")
				}
				return inv.listTasks()
			}
			return inv.listServerTasks(cmd, &f)
		},
	}
	inv.addClientFlags(cmd, &f)
	return cmd
}

// listServerTasks prints the definitions a server accepts.
func (inv *invocation) listServerTasks(cmd *cobra.Command, f *clientFlags) error {
	c, err := inv.client(f)
	if err != nil {
		return err
	}
	defs, err := c.Definitions(cmd.Context())
	if err != nil {
		return inv.apiError(err)
	}
	if f.json {
		return inv.printJSON(map[string]any{"definitions": defs})
	}
	w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tOPTIONS\tDESCRIPTION")
	for _, d := range defs {
		var o []string
		if d.Timeout != "" {
			o = append(o, "timeout="+d.Timeout)
		}
		if d.MinRuntime != "" {
			o = append(o, "min-runtime="+d.MinRuntime)
		}
		if d.NoOutput {
			o = append(o, "no-output")
		}
		if d.Workspace != "" && d.Workspace != bgtask.WorkspaceEphemeral.String() {
			o = append(o, "workspace="+d.Workspace)
		}
		if d.Retriable {
			o = append(o, fmt.Sprintf("retriable(max %d)", d.MaxAttempts))
		}
		if d.Parallel {
			o = append(o, "parallel")
		}
		if d.Priority != "" && d.Priority != string(bgtask.PriorityNormal) {
			o = append(o, "priority="+d.Priority)
		}
		if len(d.Tags) > 0 {
			o = append(o, "tags="+strings.Join(d.Tags, ","))
		}
		opts := strings.Join(o, " ")
		if opts == "" {
			opts = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", d.Name, opts, d.Description)
	}
	return w.Flush()
}

// listTasks prints one line per definition, in lookup order's resolution:
// a name shadowed by an earlier registry appears once.
func (inv *invocation) listTasks() error {
	w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSOURCE\tOPTIONS\tDESCRIPTION")
	for _, d := range inv.registry.Definitions() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Name, inv.source(d), options(d), d.Description)
	}
	return w.Flush()
}

// source says which registry a definition comes from.
func (inv *invocation) source(d *bgtask.Definition) string {
	for _, s := range []struct {
		name string
		reg  *bgtask.Registry
	}{{"app", inv.app}, {"builtin", inv.builtin}, {"test", inv.test}} {
		if got, ok := s.reg.Lookup(d.Name); ok && got == d {
			return s.name
		}
	}
	return "?"
}

// options renders a definition's non-default options, "-" if none.
func options(d *bgtask.Definition) string {
	var o []string
	if d.Timeout > 0 {
		o = append(o, "timeout="+d.Timeout.String())
	}
	if d.MinRuntime > 0 {
		o = append(o, "min-runtime="+d.MinRuntime.String())
	}
	if d.NoOutput {
		o = append(o, "no-output")
	}
	if d.Workspace != bgtask.WorkspaceEphemeral {
		o = append(o, "workspace="+d.Workspace.String())
	}
	if d.Retriable {
		o = append(o, fmt.Sprintf("retriable(max %d)", d.Attempts()))
	}
	if d.Parallel() {
		o = append(o, "parallel")
	}
	if p := d.EffectivePriority(); p != bgtask.PriorityNormal {
		o = append(o, "priority="+string(p))
	}
	if len(d.Tags) > 0 {
		o = append(o, "tags="+strings.Join(d.Tags, ","))
	}
	if len(o) == 0 {
		return "-"
	}
	return strings.Join(o, " ")
}

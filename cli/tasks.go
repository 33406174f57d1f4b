package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
)

func newTasksCmd(inv *invocation) *cobra.Command {
	return &cobra.Command{
		Use:   "tasks",
		Short: "List the task definitions this binary can run, with their options",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return inv.listTasks()
		},
	}
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

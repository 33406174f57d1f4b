package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

func newStatusCmd(inv *invocation) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a task's record",
		Args:  taskIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := inv.client(&f)
			if err != nil {
				return err
			}
			info, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return inv.apiError(err)
			}
			if f.json {
				return inv.printJSON(localInfo(info))
			}
			inv.printStatus(info)
			return nil
		},
	}
	inv.addClientFlags(cmd, &f)
	return cmd
}

func (inv *invocation) printStatus(info *bgtask.TaskInfo) {
	w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	row("id", info.ID)
	row("name", info.Name)
	row("args", strings.Join(info.Args, " "))
	row("state", string(info.State))
	row("progress", progressText(info.Progress))
	row("attempt", fmt.Sprint(info.Attempt))
	if info.Owner != "" {
		row("owner", info.Owner)
	}
	if info.Timeout > 0 {
		row("timeout", info.Timeout.String())
	}
	row("created", formatTime(info.CreatedAt))
	if info.StartedAt != nil {
		row("started", formatTime(*info.StartedAt))
	}
	if info.FinishedAt != nil {
		row("finished", formatTime(*info.FinishedAt))
	}
	if info.ExitCode != nil {
		row("exit code", fmt.Sprint(*info.ExitCode))
	}
	if info.Error != "" {
		row("error", info.Error)
	}
	for _, s := range info.Subtasks {
		v := string(s.State)
		if s.Error != "" {
			v += ": " + s.Error
		}
		row("subtask "+s.Key, v)
	}
	w.Flush()
}

// progressText renders "45/120 (37%) message".
func progressText(p bgtask.ProgressInfo) string {
	s := fmt.Sprintf("%g/%g", p.Current, p.Total)
	if p.Total > 0 {
		s += fmt.Sprintf(" (%.0f%%)", 100*p.Current/p.Total)
	}
	if p.Message != "" {
		s += " " + p.Message
	}
	return s
}

type listFlags struct {
	clientFlags
	state  string
	name   string
	limit  int
	cursor string
}

func newListCmd(inv *invocation) *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tasks, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := inv.client(&f.clientFlags)
			if err != nil {
				return err
			}
			if f.limit < 1 || f.limit > httpapi.MaxListLimit {
				return usagef("list: --limit %d: want a page size from 1 to %d", f.limit, httpapi.MaxListLimit)
			}
			opts := bgtask.ListOpts{Name: f.name, Limit: f.limit, Cursor: f.cursor}
			if f.state != "" {
				st, err := bgtask.ParseState(strings.ToUpper(f.state))
				if err != nil {
					return usagef("list: --state %q: want ONGOING, SUCCESS, FAILURE or CANCELLED", f.state)
				}
				opts.State = st
			}
			res, err := c.List(cmd.Context(), opts)
			if err != nil {
				return inv.apiError(err)
			}
			if f.json {
				return inv.printJSON(localList(res))
			}
			more := inv.serverArg
			if f.state != "" {
				more += "--state " + strings.ToUpper(f.state) + " "
			}
			if f.name != "" {
				more += "--name " + shellWord(f.name) + " "
			}
			if cmd.Flags().Changed("limit") {
				more += "--limit " + strconv.Itoa(f.limit) + " "
			}
			inv.printList(res, more)
			return nil
		},
	}
	inv.addClientFlags(cmd, &f.clientFlags)
	fl := cmd.Flags()
	fl.StringVar(&f.state, "state", "", "only tasks in this state (ONGOING, SUCCESS, FAILURE, CANCELLED)")
	fl.StringVar(&f.name, "name", "", "only tasks of this definition")
	fl.IntVar(&f.limit, "limit", 50, fmt.Sprintf("page size (1-%d)", httpapi.MaxListLimit))
	fl.StringVar(&f.cursor, "cursor", "", "continue after a previous page (its next cursor)")
	return cmd
}

// printList prints a page; flags are the command's filters and server
// (each followed by a space), repeated in the command for the next page.
func (inv *invocation) printList(res *bgtask.ListResult, flags string) {
	w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSTATE\tPROGRESS\tATTEMPT\tCREATED\tERROR")
	for _, t := range res.Tasks {
		prog := fmt.Sprintf("%g/%g", t.Progress.Current, t.Progress.Total)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.Name, t.State, prog, t.Attempt,
			formatTime(t.CreatedAt), oneLine(t.Error, 60))
	}
	w.Flush()
	if res.NextCursor != "" {
		fmt.Fprintf(inv.stderr, "more: %s list %s--cursor %s\n", inv.name, flags, res.NextCursor)
	}
}

// shellWord returns s as one word for a POSIX shell: as it is when it
// holds only letters, digits and ._-:/@+=, else in single quotes.
func shellWord(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:/@+=", c)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

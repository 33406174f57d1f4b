package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask/internal/httpapi"
)

func newServersCmd(inv *invocation) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the live servers sharing the store, with the tasks each runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := inv.client(&f)
			if err != nil {
				return err
			}
			servers, err := c.Servers(cmd.Context())
			if err != nil {
				return inv.apiError(err)
			}
			if f.json {
				for i := range servers {
					servers[i].StartedAt = servers[i].StartedAt.Local()
					servers[i].SeenAt = servers[i].SeenAt.Local()
				}
				return inv.printJSON(map[string]any{"servers": servers})
			}
			inv.printServers(servers)
			return nil
		},
	}
	inv.addClientFlags(cmd, &f)
	return cmd
}

// printServers prints one line per server: ID (* for the one asked),
// host and PID, uptime (by the answering server's clock), the tasks it runs and its worker slots (two
// columns: idle-priority runs hold no worker slot, so RUNNING may exceed
// WORKERS; "41/40" read as a broken limit), tags, task names.
func (inv *invocation) printServers(servers []httpapi.ServerEntry) {
	w := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tHOST\tPID\tUP\tRUNNING\tWORKERS\tTAGS\tTASKS")
	for _, s := range servers {
		id := s.ID
		if s.Self {
			id += " *"
		}
		up := uptime(s)
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\n", id, s.Host, s.PID, up, len(s.Running), s.MaxWorkers,
			dash(strings.Join(s.Tags, ",")), dash(strings.Join(s.Names, ",")))
	}
	w.Flush()
}

// uptime is how long a server has been up, to the second: the Up the
// answering server computed from its own clock (the local clock need not
// agree with the servers'). A server older than that field gives nothing
// better than its last heartbeat: SeenAt minus StartedAt, which lags by up
// to a heartbeat interval.
func uptime(s httpapi.ServerEntry) time.Duration {
	if d, err := time.ParseDuration(s.Up); err == nil && d >= 0 {
		return d.Round(time.Second)
	}
	return max(0, s.SeenAt.Sub(s.StartedAt)).Round(time.Second)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/client"
)

func newWatchCmd(inv *invocation) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a task live: a progress bar on a terminal, one line per event otherwise",
		Long: `watch follows a task's events until it ends: on a terminal a live progress bar
with the message and an ETA, when piped one line per event (--json: one JSON
object per line). It exits 0 on SUCCESS, 5 on CANCELLED and the task's exit
code on FAILURE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := inv.client(&f)
			if err != nil {
				return err
			}
			return inv.watchTask(cmd.Context(), c, args[0], f.json)
		},
	}
	inv.addClientFlags(cmd, &f)
	return cmd
}

// watchTask follows a task to its end and exits with taskExit.
func (inv *invocation) watchTask(ctx context.Context, c *client.Client, id string, jsonOut bool) error {
	r := &renderer{w: inv.stdout, tty: !jsonOut && isTerminal(inv.stdout), json: jsonOut, now: time.Now}
	if err := c.Follow(ctx, id, r.render); err != nil {
		return inv.apiError(err)
	}
	info, err := c.Get(ctx, id)
	if err != nil {
		return inv.apiError(err)
	}
	r.finish(info)
	if code := taskExit(info); code != 0 {
		return exitStatus(code)
	}
	return nil
}

// renderer draws a task's stream: a bar redrawn in place on a terminal,
// plain lines otherwise.
type renderer struct {
	w    io.Writer
	tty  bool
	json bool
	now  func() time.Time

	name      string
	prog      bgtask.ProgressInfo
	rateStart time.Time // when progress was first seen above 0
	rateFrom  float64
	drawn     bool
}

func (r *renderer) render(se client.StreamEvent) bool {
	if r.json {
		_ = json.NewEncoder(r.w).Encode(map[string]any{"event": se.Kind, "id": se.ID, "task": se.Task, "data": se.Event})
		return true
	}
	kind, state, msg := se.Kind, "", ""
	switch {
	case se.Task != nil:
		r.name, r.prog, state = se.Task.Name, se.Task.Progress, string(se.Task.State)
	case se.Event != nil:
		r.name, r.prog, state = se.Event.Name, se.Event.Progress, string(se.Event.State)
		msg = se.Event.Error
	}
	if r.rateStart.IsZero() && r.prog.Current > 0 {
		r.rateStart, r.rateFrom = r.now(), r.prog.Current
	}
	if r.tty {
		r.draw()
		return true
	}
	line := fmt.Sprintf("%s %-15s %-9s %s", r.now().Format("15:04:05"), kind, state, progressText(r.prog))
	if msg != "" {
		line += " error: " + msg
	}
	fmt.Fprintln(r.w, line)
	return true
}

// draw redraws the bar line: name [=====>    ] 45/120 37% ETA 12s message
func (r *renderer) draw() {
	const width = 30
	frac := 0.0
	if r.prog.Total > 0 {
		frac = min(max(r.prog.Current/r.prog.Total, 0), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	line := fmt.Sprintf("%s [%s] %g/%g %3.0f%% %s %s", r.name, bar, r.prog.Current, r.prog.Total, 100*frac, r.eta(), r.prog.Message)
	fmt.Fprintf(r.w, "\r\x1b[2K%s", oneLine(line, 200))
	r.drawn = true
}

// eta extrapolates the rate since progress was first seen.
func (r *renderer) eta() string {
	done := r.prog.Current - r.rateFrom
	if r.rateStart.IsZero() || done <= 0 || r.prog.Total <= r.prog.Current {
		return "ETA -"
	}
	el := r.now().Sub(r.rateStart)
	left := time.Duration(float64(el) / done * (r.prog.Total - r.prog.Current))
	return "ETA " + left.Round(time.Second).String()
}

// finish prints how the task ended.
func (r *renderer) finish(info *bgtask.TaskInfo) {
	if r.json {
		return
	}
	if r.drawn {
		fmt.Fprintln(r.w)
	}
	line := fmt.Sprintf("%s %s", info.ID, info.State)
	if info.ExitCode != nil {
		line += fmt.Sprintf(" (exit %d)", *info.ExitCode)
	}
	if info.Error != "" {
		line += ": " + info.Error
	}
	fmt.Fprintln(r.w, line)
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/client"
)

// ExitInterrupted is the exit code of `watch` and `submit --wait` stopped
// by Ctrl-C (128 + SIGINT; SIGTERM and SIGHUP give 128 + theirs); the
// task keeps running on the server.
const ExitInterrupted = 130

func newWatchCmd(inv *invocation) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a task live: a progress bar on a terminal, one line per event otherwise",
		Long: `watch follows a task's events until it ends: on a terminal a live progress bar
with the message and an ETA, when piped one line per event (--json: one JSON
object per line, see docs/cli.md). It exits 0 on SUCCESS, 5 on CANCELLED and
the task's exit code on FAILURE, as soon as it has seen the task's end, even
if the server goes away right after. Ctrl-C stops watching (exit 130; SIGTERM 143, SIGHUP 129); the
task keeps running.

A server that cannot be reached fails at once (exit 1). A stream that drops
is resumed where it stopped, with one "reconnecting…" line on stderr, and
given up after 15s without a successful reconnect (exit 1).`,
		Args: taskIDArg,
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

// watchTask follows a task to its end and exits with taskExit. The
// outcome is the one the task's terminal event (or a state event showing
// it finished) carries: once seen, the stream is left and the server is
// not asked again, so a server that stops right after the task ends does
// not turn a success into an error.
func (inv *invocation) watchTask(ctx context.Context, c *client.Client, id string, jsonOut bool) error {
	// Ctrl-C, SIGTERM and SIGHUP stop the following, not the task: say so,
	// and exit 128 + the signal (130 for Ctrl-C).
	signalled := func() (os.Signal, bool) { return nil, false }
	if inv.own {
		var stop func()
		ctx, signalled, stop = stopOnSignal(ctx)
		defer stop()
	}
	if !utf8.ValidString(id) {
		return errors.New("task ID is not valid UTF-8")
	}
	r := newRenderer(inv.stdout, jsonOut)
	opts := &client.FollowOpts{GiveUpAfter: inv.reconnectFor, OnReconnect: func(err error) {
		r.interrupt()
		inv.diag("lost the event stream of task %s (%v); reconnecting…", id, err)
	}}
	err := c.Follow(ctx, id, opts, r.render)
	if r.end != nil {
		r.finish()
		if code := r.end.exitCode(); code != 0 {
			return exitStatus(code)
		}
		return nil
	}
	if ctx.Err() != nil {
		r.interrupt()
		inv.diag("stopped watching; task %s keeps running on the server (follow it: %s watch %s%s; cancel it: %s cancel %s%s)",
			id, inv.name, inv.serverArg, id, inv.name, inv.serverArg, id)
		if s, ok := signalled(); ok {
			return signalExit(s)
		}
		return exitStatus(ExitInterrupted)
	}
	if err != nil {
		r.interrupt()
		if !retryable(err) {
			// Following again would meet the same answer (unknown task,
			// refused token, invalid ID).
			return inv.apiError(err)
		}
		return inv.apiError(fmt.Errorf("%w (task %s: follow it again with `%s watch %s%s`)", err, id, inv.name, inv.serverArg, id))
	}
	// The server closed the stream before the task ended (it is shutting
	// down): the outcome is not known.
	r.interrupt()
	inv.diag("the server closed the stream before task %s ended (follow it again with `%s watch %s%s`)", id, inv.name, inv.serverArg, id)
	return exitStatus(bgtask.ExitFailure)
}

// retryable reports whether following a task again may succeed where err
// failed: the server could not be reached, the stream broke, or the
// server answered 5xx. An API answer of 4xx (unknown task, refused token,
// invalid ID) will not change.
func retryable(err error) bool {
	var ce *client.Error
	return !errors.As(err, &ce) || ce.Status >= 500
}

// outcome is how a task ended, as its terminal event or record says.
type outcome struct {
	id, name string
	state    bgtask.State
	exit     *int
	err      string
	// failed maps the keys of failed subtasks to their errors; subtasks is
	// the number of subtasks (0: not a parallel task, or unknown).
	failed   map[string]string
	subtasks int
}

func (o *outcome) exitCode() int {
	return taskExit(&bgtask.TaskInfo{State: o.state, ExitCode: o.exit})
}

// outcomeOfInfo reads a finished task's record.
func outcomeOfInfo(info *bgtask.TaskInfo) *outcome {
	o := &outcome{id: info.ID, name: info.Name, state: info.State, exit: info.ExitCode, err: info.Error, subtasks: len(info.Subtasks)}
	for _, s := range info.Subtasks {
		if s.State == bgtask.StateFailure {
			if o.failed == nil {
				o.failed = map[string]string{}
			}
			o.failed[s.Key] = s.Error
		}
	}
	return o
}

// outcomeOfEvent reads a terminal event.
func outcomeOfEvent(ev *bgtask.Event) *outcome {
	o := &outcome{id: ev.TaskID, name: ev.Name, state: ev.State, exit: ev.ExitCode, err: ev.Error, failed: ev.SubtaskErrors}
	if len(ev.SubtaskErrors) > 0 && ev.Progress.Total > 0 {
		o.subtasks = int(ev.Progress.Total)
	}
	if o.state == "" || !o.state.Terminal() {
		switch ev.Kind {
		case bgtask.EventDone, bgtask.EventPartialSuccess:
			o.state = bgtask.StateSuccess
		case bgtask.EventFailed:
			o.state = bgtask.StateFailure
		case bgtask.EventCancelled:
			o.state = bgtask.StateCancelled
		}
	}
	return o
}

// renderer draws a task's stream: a bar redrawn in place on a terminal,
// plain lines otherwise, or JSON lines.
type renderer struct {
	w     io.Writer
	tty   bool
	json  bool
	now   func() time.Time
	width func() int // the terminal's columns

	name      string
	prog      bgtask.ProgressInfo
	failed    int       // subtasks seen failed
	rateStart time.Time // when progress was first seen above 0
	rateFrom  float64
	drawn     bool
	end       *outcome // set by the terminal event
	// lastLine is the last plain line printed without its time: an
	// updated event that would print the same (a parallel task's
	// subtask progress, which the line does not show) prints nothing.
	lastLine string
}

func newRenderer(w io.Writer, jsonOut bool) *renderer {
	r := &renderer{w: w, json: jsonOut, now: time.Now}
	if f, ok := w.(*os.File); ok && !jsonOut && term.IsTerminal(int(f.Fd())) {
		r.tty = true
		r.width = func() int { return termWidth(f) }
	}
	return r
}

// termWidth is f's width in columns: the terminal's, else $COLUMNS, else
// 80.
func termWidth(f *os.File) int {
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 80
}

// render handles one stream event; it returns false once the task has
// ended, which ends the stream.
func (r *renderer) render(se client.StreamEvent) bool {
	kind, state, msg := se.Kind, "", ""
	switch {
	case se.Task != nil:
		r.name, r.prog, state = se.Task.Name, se.Task.Progress, string(se.Task.State)
		r.failed = 0
		for _, s := range se.Task.Subtasks {
			if s.State == bgtask.StateFailure {
				r.failed++
			}
		}
		if se.Task.State.Terminal() {
			r.end = outcomeOfInfo(se.Task)
		}
	case se.Event != nil:
		r.name, r.prog, state = se.Event.Name, se.Event.Progress, string(se.Event.State)
		msg = se.Event.Error
		if n := len(se.Event.SubtaskErrors); n > 0 {
			r.failed = n
		}
		if se.Event.Kind.Terminal() {
			r.end = outcomeOfEvent(se.Event)
		}
	}
	if r.rateStart.IsZero() && r.prog.Current > 0 {
		r.rateStart, r.rateFrom = r.now(), r.prog.Current
	}
	switch {
	case r.json:
		r.writeJSON(se)
	case r.tty:
		r.draw()
	default:
		line := fmt.Sprintf("%-15s %-9s %s", kind, state, progressText(r.prog))
		if msg != "" {
			line += " error: " + msg
		}
		if kind == string(bgtask.EventUpdated) && line == r.lastLine {
			break
		}
		r.lastLine = line
		fmt.Fprintln(r.w, oneLine(formatTime(r.now())+" "+line, 4000))
	}
	return r.end == nil
}

// WatchLine is one line of `watch --json` and `submit --wait --json`: one
// event of the task's stream (the server-sent event's fields). Event is
// "state" for the task's record, which comes first (Data is then a task
// record, as `status --json` prints it), else the event's kind: started,
// updated, done, failed, cancelled, partial_success (Data is then an
// event). ID is the stream position (the SSE id, "" if none). Times are
// RFC 3339 in the local time zone.
type WatchLine struct {
	Event string `json:"event"`
	ID    string `json:"id"`
	Data  any    `json:"data"`
}

func (r *renderer) writeJSON(se client.StreamEvent) {
	line := WatchLine{Event: se.Kind, ID: se.ID}
	switch {
	case se.Task != nil:
		line.Data = localInfo(se.Task)
	case se.Event != nil:
		ev := *se.Event
		ev.Time = ev.Time.Local()
		line.Data = &ev
	}
	_ = json.NewEncoder(r.w).Encode(line)
}

// draw redraws the bar line in place, fitted to the terminal's width:
//
//	name [=====>    ] 45/120 37% ETA 12s message
//
// The line is cut to width-1 columns so that it never wraps (a wrapped
// line cannot be redrawn in place).
func (r *renderer) draw() {
	const maxBar = 30
	avail := r.width() - 1
	frac := 0.0
	if r.prog.Total > 0 {
		frac = min(max(r.prog.Current/r.prog.Total, 0), 1)
	}
	counts := fmt.Sprintf("%g/%g %3.0f%% %s", r.prog.Current, r.prog.Total, 100*frac, r.eta())
	if r.failed > 0 {
		counts += fmt.Sprintf(" (%d failed)", r.failed)
	}
	head := r.name + " "
	// The bar gets what the name and counts leave, up to maxBar; below 5
	// columns it is left out.
	barW := min(maxBar, avail-utf8.RuneCountInString(head)-len(counts)-3)
	line := head
	if barW >= 5 {
		filled := int(frac * float64(barW))
		bar := strings.Repeat("=", filled)
		if filled < barW {
			bar += ">" + strings.Repeat(" ", barW-filled-1)
		}
		line += "[" + bar + "] "
	}
	line += counts
	if r.prog.Message != "" {
		line += " " + r.prog.Message
	}
	fmt.Fprintf(r.w, "\r\x1b[2K%s", fit(line, avail))
	r.drawn = true
}

// fit makes s one line of at most n runes, ending in "…" when cut.
func fit(s string, n int) string {
	s = strings.Map(func(c rune) rune {
		if c == '\n' || c == '\r' || c == '\t' {
			return ' '
		}
		return c
	}, s)
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
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

// interrupt ends a drawn bar's line before a diagnostic.
func (r *renderer) interrupt() {
	if r.drawn {
		fmt.Fprintln(r.w)
		r.drawn = false
	}
}

// finish prints how the task ended:
//
//	ID SUCCESS
//	ID SUCCESS, partial: 1 of 6 subtasks failed
//	  subtask shard-4: error
//	ID FAILURE (exit 3): error
func (r *renderer) finish() {
	if r.json {
		return
	}
	r.interrupt()
	o := r.end
	line := fmt.Sprintf("%s %s", o.id, o.state)
	if o.state == bgtask.StateSuccess && len(o.failed) > 0 {
		of := ""
		if o.subtasks > 0 {
			of = fmt.Sprintf(" of %d", o.subtasks)
		}
		line += fmt.Sprintf(", partial: %d%s subtasks failed", len(o.failed), of)
	}
	// The exit code the command gives, only for a FAILURE (it is the
	// task's own). A CANCELLED task's record may carry one (1), but the
	// command exits ExitCancelled: printing the record's would contradict
	// it.
	if o.state == bgtask.StateFailure {
		line += fmt.Sprintf(" (exit %d)", o.exitCode())
	}
	if o.err != "" {
		line += ": " + o.err
	}
	fmt.Fprintln(r.w, oneLine(line, 4000))
	keys := make([]string, 0, len(o.failed))
	for k := range o.failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintln(r.w, oneLine(fmt.Sprintf("  subtask %s: %s", k, o.failed[k]), 4000))
	}
}

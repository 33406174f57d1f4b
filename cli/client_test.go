package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/client"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clientApp is the registry of the in-process server: ok, slow (waits
// until cancelled, at most a minute) and par (subtasks a, b, c; b fails).
func clientApp() *bgtask.Registry {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "ok", Description: "succeeds", Run: func(context.Context, *bgtask.Task) error { return nil }})
	reg.MustAdd(bgtask.Definition{Name: "slow", Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(10)
		t.Progress().Add(1, "")
		return clock.Sleep(ctx, clock.Real, time.Minute)
	}})
	reg.MustAdd(bgtask.Definition{Name: "par",
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) { return []string{"a", "b", "c"}, nil },
		RunSubtask: func(_ context.Context, t *bgtask.Task) error {
			if t.SubtaskKey() == "b" {
				return errors.New("b broke")
			}
			return nil
		}})
	return reg
}

// serveInProcess runs `serve` in this process with clientApp and returns
// its address; the server stops at the end of the test.
func serveInProcess(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	env := map[string]string{"TMPDIR": t.TempDir(), "XDG_STATE_HOME": t.TempDir()}
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--shutdown-timeout", "1s", "--log-level", "error"},
			&Config{Registry: clientApp(), Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	re := regexp.MustCompile(`serving on http://(\S+)`)
	for range 1000 {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start: %s", stderr.String())
	return ""
}

// cliCtx runs the command line in-process against addr with ctx.
func cliCtx(ctx context.Context, addr string, cfg *Config, args ...string) (code int, stdout, stderr string) {
	var out, errb syncBuffer
	c := *cfg
	c.Stdout, c.Stderr = &out, &errb
	env := map[string]string{"BGTASK_SERVER": addr}
	c.Getenv = func(k string) string { return env[k] }
	code = Run(ctx, args, &c)
	return code, out.String(), errb.String()
}

func TestRendererFitsAnyWidth(t *testing.T) {
	t.Parallel()
	// Below about 60 columns the bar used to wrap, and a wrapped line is
	// not redrawn in place: every redraw scrolled.
	for _, width := range []int{1, 2, 10, 20, 40, 59, 80, 200} {
		var out bytes.Buffer
		r := &renderer{w: &out, tty: true, now: time.Now, width: func() int { return width }}
		for i := range 5 {
			r.render(client.StreamEvent{Kind: "updated", Event: &bgtask.Event{
				Kind: bgtask.EventUpdated, Name: "demo.a-rather-long-task-name", State: bgtask.StateOngoing,
				Progress: bgtask.ProgressInfo{Current: float64(i * 1000), Total: 288894, Message: "decoding frame " + strings.Repeat("x", 50)},
			}})
		}
		draws := strings.Split(out.String(), "\r")
		if len(draws) != 6 || draws[0] != "" {
			t.Fatalf("width %d: %d draws in %q", width, len(draws), out.String())
		}
		for _, d := range draws[1:] {
			line, ok := strings.CutPrefix(d, "\x1b[2K")
			if !ok || strings.Contains(line, "\n") || utf8.RuneCountInString(line) > max(width-1, 0) {
				t.Fatalf("width %d: draw %q is not one line of at most %d columns", width, d, width-1)
			}
		}
		if width >= 80 && !strings.Contains(draws[5], "[") {
			t.Errorf("width %d: no bar in %q", width, draws[5])
		}
	}
}

func TestPartialSuccessIsVisibleOnATerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	r := &renderer{w: &out, tty: true, now: time.Now, width: func() int { return 80 }}
	code := 0
	more := r.render(client.StreamEvent{Kind: "partial_success", Event: &bgtask.Event{
		Kind: bgtask.EventPartialSuccess, TaskID: "T1", Name: "par", State: bgtask.StateSuccess, ExitCode: &code,
		Progress:      bgtask.ProgressInfo{Current: 3, Total: 3},
		SubtaskErrors: map[string]string{"b": "b broke"},
	}})
	if more {
		t.Fatal("render wants more after the terminal event")
	}
	r.finish()
	got := out.String()
	for _, want := range []string{"(1 failed)", "T1 SUCCESS, partial: 1 of 3 subtasks failed\n", "  subtask b: b broke\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
}

func TestOwnNameAndVersion(t *testing.T) {
	t.Parallel()
	cfg := &Config{Name: "myprog", Version: "v1.2.0"}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := cliCtx(context.Background(), "", cfg, args...)
		if code != 0 || !strings.HasPrefix(out, "myprog v1.2.0 (bgtask ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	if code, out, _ := cliCtx(context.Background(), "", cfg, "--help"); code != 0 || !strings.Contains(out, "myprog run NAME") || strings.Contains(out, "bgtask run") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"nope"}, {"run", "nope"}} {
		if _, _, errOut := cliCtx(context.Background(), "", cfg, args...); !strings.HasPrefix(errOut, "myprog: ") || strings.Contains(errOut, "bgtask") {
			t.Errorf("%v: stderr %q, want myprog's prefix only", args, errOut)
		}
	}
	// bgtask itself.
	code, out, _ := cliCtx(context.Background(), "", &Config{}, "--version")
	if code != 0 || !strings.HasPrefix(out, "bgtask ") || strings.Count(out, "bgtask") != 1 {
		t.Errorf("bgtask --version: exit %d, %q", code, out)
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		// Used to say "bgtask: --state: bgtask: invalid argument: ...".
		{[]string{"list", "--state", "DONE"}, `--state "DONE": want ONGOING`, true},
		{[]string{"submit", "--timeout", "soon", "ok"}, `invalid argument "soon" for "--timeout"`, true},
		{[]string{"submit", "--timeout", "0", "ok"}, "--timeout must be more than 0", true},
		{[]string{"status"}, "accepts 1 arg(s), received 0", true},
		// Checked by the server only (400, no hint), or not at all (an
		// empty --server or --token fell back to the default).
		{[]string{"submit", "--priority", "high", "ok"}, "--priority must be normal or idle, got high", true},
		{[]string{"status", "--server", "", "x"}, `invalid argument "" for "--server" flag: empty; leave --server out`, true},
		{[]string{"list", "--token", ""}, `invalid argument "" for "--token" flag: empty; leave --token out`, true},
		{[]string{"nope"}, `unknown command "nope"`, true},
		{[]string{"watch", "--bad"}, "unknown flag: --bad", true},
		// Not a mistake in the command line: no "(see --help)".
		{[]string{"status", "--server", "127.0.0.1:1", "x"}, "cannot reach server", false},
		{[]string{"list", "--server", "127.0.0.1:1"}, "cannot reach server", false},
	} {
		code, out, errOut := cliCtx(context.Background(), "", &Config{}, tc.args...)
		if code != bgtask.ExitFailure || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1, one line", tc.args, code, out, errOut)
			continue
		}
		if !strings.HasPrefix(errOut, "bgtask: ") || strings.Count(errOut, "bgtask: ") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: stderr %q, want one prefix and %q", tc.args, errOut, tc.want)
		}
		if hint := strings.Contains(errOut, "(see --help)"); hint != tc.usage {
			t.Errorf("%v: stderr %q: hint %v, want %v", tc.args, errOut, hint, tc.usage)
		}
	}
}

// rfc3339Local matches RFC 3339 with the local zone's offset.
var rfc3339Local = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?` + regexp.QuoteMeta(time.Now().Format("Z07:00")))

func TestAgainstAServer(t *testing.T) {
	t.Parallel()
	addr := serveInProcess(t)
	ctx := context.Background()
	cfg := &Config{Registry: clientApp()}

	t.Run("duration in seconds", func(t *testing.T) {
		code, out, errOut := cliCtx(ctx, addr, cfg, "submit", "--timeout", "90", "--wait", "--json", "ok")
		if code != 0 {
			t.Fatalf("exit %d %q", code, errOut)
		}
		var first WatchLine
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil {
			t.Fatal(err)
		}
		if data, _ := first.Data.(map[string]any); data["timeout"] != "1m30s" {
			t.Fatalf("first line %+v: want the record with timeout \"1m30s\"", first)
		}
	})

	t.Run("watch --json shape", func(t *testing.T) {
		code, out, errOut := cliCtx(ctx, addr, cfg, "submit", "--wait", "--json", "par")
		if code != 0 {
			t.Fatalf("exit %d %q", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var kinds []string
		for i, l := range lines {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(l), &raw); err != nil {
				t.Fatalf("line %d %q: %v", i, l, err)
			}
			if len(raw) != 3 || raw["event"] == nil || raw["id"] == nil || raw["data"] == nil {
				t.Fatalf("line %d %q: want exactly event, id, data", i, l)
			}
			var line struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal([]byte(l), &line)
			kinds = append(kinds, line.Event)
			if i == 0 {
				var info bgtask.TaskInfo
				if line.Event != "state" || json.Unmarshal(line.Data, &info) != nil || info.Name != "par" {
					t.Fatalf("first line %q: want the state", l)
				}
				if !rfc3339Local.Match(line.Data) {
					t.Fatalf("first line %q: no time in the local zone", l)
				}
			} else {
				var ev bgtask.Event
				if json.Unmarshal(line.Data, &ev) != nil || string(ev.Kind) != line.Event {
					t.Fatalf("line %q: data is not the event", l)
				}
			}
		}
		// The task may end before the watch connects: then the state (the
		// outcome) is the only line. Otherwise the events follow it, and
		// partial_success ends them.
		if len(kinds) == 1 {
			var line struct {
				Data bgtask.TaskInfo `json:"data"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line.Data.State != bgtask.StateSuccess || len(line.Data.Subtasks) != 3 {
				t.Fatalf("only line %q: want the final state, SUCCESS with its subtasks", lines[0])
			}
		} else if kinds[len(kinds)-1] != "partial_success" {
			t.Fatalf("events %v: want partial_success last", kinds)
		}
	})

	t.Run("status times", func(t *testing.T) {
		_, id, _ := cliCtx(ctx, addr, cfg, "submit", "ok")
		id = strings.TrimSpace(id)
		if code, _, _ := cliCtx(ctx, addr, cfg, "watch", id); code != 0 {
			t.Fatalf("watch: exit %d", code)
		}
		_, out, _ := cliCtx(ctx, addr, cfg, "status", id)
		for _, row := range []string{"created:", "started:", "finished:"} {
			if !regexp.MustCompile(regexp.QuoteMeta(row) + `\s+` + rfc3339Local.String()).MatchString(out) {
				t.Errorf("status: %s not RFC 3339 in the local zone:\n%s", row, out)
			}
		}
		_, out, _ = cliCtx(ctx, addr, cfg, "list")
		if !rfc3339Local.MatchString(out) {
			t.Errorf("list: no RFC 3339 local time:\n%s", out)
		}
	})

	t.Run("list next page keeps the filters", func(t *testing.T) {
		for range 3 {
			_, id, _ := cliCtx(ctx, addr, cfg, "submit", "ok")
			if code, _, _ := cliCtx(ctx, addr, cfg, "watch", strings.TrimSpace(id)); code != 0 {
				t.Fatalf("watch: exit %d", code)
			}
		}
		// The hint used to be "list --cursor C": without the server, the
		// state, the name or the page size.
		_, _, errOut := cliCtx(ctx, "127.0.0.1:1", cfg, "list", "--server", addr, "--state", "success", "--name", "ok", "--limit", "2")
		want := "more: bgtask list --server " + addr + " --state SUCCESS --name ok --limit 2 --cursor "
		if !strings.Contains(errOut, want) {
			t.Fatalf("list hint %q; want %q…", errOut, want)
		}
		cursor := strings.TrimSpace(errOut[strings.Index(errOut, want)+len(want):])
		code, out, _ := cliCtx(ctx, "127.0.0.1:1", cfg, "list", "--server", addr, "--state", "SUCCESS", "--name", "ok", "--limit", "2", "--cursor", cursor)
		if code != 0 || !strings.Contains(out, "SUCCESS") || strings.Contains(out, "FAILURE") {
			t.Fatalf("the hinted command: exit %d:\n%s", code, out)
		}
	})

	t.Run("interrupted wait", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		var out, errb syncBuffer
		env := map[string]string{"BGTASK_SERVER": addr}
		done := make(chan int, 1)
		go func() {
			done <- Run(wctx, []string{"submit", "--wait", "slow"},
				&Config{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		}()
		for i := 0; !strings.Contains(out.String(), "1/10"); i++ {
			if i == 1000 {
				t.Fatalf("no progress: %q %q", out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		code := <-done
		id := strings.SplitN(errb.String(), "\n", 2)[0]
		if code != ExitInterrupted || !strings.Contains(errb.String(), "keeps running") || !strings.Contains(errb.String(), "bgtask watch "+id) {
			t.Fatalf("exit %d, stderr %q; want 130 and how to follow %s", code, errb.String(), id)
		}
		if _, st, _ := cliCtx(ctx, addr, cfg, "status", "--json", id); !strings.Contains(st, `"ONGOING"`) {
			t.Fatalf("task after the interrupted wait: %s", st)
		}
		if code, _, _ := cliCtx(ctx, addr, cfg, "cancel", id); code != 0 {
			t.Fatalf("cancel: exit %d", code)
		}
	})

	// Invalid UTF-8 used to be sent as U+FFFD (encoding/json's silent
	// replacement): the task was submitted with other arguments than the
	// command line's. The command refuses it, naming what is invalid.
	t.Run("invalid UTF-8 refused", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"submit", "ok", "fine", "\xff\xfe"}, "argument 2 is not valid UTF-8"},
			{[]string{"submit", "--idempotency-key", "k\xff", "ok"}, "idempotency key is not valid UTF-8"},
			{[]string{"submit", "o\xffk"}, "task name is not valid UTF-8"},
			{[]string{"list", "--name", "\xfe"}, "name is not valid UTF-8"},
			{[]string{"list", "--cursor", "\xfe"}, "cursor is not valid UTF-8"},
			{[]string{"status", "\xfe"}, "task ID is not valid UTF-8"},
			{[]string{"cancel", "\xfe"}, "task ID is not valid UTF-8"},
			{[]string{"watch", "\xfe"}, "task ID is not valid UTF-8"},
		} {
			code, out, errOut := cliCtx(ctx, addr, cfg, tc.args...)
			if code != bgtask.ExitFailure || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 saying %q", tc.args, code, out, errOut, tc.want)
			}
		}
	})

	t.Run("list --limit out of range", func(t *testing.T) {
		for _, l := range []string{"0", "-1", "1001"} {
			code, _, errOut := cliCtx(ctx, addr, cfg, "list", "--limit", l)
			if code != bgtask.ExitFailure || !strings.Contains(errOut, "--limit") || !strings.Contains(errOut, "see --help") {
				t.Errorf("--limit %s: exit %d, stderr %q; want a usage error", l, code, errOut)
			}
		}
	})

	// A wrong server URL is no unknown task (exit 2) but exit 1; the
	// API's own /v1 suffix is accepted.
	t.Run("server URL", func(t *testing.T) {
		if code, _, errOut := cliCtx(ctx, addr, cfg, "list", "--server", "http://"+addr+"/v1/"); code != 0 {
			t.Errorf("--server .../v1/: exit %d, stderr %q; want 0", code, errOut)
		}
		code, _, errOut := cliCtx(ctx, addr, cfg, "list", "--server", "http://"+addr+"/api")
		if code != bgtask.ExitFailure || !strings.Contains(errOut, "no such endpoint") || !strings.Contains(errOut, "--server") {
			t.Errorf("--server .../api: exit %d, stderr %q; want exit 1 pointing at --server", code, errOut)
		}
		code, _, errOut = cliCtx(ctx, addr, cfg, "status", "no-such-task")
		if code != bgtask.ExitNotFound {
			t.Errorf("status of an unknown ID: exit %d, stderr %q; want %d", code, errOut, bgtask.ExitNotFound)
		}
	})

	// An ID was escaped twice on its way (status ../../etc/passwd said
	// "task not found: ..%2F..%2Fetc%2Fpasswd"): it is echoed as typed,
	// quoted.
	t.Run("unknown ID echoed as typed", func(t *testing.T) {
		for _, id := range []string{"../../etc/passwd", "a b%20c", "x?y#z"} {
			for _, cmd := range []string{"status", "cancel", "watch"} {
				code, _, errOut := cliCtx(ctx, addr, cfg, cmd, id)
				if want := "task not found: " + strconv.Quote(id); code != bgtask.ExitNotFound || !strings.Contains(errOut, want) {
					t.Errorf("%s %q: exit %d, stderr %q; want %d saying %s", cmd, id, code, errOut, bgtask.ExitNotFound, want)
				}
			}
		}
	})

	// The end line of a cancelled wait used to say "(exit 1)", the
	// record's code, while the command exits 5.
	t.Run("cancelled wait", func(t *testing.T) {
		var out, errb syncBuffer
		env := map[string]string{"BGTASK_SERVER": addr}
		done := make(chan int, 1)
		go func() {
			done <- Run(ctx, []string{"submit", "--wait", "slow"},
				&Config{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		}()
		for i := 0; !strings.Contains(out.String(), "1/10"); i++ {
			if i == 1000 {
				t.Fatalf("no progress: %q %q", out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		id := strings.SplitN(errb.String(), "\n", 2)[0]
		if code, _, errOut := cliCtx(ctx, addr, cfg, "cancel", id); code != 0 {
			t.Fatalf("cancel: exit %d %q", code, errOut)
		}
		code := <-done
		if code != ExitCancelled || !strings.Contains(out.String(), id+" CANCELLED") || strings.Contains(out.String(), "(exit") {
			t.Fatalf("exit %d, stdout %q; want 5 and an end line without another exit code", code, out.String())
		}
	})

	t.Run("tasks --server", func(t *testing.T) {
		code, out, errOut := cliCtx(ctx, addr, cfg, "tasks", "--server", addr)
		if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "par") || !strings.Contains(out, "parallel") ||
			!strings.Contains(out, "succeeds") || strings.Contains(out, "removeDirectory") {
			t.Fatalf("exit %d, stdout:\n%s\nstderr %q", code, out, errOut)
		}
		code, out, _ = cliCtx(ctx, addr, cfg, "tasks", "--server", addr, "--json")
		var defs struct{ Definitions []struct{ Name string } }
		if code != 0 || json.Unmarshal([]byte(out), &defs) != nil {
			t.Fatalf("--json: exit %d, %s", code, out)
		}
		names := map[string]bool{}
		for _, d := range defs.Definitions {
			names[d.Name] = true
		}
		if !names["ok"] || !names["par"] || !names["slow"] || names["removeDirectory"] {
			t.Fatalf("--json: definitions %v", names)
		}
	})

}

func TestServeFlagMistakesAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--max-workers", "0"},
		{"serve", "--log-level", "loud"},
		{"serve", "--retention", "soon"},
	} {
		code, _, errOut := cliCtx(context.Background(), "", &Config{}, args...)
		if code != bgtask.ExitFailure || !strings.HasSuffix(errOut, "(see --help)\n") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one usage line", args, code, errOut)
		}
	}
}

// 0 for an interval and empty tags used to be accepted silently (0 became
// the default), --max-connections 0 was no usage error, and
// --heartbeat-interval 60s --stale-after 30s was refused naming
// Config.StaleAfter: every rule is now checked up front, naming the flag.
func TestServeFlagRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stale-after", "0"}, "--stale-after must be more than 0"},
		{[]string{"--heartbeat-interval", "0"}, "--heartbeat-interval must be more than 0"},
		{[]string{"--retention", "0"}, "--retention must be more than 0"},
		{[]string{"--max-workers", "0"}, "--max-workers must be at least 1"},
		{[]string{"--max-connections", "0"}, "--max-connections must be at least 1"},
		{[]string{"--heartbeat-interval", "60s", "--stale-after", "30s"}, "--stale-after (30s) must be at least 3 times --heartbeat-interval (1m0s)"},
		{[]string{"--stale-after", "3s"}, "--stale-after (3s) must be at least 3 times --heartbeat-interval (5s, the default)"},
		// Accepted before and fatal: every healthy run was stopped between
		// two renewals ("orphaned after 1 attempt"), or the server spun.
		{[]string{"--heartbeat-interval", "2s", "--stale-after", "3s"}, "--stale-after (3s) must be at least 3 times --heartbeat-interval (2s)"},
		{[]string{"--heartbeat-interval", "2s", "--stale-after", "5s"}, "--stale-after (5s) must be at least 3 times --heartbeat-interval (2s)"},
		{[]string{"--heartbeat-interval", "1ns", "--stale-after", "2ns"}, "--heartbeat-interval (1ns) must be at least 10ms"},
		// 3 × the interval overflowed, and a healthy server's tasks were
		// taken over after 3 s (a tester).
		{[]string{"--heartbeat-interval", "4611686018", "--stale-after", "3s"}, "--stale-after (3s) must be at least 3 times --heartbeat-interval (1281023h53m38s)"},
		// A billion workers: the claimer took its free slots one by one, used
		// a core while idle and never stopped (a tester).
		{[]string{"--max-workers", "1000000000"}, "--max-workers must be at most 100000, got 1000000000"},
		{[]string{"--tags", "a b,,c"}, `tag "a b" contains white space`},
		{[]string{"--tags", "a,,c"}, "tag 2 is empty"},
		// --server-id '' silently became the default, and IDs with
		// spaces, newlines or of 300 bytes were accepted (a tester).
		{[]string{"--server-id", ""}, "serve: --server-id is empty: give a value, or leave the flag out for its default"},
		{[]string{"--server-id", "web 1"}, "must not contain spaces, control or invisible characters"},
		{[]string{"--server-id", "web\n1"}, "must not contain spaces, control or invisible characters"},
		// A zero-width space made "web1" and "web\u200b1" two servers that
		// look alike; a right-to-left override scrambled the servers table.
		{[]string{"--server-id", "web\u200b1"}, "must not contain spaces, control or invisible characters"},
		{[]string{"--server-id", "web\u202e1"}, "must not contain spaces, control or invisible characters"},
		{[]string{"--server-id", "web\u31641"}, "must not contain spaces, control or invisible characters"}, // Hangul filler
		{[]string{"--server-id", "web\ufe0f1"}, "must not contain spaces, control or invisible characters"}, // variation selector
		{[]string{"--server-id", "we\u034fb1"}, "must not contain spaces, control or invisible characters"}, // combining grapheme joiner
		{[]string{"--tags", "gpu,e\u200bu"}, "contains white space or an invisible character"},
		{[]string{"--server-id", strings.Repeat("w", 300)}, "a server ID is at most 128 bytes, got 300"},
	} {
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
		// A server that starts after all (the check missing) is stopped,
		// and the case fails on its exit code.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		code, _, errOut := cliCtx(ctx, "", &Config{}, args...)
		cancel()
		if code != bgtask.ExitFailure || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "Config.") ||
			!strings.HasSuffix(errOut, "(see --help)\n") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one usage line saying %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Piped output prints one line per change of what the line shows: a
// parallel task's updated events that change only a subtask's progress
// printed about 40 identical lines for demo.parallel.
func TestWatchPipedSkipsRepeatedLines(t *testing.T) {
	var out strings.Builder
	r := &renderer{w: &out, now: time.Now}
	prog := func(cur float64, msg string) bgtask.ProgressInfo {
		return bgtask.ProgressInfo{Current: cur, Total: 6, Message: msg}
	}
	evs := []client.StreamEvent{
		{Kind: "started", Event: &bgtask.Event{Kind: bgtask.EventStarted, State: bgtask.StateOngoing}},
		{Kind: "updated", Event: &bgtask.Event{Kind: bgtask.EventUpdated, State: bgtask.StateOngoing, Progress: prog(0, "6 of 6 subtasks to run")}},
		{Kind: "updated", Event: &bgtask.Event{Kind: bgtask.EventUpdated, State: bgtask.StateOngoing, Progress: prog(0, "6 of 6 subtasks to run")}},
		{Kind: "updated", Event: &bgtask.Event{Kind: bgtask.EventUpdated, State: bgtask.StateOngoing, Progress: prog(0, "6 of 6 subtasks to run")}},
		{Kind: "updated", Event: &bgtask.Event{Kind: bgtask.EventUpdated, State: bgtask.StateOngoing, Progress: prog(1, "subtask shard-1 succeeded")}},
		{Kind: "updated", Event: &bgtask.Event{Kind: bgtask.EventUpdated, State: bgtask.StateOngoing, Progress: prog(1, "subtask shard-1 succeeded")}},
		{Kind: "done", Event: &bgtask.Event{Kind: bgtask.EventDone, State: bgtask.StateSuccess, Progress: prog(1, "subtask shard-1 succeeded")}},
	}
	for _, se := range evs {
		r.render(se)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %d lines, want 4 (started, two updates, done):\n%s", len(lines), out.String())
	}
}

//go:build testtasks

package testtasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
)

// Registry returns a new registry holding every test-only task.
func Registry() *bgtask.Registry {
	r := bgtask.NewRegistry()
	for _, d := range definitions() {
		r.MustAdd(d)
	}
	return r
}

func definitions() []bgtask.Definition {
	return []bgtask.Definition{
		{Name: "success", Description: "exit 0", Run: func(context.Context, *bgtask.Task) error { return nil }},
		{Name: "failure", Description: "exit 1", Run: func(context.Context, *bgtask.Task) error { return bgtask.Exit(1) }},
		{Name: "exception", Description: "return an error (exit 3)", Run: exception},
		{Name: "panic", Description: "panic (exit 3)", Run: panicking},
		{Name: "timeout", Description: "sleep 5 minutes ignoring ctx (timeout 1s → exit 4)", Run: sleepForever, Timeout: time.Second},
		{Name: "minruntime", Description: "exit 0 at once (min runtime 2s)", Run: func(context.Context, *bgtask.Task) error { return nil }, MinRuntime: 2 * time.Second},
		{Name: "wait", Description: "wait [SECONDS] (default 10), honouring ctx", Run: wait},
		{Name: "stubborn", Description: "sleep 5 minutes ignoring ctx, no timeout of its own", Run: sleepForever},
		{Name: "child_wait", Description: "run `sleep SECONDS` as a child process (same process group), honouring ctx; print \"child_wait: started pid PID\"", Run: childWait},
		{Name: "retriable_wait", Description: "wait SECONDS on attempt 1, return at once on later attempts; with MARKER, wait only on the run that creates the file MARKER (retriable, max 3)", Run: retriableWait, Retriable: true, MaxAttempts: 3},
		{Name: "unique_workspace", Description: "print pid and workspace between SENTINEL lines; nest N deep", Run: uniqueWorkspace},
		{Name: "no_output", Description: "unique_workspace with no output", Run: uniqueWorkspace, NoOutput: true},
		{Name: "persistent_counter", Description: "exit with the stored number (4 if none), store N", Run: persistentCounter, Workspace: bgtask.WorkspacePersistent},
		{Name: "file_exists", Description: "exit 0 if PATH exists, else 11", Run: fileExists},
		{Name: "progress", Description: "report STEPS progress steps MS apart", Run: progress},
		{Name: "stepped", Description: "report STEPS progress steps, step N once the file DIR/step-N exists (a test paces it)", Run: stepped},
		{Name: "bytes", Description: "report BYTES bytes copied in 4 chunks 50 ms apart", Run: bytesCopied, ProgressUnit: "bytes"},
		{Name: "big_progress", Description: "wait until the file MARKER exists, then report a progress message of BYTES bytes and return", Run: bigProgress},
		{Name: "parallel", Description: "one subtask per key of KEYS; FAILKEYS fail on attempt 1", Subtasks: parallelKeys, RunSubtask: parallelSubtask},
		{Name: "stop_server_after", Description: "wait until the file MARKER exists, send SIGTERM to this process (a server) and return once the server at ADDR says it is stopping", Run: stopServerAfter},
		{Name: "run_detached", Description: "bgtask.RunDetached(NAME, ARG...)", Run: runDetached},
	}
}

func exception(context.Context, *bgtask.Task) error {
	return errors.New("testtasks: exception")
}

func panicking(context.Context, *bgtask.Task) error {
	panic("testtasks: panic")
}

// sleepForever sleeps 5 minutes and ignores its context on purpose: only
// the runner's grace period (or the manager giving up) ends it.
func sleepForever(context.Context, *bgtask.Task) error {
	time.Sleep(5 * time.Minute)
	return nil
}

// arg returns t's i-th argument or def.
func arg(t *bgtask.Task, i int, def string) string {
	if args := t.Args(); i < len(args) {
		return args[i]
	}
	return def
}

// intArg parses t's i-th argument (def if absent).
func intArg(t *bgtask.Task, i int, def int) (int, error) {
	s := arg(t, i, strconv.Itoa(def))
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("testtasks: %s: argument %d: %q is not an integer", t.Name(), i+1, s)
	}
	return n, nil
}

func wait(ctx context.Context, t *bgtask.Task) error {
	secs, err := intArg(t, 0, 10)
	if err != nil {
		return err
	}
	return clock.Sleep(ctx, clock.Real, time.Duration(secs)*time.Second)
}

// stopServerAfter MARKER ADDR waits (at most a minute) until the file
// MARKER exists, sends SIGTERM to its own process — the server running it
// — and returns nil once the server at ADDR says it is stopping (its
// /healthz answers 503, or it refuses connections; at most 30 s): the
// server is stopping gracefully and the task's end is the last thing it
// does.
func stopServerAfter(ctx context.Context, t *bgtask.Task) error {
	marker, addr := arg(t, 0, ""), arg(t, 1, "")
	if marker == "" || addr == "" {
		return errors.New("usage: stop_server_after MARKER ADDR")
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if i == 6000 {
			return errors.New("stop_server_after: no marker within a minute")
		}
		if err := clock.Sleep(ctx, clock.Real, 10*time.Millisecond); err != nil {
			return err
		}
	}
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	if err := self.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	for range 3000 {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err != nil {
			return nil // not listening: stopping
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return nil // "stopping" (the server answers while it stops)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("stop_server_after: the server never said it was stopping")
}

// childWait runs `sleep SECONDS` as a child process in the same process
// group, so that a signal to the group reaches both: the child dies at
// once and the task returns its death as an error. It prints
// "child_wait: started" on stderr once the child runs.
func childWait(ctx context.Context, t *bgtask.Task) error {
	cmd := exec.CommandContext(ctx, "sleep", arg(t, 0, "10"))
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "child_wait: started pid", cmd.Process.Pid)
	return cmd.Wait()
}

// retriableWait waits on its first attempt only: a takeover after a crash
// finishes at once.
func retriableWait(ctx context.Context, t *bgtask.Task) error {
	if marker := arg(t, 1, ""); marker != "" {
		// A run handed back at shutdown keeps its attempt number: the
		// marker tells the first run from the later ones.
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil // a later run
		}
		f.Close()
		return wait(ctx, t)
	}
	if t.Attempt() > 1 {
		return nil
	}
	return wait(ctx, t)
}

// WorkspaceReport is what unique_workspace prints between its sentinels.
type WorkspaceReport struct {
	PID       int    `json:"pid"`
	Workspace string `json:"workspace"`
}

func uniqueWorkspace(ctx context.Context, t *bgtask.Task) error {
	sentinel := arg(t, 0, "")
	if sentinel == "" {
		return errors.New("testtasks: usage: unique_workspace SENTINEL [N]")
	}
	n, err := intArg(t, 1, 1)
	if err != nil {
		return err
	}
	report, err := json.Marshal(WorkspaceReport{PID: os.Getpid(), Workspace: t.Workspace()})
	if err != nil {
		return err
	}
	// One write, so that nested runs sharing stdout never interleave.
	if _, err := fmt.Fprintf(os.Stdout, "%s\n%s\n%s\n", sentinel, report, sentinel); err != nil {
		return err
	}
	if n <= 1 {
		return nil
	}
	return runNested(ctx, t.Name(), sentinel, n-1)
}

// runNested runs `run NAME SENTINEL N` with this executable, sharing
// stdout and stderr, and returns the child's exit code.
func runNested(ctx context.Context, name, sentinel string, n int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "run", name, sentinel, strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return bgtask.Exit(ee.ExitCode())
	}
	return err
}

// counterFile is where persistent_counter keeps its number.
const counterFile = "counter"

func persistentCounter(_ context.Context, t *bgtask.Task) error {
	next, err := intArg(t, 0, 0)
	if len(t.Args()) != 1 || err != nil {
		return errors.New("testtasks: usage: persistent_counter N")
	}
	path := filepath.Join(t.Workspace(), counterFile)
	prev := 4
	if b, err := os.ReadFile(path); err == nil {
		if prev, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("testtasks: corrupt counter: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(next)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return bgtask.Exit(prev)
}

func fileExists(_ context.Context, t *bgtask.Task) error {
	if len(t.Args()) != 1 {
		return errors.New("testtasks: usage: file_exists PATH")
	}
	if _, err := os.Stat(t.Args()[0]); err != nil {
		return bgtask.Exit(11)
	}
	return nil
}

func bytesCopied(ctx context.Context, t *bgtask.Task) error {
	total, err := intArg(t, 0, 0)
	if err != nil {
		return err
	}
	t.Progress().SetTotal(float64(total))
	for i := range 4 {
		if err := clock.Sleep(ctx, clock.Real, 50*time.Millisecond); err != nil {
			return err
		}
		t.Progress().Set(float64(total*(i+1)/4), "copying")
	}
	return nil
}

func progress(ctx context.Context, t *bgtask.Task) error {
	steps, err := intArg(t, 0, 0)
	if err != nil {
		return err
	}
	ms, err := intArg(t, 1, 100)
	if err != nil {
		return err
	}
	t.Progress().SetTotal(float64(steps))
	for i := range steps {
		if i > 0 {
			if err := clock.Sleep(ctx, clock.Real, time.Duration(ms)*time.Millisecond); err != nil {
				return err
			}
		}
		t.Progress().Add(1, fmt.Sprintf("step %d of %d", i+1, steps))
	}
	return nil
}

// stepped reports its steps as progress does, each once the test that
// paces it has created DIR/step-N: a test that watches every step sees
// every step, however slow the machine (with steps on a timer, a loaded
// browser missed some).
func stepped(ctx context.Context, t *bgtask.Task) error {
	dir := arg(t, 0, "")
	steps, err := intArg(t, 1, 0)
	if err != nil {
		return err
	}
	if dir == "" {
		return errors.New("testtasks: usage: stepped DIR STEPS")
	}
	t.Progress().SetTotal(float64(steps))
	for i := range steps {
		if err := waitFile(ctx, filepath.Join(dir, fmt.Sprintf("step-%d", i+1))); err != nil {
			return err
		}
		t.Progress().Add(1, fmt.Sprintf("step %d of %d", i+1, steps))
	}
	return nil
}

// waitFile waits until path exists or ctx ends (polling every 10 ms).
func waitFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if err := clock.Sleep(ctx, clock.Real, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// bigProgress waits for a marker file, then reports one large progress
// message: the write of its outcome needs fresh space in the store.
func bigProgress(ctx context.Context, t *bgtask.Task) error {
	size, err := intArg(t, 0, 0)
	if err != nil {
		return err
	}
	marker := arg(t, 1, "")
	for {
		if _, err := os.Stat(marker); err == nil || marker == "" {
			break
		}
		if err := clock.Sleep(ctx, clock.Real, 10*time.Millisecond); err != nil {
			return err
		}
	}
	t.Progress().Set(1, strings.Repeat("x", size))
	return nil
}

// splitKeys splits a comma-separated list, dropping empty elements.
func splitKeys(s string) []string {
	return slices.DeleteFunc(strings.Split(s, ","), func(k string) bool { return k == "" })
}

func parallelKeys(_ context.Context, t *bgtask.Task) ([]string, error) {
	keys := splitKeys(arg(t, 0, ""))
	if len(keys) == 0 {
		return nil, errors.New("testtasks: usage: parallel KEYS [FAILKEYS]")
	}
	return keys, nil
}

func parallelSubtask(_ context.Context, t *bgtask.Task) error {
	if t.Attempt() == 1 && slices.Contains(splitKeys(arg(t, 1, "")), t.SubtaskKey()) {
		return fmt.Errorf("testtasks: subtask %q fails on attempt 1", t.SubtaskKey())
	}
	return nil
}

func runDetached(_ context.Context, t *bgtask.Task) error {
	args := t.Args()
	if len(args) == 0 {
		return errors.New("testtasks: usage: run_detached NAME [ARG...]")
	}
	return bgtask.RunDetached(args[0], args[1:]...)
}

//go:build linux

package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// A fixed server ID does not defeat crash recovery: restarted with the same
// --server-id after kill -9, the server recovers its tasks at once.
func TestFixedServerIDCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, dir, "--server-id", "web-1")
	retriable := s1.submit("retriable_wait", "60")
	plain := s1.submit("wait", "60")
	for _, id := range []string{retriable, plain} {
		s1.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 && i.Owner == "web-1" })
	}
	s1.kill9()

	s2 := startServer(t, dir, "--server-id", "web-1")
	if info := s2.waitState(retriable, bgtask.StateSuccess); info.Attempt != 2 {
		t.Fatalf("retriable task after the crash: attempt %d, want 2", info.Attempt)
	}
	if info := s2.waitState(plain, bgtask.StateFailure); info.Error != "orphaned after 1 attempt" || info.Attempt != 1 {
		t.Fatalf("non-retriable task after the crash: %q at attempt %d, want orphaned after 1 attempt", info.Error, info.Attempt)
	}
}

// post submits a task over HTTP (faster than a client process, when the
// test races the task) and returns its ID.
func (s *server) post(name string, args ...string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "args": args})
	resp, err := http.Post("http://"+s.addr+"/v1/tasks", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var info bgtask.TaskInfo
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&info) != nil {
		s.t.Fatalf("POST /v1/tasks %s: %s", name, resp.Status)
	}
	return info.ID
}

// sseClient reads one event stream.
type sseClient struct {
	t    testing.TB
	resp *http.Response
	sc   *bufio.Scanner
}

type sseEvent struct{ kind, id, data string }

func (s *server) openStream(path, lastID string) *sseClient {
	s.t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.addr+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	s.t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // events may carry large messages
	return &sseClient{t: s.t, resp: resp, sc: sc}
}

// next returns the next event (pings skipped); ok is false at the end of
// the response.
func (c *sseClient) next() (sseEvent, bool) {
	var ev sseEvent
	for c.sc.Scan() {
		line := c.sc.Text()
		switch {
		case line == "" && ev.kind != "":
			return ev, true
		case strings.HasPrefix(line, "event: "):
			ev.kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return ev, false
}

// kinds reads the stream to its end and returns the event kinds.
func (c *sseClient) kinds() []string {
	var out []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100_000 {
			ev, ok := c.next()
			if !ok {
				return
			}
			out = append(out, ev.kind)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitFor):
		c.t.Fatalf("stream did not end; events so far %v", out)
	}
	return out
}

// A client that lost its stream while the server restarted resumes with
// its Last-Event-ID and gets the rest, the outcome included: the events
// are in the store's log, not in the old process's memory.
func TestStreamResumesAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := startServer(t, dir)
	var id string
	var first sseEvent
	// Follow a progress 10 100 task to its first updated event. On a busy
	// machine the task may be over before the stream opens: then try again
	// with a new one.
	for try := 0; first.id == "" && try < 5; try++ {
		id = s1.post("progress", "10", "100")
		c := s1.openStream("/v1/tasks/"+id+"/events", "")
		for range 1000 {
			ev, ok := c.next()
			if !ok || ev.kind == "server_close" {
				break
			}
			if ev.kind == "updated" {
				first = ev
				break
			}
		}
		c.resp.Body.Close() // the client goes away
	}
	if first.id == "" {
		t.Fatal("no updated event seen in 5 tries")
	}
	s1.waitState(id, bgtask.StateSuccess)
	s1.term()

	s2 := startServer(t, dir)
	kinds := s2.openStream("/v1/tasks/"+id+"/events", first.id).kinds()
	if n := len(kinds); n < 2 || kinds[n-2] != "done" || kinds[n-1] != "server_close" {
		t.Fatalf("resumed after a restart: %v, want the missed events, done, server_close", kinds)
	}
	for _, k := range kinds {
		if k == "state" {
			t.Fatalf("resume sent the state instead of the missed events: %v", kinds)
		}
	}
}

// The data directory on a small tmpfs fills while a task runs: the outcome
// cannot be written. The server keeps it and writes it once space is back;
// the task's stream ends with it, and nothing is recorded as orphaned.
func TestFullDiskOutcomeWrittenWhenSpaceReturns(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root)")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=48m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := filepath.Join(mnt, "data")
	s := startServer(t, dir)
	// The record carries 700 kB of arguments (which the task ignores):
	// writing its outcome rewrites it, which needs space the store has
	// never used. The task ends once the disk is full (the marker lives
	// outside the tmpfs). Its progress message, half a megabyte, is
	// stored cut to bgtask.MaxTextBytes.
	marker := filepath.Join(t.TempDir(), "disk-full")
	args := []string{"big_progress", "524288", marker}
	for range 7 {
		args = append(args, strings.Repeat("p", 100_000)) // (one argv string may hold 128 kB)
	}
	id := s.submit(args...)
	s.waitUntil(id, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })
	stream := s.openStream("/v1/tasks/"+id+"/events", "")
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The task ends now, with the disk full.
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(s.log(), "cannot write task outcomes") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed write of the outcome in the log:\n%s", s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info := s.status(id); info.State != bgtask.StateOngoing {
		t.Fatalf("record while the disk is full: %+v", info)
	}
	// Cancel gets a clear answer (a refusal while the store takes no
	// writes) and the server goes on.
	if code, _, errOut := s.run("cancel", id); code != 0 && (errOut == "" || strings.Contains(errOut, "goroutine")) {
		t.Fatalf("cancel while the disk is full: exit %d %q", code, errOut)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if info := s.waitState(id, bgtask.StateSuccess); info.Error != "" || len(info.Progress.Message) > bgtask.MaxTextBytes ||
		!strings.HasSuffix(info.Progress.Message, "bytes cut]") || len(info.Args) != 9 {
		t.Fatalf("record once space returned: error %q, message of %d bytes, %d arguments", info.Error, len(info.Progress.Message), len(info.Args))
	}
	kinds := stream.kinds()
	if n := len(kinds); n < 2 || kinds[n-2] != "done" || kinds[n-1] != "server_close" {
		t.Fatalf("stream of the task: %v, want ..., done, server_close", kinds)
	}
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for range 1 << 16 {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the file system never filled")
}

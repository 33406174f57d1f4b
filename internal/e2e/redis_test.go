package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/redistest"
)

// redisServers starts n `bgtask serve` processes sharing one private
// Redis, each with its own server ID (s0, s1, ...), sub-second heartbeats
// and a 2 s stale threshold, plus extra flags.
func redisServers(t *testing.T, n int, extra ...string) []*server {
	t.Helper()
	rs := redistest.Start(t, nil)
	var out []*server
	for i := range n {
		args := append([]string{"--store", rs.URL(0), "--server-id", fmt.Sprint("s", i),
			"--heartbeat-interval", "200ms", "--stale-after", "2s"}, extra...)
		out = append(out, startServer(t, "", args...))
	}
	return out
}

// liveServers returns `bgtask servers --json` as seen through s.
func (s *server) liveServers() []httpapi.ServerEntry {
	s.t.Helper()
	code, out, errOut := s.run("servers", "--json")
	if code != 0 {
		s.t.Fatalf("servers: exit %d %s", code, errOut)
	}
	var v struct {
		Servers []httpapi.ServerEntry `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Servers
}

// waitServers polls `bgtask servers` through s until ok holds.
func (s *server) waitServers(what string, ok func([]httpapi.ServerEntry) bool) []httpapi.ServerEntry {
	s.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := s.liveServers()
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("servers never %s: %+v", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisServersShareWorkAndCancel: three servers on one Redis, two
// slots each. Six long tasks submitted to the first spread over all three
// (the others claim what the first cannot run), `bgtask servers` shows
// who runs what, and cancels sent to the third stop every task, wherever
// it runs.
func TestRedisServersShareWorkAndCancel(t *testing.T) {
	t.Parallel()
	ss := redisServers(t, 3, "--max-workers", "2")
	var ids []string
	for range 6 {
		ids = append(ids, ss[0].submit("wait", "600"))
	}
	got := ss[1].waitServers("running two tasks each", func(sv []httpapi.ServerEntry) bool {
		if len(sv) != 3 {
			return false
		}
		for _, s := range sv {
			if len(s.Running) != 2 {
				return false
			}
		}
		return true
	})
	for _, s := range got {
		if s.Self != (s.ID == "s1") || s.MaxWorkers != 2 || !strings.Contains(strings.Join(s.Names, ","), "wait") {
			t.Errorf("server entry %+v", s)
		}
	}
	code, out, _ := ss[2].run("servers")
	// s2's line: ID, host, PID, uptime, RUNNING 2, WORKERS 2
	if code != 0 || !regexp.MustCompile(`(?m)^s2 \*\s+\S+\s+\d+\s+\S+\s+2\s+2\s`).MatchString(out) {
		t.Errorf("bgtask servers printed (exit %d):\n%s", code, out)
	}
	for _, id := range ids {
		if code, _, errOut := ss[2].run("cancel", id); code != 0 {
			t.Fatalf("cancel %s through s2: exit %d %s", id, code, errOut)
		}
	}
	for _, id := range ids {
		info := ss[0].waitState(id, bgtask.StateCancelled)
		if info.Attempt != 1 {
			t.Errorf("task %s: attempt %d, want 1", id, info.Attempt)
		}
	}
}

// TestRedisTakeoverAfterKill9: the server running a retriable task is
// killed with SIGKILL; another server takes the task over once its lease
// is stale (by Redis' clock) and finishes it at attempt 2. The killed
// server drops out of `bgtask servers`.
func TestRedisTakeoverAfterKill9(t *testing.T) {
	t.Parallel()
	// Stale after 5 s, renewed every 500 ms: a heartbeat delayed by a busy
	// machine does not hand the task over before the kill (with 2 s it
	// did, under load, and the task ran on the other server first).
	ss := redisServers(t, 2, "--max-workers", "1", "--heartbeat-interval", "500ms", "--stale-after", "5s")
	id := ss[0].submit("retriable_wait", "600")
	var holder, survivor *server
	ss[1].waitServers("showing a server running the task", func(sv []httpapi.ServerEntry) bool {
		if len(sv) != 2 {
			return false
		}
		for _, e := range sv {
			if len(e.Running) == 1 && e.Running[0] == id {
				h := 0 // servers are named s0 and s1 (redisServers)
				if e.ID == "s1" {
					h = 1
				}
				holder, survivor = ss[h], ss[1-h]
				return true
			}
		}
		return false
	})
	before := survivor.status(id)
	killed := time.Now()
	holder.kill9()
	info := survivor.waitState(id, bgtask.StateSuccess)
	if info.Attempt != before.Attempt+1 {
		t.Fatalf("task after the takeover: attempt %d, want %d (one more than the run killed)", info.Attempt, before.Attempt+1)
	}
	// Taken over within stale + one heartbeat (plus the claim), not much
	// later; the bound is loose, a machine's load is not the product's.
	if took := time.Since(killed); took > 5*time.Second+waitFor/2 {
		t.Errorf("takeover took %v", took)
	}
	survivor.waitServers("without the killed server", func(sv []httpapi.ServerEntry) bool { return len(sv) == 1 })
}

// TestRedisEventsAcrossServers: a client watching through one server sees
// the progress and the end of a task running on another. The task waits
// for a marker file that the test creates once the watch has its first
// line, so the watch sees the events live, not only the final state.
func TestRedisEventsAcrossServers(t *testing.T) {
	t.Parallel()
	ss := redisServers(t, 2)
	marker := filepath.Join(t.TempDir(), "go")
	id := ss[0].submit("big_progress", "10", marker)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "watch", "--json", id)
	cmd.Env = append(ss[1].env, "BGTASK_SERVER="+ss[1].addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var msg struct {
			Event string        `json:"event"`
			Data  *bgtask.Event `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			t.Fatalf("watch --json line %q: %v", sc.Text(), err)
		}
		if len(kinds) == 0 {
			if err := os.WriteFile(marker, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		kinds = append(kinds, msg.Event)
		if msg.Event == string(bgtask.EventUpdated) && (msg.Data == nil || msg.Data.Message != strings.Repeat("x", 10)) {
			t.Errorf("updated event %+v, want the task's progress message", msg.Data)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch through s1: %v", err)
	}
	if got := strings.Join(kinds, ","); got != "state,updated,done" {
		t.Fatalf("watch through s1 saw %s, want state,updated,done", got)
	}
}

// On Redis the dashboard of one server shows every live server with the
// tasks it runs, each a link to the task's view.
func TestDashboardRedisServers(t *testing.T) {
	t.Parallel()
	ss := redisServers(t, 2, "--stale-after", "30s") // no takeover on a busy machine
	w0, w1 := ss[0].submit("wait", "60"), ss[1].submit("wait", "60")
	for _, id := range []string{w0, w1} {
		ss[0].waitUntil(id, "running", func(ti *bgtask.TaskInfo) bool { return ti.Owner != "" })
	}
	b := openDashboard(t, ss[0], "")
	servers := waitJS[map[string][]string](b, "both servers with their tasks", fmt.Sprintf(`(() => {
		const out = {};
		for (const l of document.querySelectorAll('#servers > li')) out[l.querySelector('strong').textContent] = [...l.querySelectorAll('.running a')].map((a) => a.textContent);
		const all = Object.values(out).flat();
		return Object.keys(out).length === 2 && all.includes(%q) && all.includes(%q) && out;
	})()`, w0, w1), waitFor)
	for srv, ids := range servers {
		for _, id := range ids {
			if owner := ss[0].status(id).Owner; owner != srv {
				t.Errorf("the dashboard lists %s under %s; its owner is %s", id, srv, owner)
			}
		}
	}
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#servers .running a[href="#/task/%s"]`, w1))))
	d := b.waitDetail(w1, "the task with its server", `d.fields['Server'] !== undefined`)
	if owner := ss[0].status(w1).Owner; d.Fields["Server"] != owner || d.Badge != "RUNNING" {
		t.Errorf("task %s (owner %s) seen from s0: %+v", w1, owner, d)
	}
}

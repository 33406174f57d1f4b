package taskmode_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/internal/flock"
)

func TestEphemeralWorkspace(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	r := p.run("run", "unique_workspace", "S")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rs := reports(t, r.stdout, "S")
	if len(rs) != 1 {
		t.Fatalf("stdout %q: want one report", r.stdout)
	}
	ws := rs[0].Workspace
	if dir, name := filepath.Split(ws); filepath.Clean(dir) != p.tmp || !strings.HasPrefix(name, workspacePrefix("unique_workspace")) {
		t.Fatalf("workspace %q is not %s/%s<unique>", ws, p.tmp, workspacePrefix("unique_workspace"))
	}
	if exists(ws) {
		t.Fatalf("workspace %s still exists after exit", ws)
	}
}

func TestEphemeralWorkspaceIsPrivate(t *testing.T) {
	t.Parallel()
	p := newProc(t, "BGTASK_NO_REMOVE_WORKSPACE=1")
	r := p.run("run", "unique_workspace", "S")
	rs := reports(t, r.stdout, "S")
	if r.code != 0 || len(rs) != 1 {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	info, err := os.Stat(rs[0].Workspace)
	if err != nil {
		t.Fatalf("BGTASK_NO_REMOVE_WORKSPACE did not keep the workspace: %v", err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Fatalf("workspace mode %v, want 0700", got)
	}
	if !strings.Contains(r.stderr, "keeping workspace") {
		t.Fatalf("stderr %q does not say where the workspace is", r.stderr)
	}
}

func TestSimultaneousRunsGetDistinctWorkspaces(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	const n = 10
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = p.run("run", "unique_workspace", "S") })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range results {
		rs := reports(t, r.stdout, "S")
		if r.code != 0 || len(rs) != 1 {
			t.Fatalf("run %d: exit %d, stdout %q, stderr %q", i, r.code, r.stdout, r.stderr)
		}
		seen[rs[0].Workspace] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct workspaces among %d runs: %v", len(seen), n, seen)
	}
	if got := ls(t, p.tmp); len(got) != 0 {
		t.Fatalf("left behind: %q", got)
	}
}

func TestNestedRunsGetDistinctWorkspaces(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	r := p.run("run", "unique_workspace", "S", "3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rs := reports(t, r.stdout, "S")
	workspaces, pids := map[string]bool{}, map[int]bool{}
	for _, x := range rs {
		workspaces[x.Workspace], pids[x.PID] = true, true
		if exists(x.Workspace) {
			t.Errorf("workspace %s still exists", x.Workspace)
		}
	}
	if len(rs) != 3 || len(workspaces) != 3 || len(pids) != 3 {
		t.Fatalf("want 3 reports with distinct workspaces and PIDs, got %+v", rs)
	}
}

func TestPersistentWorkspace(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	for _, step := range []struct {
		store string
		want  int
	}{{"17", 4}, {"19", 17}, {"22", 19}} { // exit codes of the task-specific range
		if r := p.run("run", "persistent_counter", step.store); r.code != step.want {
			t.Fatalf("persistent_counter %s: exit %d, want %d; stderr %q", step.store, r.code, step.want, r.stderr)
		}
	}
	counter := filepath.Join(p.state, "bgtask", "workspaces", "persistent_counter", "counter")
	if b, err := os.ReadFile(counter); err != nil || strings.TrimSpace(string(b)) != "22" {
		t.Fatalf("%s = %q, %v; want 22", counter, b, err)
	}
}

func TestPersistentWorkspaceUnderHome(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	p := newProc(t, "XDG_STATE_HOME=", "HOME="+home)
	if r := p.run("run", "persistent_counter", "5"); r.code != 4 {
		t.Fatalf("exit %d, want 4: %s", r.code, r.stderr)
	}
	if !exists(filepath.Join(home, ".local", "state", "bgtask", "workspaces", "persistent_counter", "counter")) {
		t.Fatal("no counter under ~/.local/state/bgtask/workspaces/persistent_counter")
	}
}

func TestPersistentWorkspaceLocked(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	if r := p.run("run", "persistent_counter", "15"); r.code != 4 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	// A concurrent run holds the workspace's lock (flock on the directory).
	ws := filepath.Join(p.state, "bgtask", "workspaces", "persistent_counter")
	lock, err := flock.TryDir(ws)
	if err != nil {
		t.Fatal(err)
	}
	r := p.run("run", "persistent_counter", "6")
	lock.Release()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	oneLine(t, r.stderr)
	if !strings.Contains(r.stderr, "in use by another run") {
		t.Fatalf("stderr %q is not clear about the lock", r.stderr)
	}
	if r := p.run("run", "persistent_counter", "7"); r.code != 15 {
		t.Fatalf("after the lock was released: exit %d, want the stored 15", r.code)
	}
}

func TestWorkspaceFlag(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	dir := filepath.Join(t.TempDir(), "new", "ws")
	r := p.run("run", "--workspace", dir, "unique_workspace", "S")
	rs := reports(t, r.stdout, "S")
	if r.code != 0 || len(rs) != 1 || rs[0].Workspace != dir {
		t.Fatalf("exit %d, reports %+v; want workspace %s", r.code, rs, dir)
	}
	if !exists(dir) {
		t.Fatalf("--workspace %s was removed", dir)
	}
	// It beats the persistent workspace too, and is kept.
	if r := p.run("run", "--workspace", dir, "persistent_counter", "3"); r.code != 4 {
		t.Fatalf("persistent_counter in --workspace: exit %d, want 4", r.code)
	}
	if !exists(filepath.Join(dir, "counter")) || exists(filepath.Join(p.state, "bgtask")) {
		t.Fatal("--workspace did not replace the persistent workspace")
	}
	if got := ls(t, p.tmp); len(got) != 0 {
		t.Fatalf("an ephemeral workspace was created anyway: %q", got)
	}
}

func TestNoOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		silent bool
	}{
		{"silent", nil, []string{"run", "no_output", "S"}, true},
		{"silent when nested", nil, []string{"run", "no_output", "S", "2"}, true},
		// The runner's report of the task's error is silenced too; usage
		// errors (Definition.CheckArgs, before the run) are not: see
		// TestRemoveDirectoryUsageErrorsReachStderr.
		{"runner diagnostics silenced too", nil, []string{"run", "removeDirectory", "/dev/null", "child", "0"}, true},
		{"attach-console", nil, []string{"run", "--attach-console", "no_output", "S"}, false},
		{"BGTASK_IGNORE_NO_OUTPUT", []string{"BGTASK_IGNORE_NO_OUTPUT=1"}, []string{"run", "no_output", "S"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newProc(t).runEnv(tc.env, tc.args...)
			silent := r.stdout == "" && r.stderr == ""
			if silent != tc.silent {
				t.Fatalf("exit %d, stdout %q, stderr %q; want silent=%v", r.code, r.stdout, r.stderr, tc.silent)
			}
			if !tc.silent && len(reports(t, r.stdout, "S")) != 1 {
				t.Fatalf("stdout %q lacks the report", r.stdout)
			}
		})
	}
}

// mkStale creates n directories named prefix+i (each with content) in
// dir, the i-th aged age+i seconds.
func mkStale(t *testing.T, dir, prefix string, n int, age time.Duration) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(path, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		mtime := time.Now().Add(-age - time.Duration(i)*time.Second)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func TestStaleWorkspaceSweep(t *testing.T) {
	t.Parallel()
	old := workspacePrefix("old")
	for _, tc := range []struct {
		name  string
		env   []string
		setup func(t *testing.T, tmp string) (want []string)
	}{{
		name: "old leftovers, at most 5",
		setup: func(t *testing.T, tmp string) []string {
			olds := mkStale(t, tmp, old, 7, 2*time.Minute) // olds[6] is the oldest
			fresh := mkStale(t, tmp, workspacePrefix("fresh"), 2, 0)
			foreign := mkStale(t, tmp, "bgtask-00000000-old-", 2, 2*time.Minute)
			return concat(olds[:2], fresh, foreign)
		},
	}, {
		name: "never",
		env:  []string{"BGTASK_PURGE_STALE_WORKSPACES=never"},
		setup: func(t *testing.T, tmp string) []string {
			return mkStale(t, tmp, old, 3, 2*time.Minute)
		},
	}, {
		name: "always",
		env:  []string{"BGTASK_PURGE_STALE_WORKSPACES=always"},
		setup: func(t *testing.T, tmp string) []string {
			mkStale(t, tmp, workspacePrefix("fresh"), 3, 0)
			return nil
		},
	}, {
		name: "age in milliseconds",
		env:  []string{"BGTASK_PURGE_STALE_WORKSPACES=3000"},
		setup: func(t *testing.T, tmp string) []string {
			mkStale(t, tmp, old, 2, 10*time.Second)
			return mkStale(t, tmp, workspacePrefix("fresh"), 2, 0)
		},
	}, {
		name: "locked by a live run",
		setup: func(t *testing.T, tmp string) []string {
			olds := mkStale(t, tmp, old, 3, 2*time.Minute)
			lock, err := flock.TryDir(filepath.Join(tmp, olds[2]))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lock.Release() })
			return olds[2:]
		},
	}, {
		name: "symlinks are not followed",
		setup: func(t *testing.T, tmp string) []string {
			target := t.TempDir()
			mkStale(t, target, "precious-", 1, 0)
			link := old + "link"
			if err := os.Symlink(target, filepath.Join(tmp, link)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if !exists(filepath.Join(target, "precious-0", "sub")) {
					t.Error("the sweep followed a symlink")
				}
			})
			return []string{link}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProc(t, tc.env...)
			want := tc.setup(t, p.tmp)
			if r := p.run("run", "success"); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := ls(t, p.tmp)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("TMPDIR after the run (-want +got):\n%s", diff)
			}
		})
	}
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

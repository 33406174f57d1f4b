package taskmode_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask"
)

// mkdirs creates directories (each holding a file) under parent.
func mkdirs(t *testing.T, parent string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(parent, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(parent, n, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRemoveDirectoryProcess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dirs []string
		file string
		args []string // after PARENT
		code int
		want []string
		// usage: a usage error, the one line a no-output task prints.
		usage bool
	}{
		{"child and suffix", []string{"child", "a.old", "keep"}, "", []string{"child", "1", ".old"}, 0, []string{"keep"}, false},
		{"no suffix", []string{"child", "a.old"}, "", []string{"child", "1"}, 0, []string{"a.old"}, false},
		{"names with spaces", []string{"my child", "x y.old z", "keep"}, "", []string{"my child", "1", ".old z"}, 0, []string{"keep"}, false},
		{"target is a file", []string{"a.old"}, "child", []string{"child", "1", ".old"}, 3, []string{"a.old", "child"}, false},
		{"escaping child refused", []string{"a.old"}, "", []string{"../x", "1", ".old"}, 3, []string{"a.old"}, true},
		{"too few arguments", []string{"child"}, "", []string{"child"}, 3, []string{"child"}, true},
		{"star", []string{"child", "a", "b"}, "file", []string{"", "1", "*"}, 0, []string{"file"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			mkdirs(t, parent, tc.dirs...)
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(parent, tc.file), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := newProc(t).run(append([]string{"run", "removeDirectory", parent}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d", r.code, tc.code)
			}
			if usage := strings.Contains(r.stderr, "usage: removeDirectory"); r.stdout != "" || usage != tc.usage ||
				(!usage && r.stderr != "") {
				t.Fatalf("no-output task wrote %q / %q", r.stdout, r.stderr)
			}
			if diff := cmp.Diff(tc.want, ls(t, parent)); diff != "" {
				t.Fatalf("parent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveDirectoryMissingChildExitsAfterSeconds(t *testing.T) {
	t.Parallel()
	r := newProc(t).run("run", "removeDirectory", t.TempDir(), "child", "2")
	if r.code != 0 || r.took < 2*time.Second {
		t.Fatalf("exit %d after %v, want 0 after the 2s wait", r.code, r.took)
	}
}

func TestRemoveDirectoryChildAppearsAfterLaunch(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	// A long wait: only noticing the child ends the run.
	s := newProc(t, debugLog...).start("run", "--attach-console", "removeDirectory", parent, "late", "600")
	s.line("looking for the directory")
	// The child appears whole (built beside, then renamed into place): a
	// MkdirAll then a write raced the run, which may remove the new
	// directory between the two.
	staging := t.TempDir()
	mkdirs(t, staging, "late")
	if err := os.Rename(filepath.Join(staging, "late"), filepath.Join(parent, "late")); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if got := ls(t, parent); len(got) != 0 {
		t.Fatalf("parent %q, want empty", got)
	}
}

// debugLog is the environment that makes a run's task log its debug
// lines; with --attach-console they reach stderr. Tests wait on
// removeDirectory's "holding the lock" and "looking for the directory"
// lines rather than probing the lock: a probe takes the lock when it is
// free, and a run that tries it at that moment exits as if another run
// held it (the old flake under load).
var debugLog = []string{"BGTASK_LOG_LEVEL=debug"}

func TestRemoveDirectoryLockExcludesSecondRun(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	mkdirs(t, parent, "child")
	p := newProc(t, debugLog...)
	// The first run holds the lock for 10 s; the second must not wait for
	// it (nor for the child, 30 s) but exit 0 at once: the child is still
	// there when it returns (had it waited, the first run would have
	// removed it, and the second would have looked for it for 30 s).
	first := p.start("run", "--attach-console", "removeDirectory", "--test-sleep", "10000", parent, "child", "5")
	first.line("holding the lock")
	r := p.run("run", "removeDirectory", parent, "child", "30")
	if r.code != 0 {
		t.Fatalf("second run: exit %d, want 0", r.code)
	}
	if !exists(filepath.Join(parent, "child")) {
		t.Fatal("the child is gone: the second run removed it while the first held the lock, or waited for the first")
	}
	if code := first.wait(); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	if got := ls(t, parent); len(got) != 0 {
		t.Fatalf("parent %q, want empty (child and lock file removed)", got)
	}
}

func TestRemoveDirectoryConcurrentRunsProcess(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	const n = 20
	for i := range n {
		mkdirs(t, parent, fmt.Sprintf("child%d", i), fmt.Sprintf("leftover%d.old", i))
	}
	mkdirs(t, parent, "keep")
	p := newProc(t)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = p.run("run", "removeDirectory", parent, fmt.Sprintf("child%d", i), "2", ".old").code
		})
	}
	wg.Wait()
	if diff := cmp.Diff(make([]int, n), codes); diff != "" {
		t.Fatalf("exit codes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"keep"}, ls(t, parent)); diff != "" {
		t.Fatalf("parent (-want +got):\n%s", diff)
	}
}

func TestRemoveDirectorySymlinkNotFollowed(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	mkdirs(t, outside, "precious")
	parent := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(parent, "child")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(parent, "link.old")); err != nil {
		t.Fatal(err)
	}
	r := newProc(t).run("run", "removeDirectory", parent, "child", "1", ".old")
	if r.code != 3 {
		t.Fatalf("symlinked child: exit %d, want 3", r.code)
	}
	r = newProc(t).run("run", "removeDirectory", parent, "", "1", "*")
	if r.code != 0 {
		t.Fatalf("sweep: exit %d, want 0", r.code)
	}
	if !exists(filepath.Join(outside, "precious", "f")) {
		t.Fatal("a symlink out of PARENT was followed")
	}
	if diff := cmp.Diff([]string{"child", "link.old"}, ls(t, parent)); diff != "" {
		t.Fatalf("parent (-want +got):\n%s", diff)
	}
}

func TestRunDetachedChildOutlivesParent(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	child := `a child with "double" and 'single' quotes`
	mkdirs(t, parent, child)
	p := newProc(t)
	// The parent process starts removeDirectory detached, which sleeps 8 s
	// before it looks, and exits at once: well before the removal.
	r := p.run("run", "run_detached", "removeDirectory", "--test-sleep", "8000", parent, child, "10")
	if r.code != 0 {
		t.Fatalf("parent: exit %d: %s", r.code, r.stderr)
	}
	if !exists(filepath.Join(parent, child)) {
		t.Fatal("the child was removed before the parent exited: not detached")
	}
	waitFor(t, "the detached child to remove "+child, func() bool {
		return len(ls(t, parent)) == 0
	})
	waitFor(t, "the detached child to remove its workspace", func() bool {
		return len(ls(t, p.tmp)) == 0
	})
}

// removeDirectory is a no-output task: its output goes to /dev/null. Its
// usage errors used to go there too (exit 3, stderr empty); CheckArgs runs
// before the output is silenced, so they reach stderr now.
func TestRemoveDirectoryUsageErrorsReachStderr(t *testing.T) {
	t.Parallel()
	p := newProc(t)
	for _, args := range [][]string{
		{"run", "removeDirectory"},
		{"run", "removeDirectory", t.TempDir(), "a/b", "0"},
		{"--backgroundtask", "removeDirectory", "x", "y", "0", "z", "extra"},
	} {
		r := p.run(args...)
		if r.code != bgtask.ExitException || !strings.Contains(r.stderr, "usage: removeDirectory") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 3 and one usage line", args, r.code, r.stderr)
		}
	}
}

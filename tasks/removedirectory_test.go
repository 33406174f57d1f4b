package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/flock"
)

// removeDir runs removeDirectory in-process with args and returns its exit
// code as task mode would report it.
func removeDir(t *testing.T, args ...string) int {
	t.Helper()
	return removeDirLogged(t, nil, args...)
}

// removeDirLogged is removeDir with the task's logger (nil: none).
func removeDirLogged(t *testing.T, logger *slog.Logger, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	def := RemoveDirectory()
	task := bgtask.NewTask(bgtask.TaskConfig{Name: def.Name, Args: args, Logger: logger})
	return bgtask.ExitCode(def.Run(ctx, task))
}

// logWatch is a slog handler that passes every message on, at every level,
// to msgs (dropping what nobody reads).
type logWatch struct{ msgs chan string }

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w logWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w logWatch) WithGroup(string) slog.Handler            { return w }
func (w logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case w.msgs <- r.Message:
	default:
	}
	return nil
}

// tree creates entries under a fresh parent: names ending in "/" are
// directories (each with a file inside), "@name=target" are symlinks,
// others are files. It returns the parent.
func tree(t *testing.T, entries ...string) string {
	t.Helper()
	parent := t.TempDir()
	for _, e := range entries {
		switch {
		case e[0] == '@':
			name, target, _ := cut(e[1:], '=')
			must(t, os.Symlink(target, filepath.Join(parent, name)))
		case e[len(e)-1] == '/':
			dir := filepath.Join(parent, e)
			must(t, os.MkdirAll(dir, 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
		default:
			must(t, os.WriteFile(filepath.Join(parent, e), []byte("x"), 0o644))
		}
	}
	return parent
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ls lists parent's entries, directories with a trailing "/".
func ls(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func TestRemoveDirectoryRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(parent string) []string
	}{
		{"no arguments", func(string) []string { return nil }},
		{"two positionals", func(p string) []string { return []string{p, "x"} }},
		{"five positionals", func(p string) []string { return []string{p, "x", "0", ".old", "extra"} }},
		{"child with slash", func(p string) []string { return []string{p, "x/y", "0"} }},
		{"child escaping", func(p string) []string { return []string{p, "../x", "0"} }},
		{"child dot-dot", func(p string) []string { return []string{p, "..", "0"} }},
		{"child dot", func(p string) []string { return []string{p, ".", "0"} }},
		{"suffix with slash", func(p string) []string { return []string{p, "x", "0", "a/.old"} }},
		{"suffix dot-dot", func(p string) []string { return []string{p, "x", "0", ".."} }},
		{"unknown flag", func(p string) []string { return []string{"--force", p, "x", "0"} }},
		{"test-sleep not a number", func(p string) []string { return []string{"--test-sleep", "soon", p, "x", "0"} }},
		{"test-sleep without value", func(string) []string { return []string{"--test-sleep"} }},
		{"empty parent", func(string) []string { return []string{"", "x", "0"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := tree(t, "x/", "y/", "a.old/")
			want := ls(t, parent)
			if got := removeDir(t, tc.args(parent)...); got != bgtask.ExitException {
				t.Fatalf("exit %d, want %d", got, bgtask.ExitException)
			}
			if diff := cmp.Diff(want, ls(t, parent)); diff != "" {
				t.Fatalf("parent changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveDirectoryRemoves(t *testing.T) {
	t.Parallel()
	outside := tree(t, "precious/")
	for _, tc := range []struct {
		name    string
		entries []string
		args    []string // after PARENT
		code    int
		want    []string
	}{{
		name:    "child and suffix matches",
		entries: []string{"child/", "a.old/", "b.old/", "keep/", "file.old"},
		args:    []string{"child", "0", ".old"},
		want:    []string{"file.old", "keep/"},
	}, {
		name:    "no suffix",
		entries: []string{"child/", "a.old/", "keep/"},
		args:    []string{"child", "0"},
		want:    []string{"a.old/", "keep/"},
	}, {
		name:    "names with spaces and quotes",
		entries: []string{"my child 'x' \"y\"/", "a b .old dir/", "keep/"},
		args:    []string{"my child 'x' \"y\"", "0", " .old dir"},
		want:    []string{"keep/"},
	}, {
		name:    "suffix sweep removes directories only",
		entries: []string{"child/", "dir.old/", "file.old", "@link.old=" + outside},
		args:    []string{"child", "0", ".old"},
		want:    []string{"file.old", "link.old"},
	}, {
		name:    "star removes every subdirectory",
		entries: []string{"child/", "a/", "b.old/", ".hidden/", "file", "@link=" + outside},
		args:    []string{"child", "0", "*"},
		want:    []string{"file", "link"},
	}, {
		name:    "empty child only sweeps",
		entries: []string{"child/", "a.old/"},
		args:    []string{"", "0", ".old"},
		want:    []string{"child/"},
	}, {
		name:    "missing child still sweeps",
		entries: []string{"a.old/", "keep/"},
		args:    []string{"child", "0", ".old"},
		want:    []string{"keep/"},
	}, {
		name:    "child that is a file",
		entries: []string{"child", "a.old/"},
		args:    []string{"child", "0", ".old"},
		code:    bgtask.ExitException,
		want:    []string{"a.old/", "child"},
	}, {
		name:    "child that is a symlink to a directory",
		entries: []string{"@child=" + outside, "a.old/"},
		args:    []string{"child", "0", ".old"},
		code:    bgtask.ExitException,
		want:    []string{"a.old/", "child"},
	}, {
		name:    "unparsable seconds with child present",
		entries: []string{"child/"},
		args:    []string{"child", "soon"},
		want:    nil,
	}, {
		name:    "test-sleep before positionals",
		entries: []string{"child/"},
		args:    []string{"child", "0"},
		want:    nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := tree(t, tc.entries...)
			args := append([]string{parent}, tc.args...)
			if tc.name == "test-sleep before positionals" {
				args = append([]string{"--test-sleep", "50"}, args...)
			}
			if got := removeDir(t, args...); got != tc.code {
				t.Fatalf("exit %d, want %d", got, tc.code)
			}
			if diff := cmp.Diff(tc.want, ls(t, parent)); diff != "" {
				t.Fatalf("parent after run (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff([]string{"precious/"}, ls(t, outside)); diff != "" {
		t.Fatalf("a symlink was followed out of PARENT (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(outside, "precious", "f")); err != nil {
		t.Fatalf("a symlink was followed out of PARENT: %v", err)
	}
}

func TestRemoveDirectoryDoesNotFollowSymlinksInsideChild(t *testing.T) {
	t.Parallel()
	outside := tree(t, "precious/")
	parent := tree(t, "child/")
	must(t, os.Symlink(outside, filepath.Join(parent, "child", "escape")))
	must(t, os.Symlink(filepath.Join(outside, "precious", "f"), filepath.Join(parent, "child", "file-link")))
	if got := removeDir(t, parent, "child", "0"); got != bgtask.ExitSuccess {
		t.Fatalf("exit %d, want 0", got)
	}
	if got := ls(t, parent); len(got) != 0 {
		t.Fatalf("parent = %q, want empty", got)
	}
	if _, err := os.Stat(filepath.Join(outside, "precious", "f")); err != nil {
		t.Fatalf("symlink target outside PARENT was removed: %v", err)
	}
}

func TestRemoveDirectoryParent(t *testing.T) {
	t.Parallel()
	t.Run("missing parent exits 0", func(t *testing.T) {
		t.Parallel()
		if got := removeDir(t, filepath.Join(t.TempDir(), "nope"), "child", "0"); got != 0 {
			t.Fatalf("exit %d, want 0", got)
		}
	})
	t.Run("parent that is a file exits 3", func(t *testing.T) {
		t.Parallel()
		parent := tree(t, "file")
		if got := removeDir(t, filepath.Join(parent, "file"), "child", "0"); got != bgtask.ExitException {
			t.Fatalf("exit %d, want 3", got)
		}
	})
	t.Run("parent itself is never removed", func(t *testing.T) {
		t.Parallel()
		parent := tree(t, "a/")
		if got := removeDir(t, parent, "", "0", "*"); got != 0 {
			t.Fatalf("exit %d, want 0", got)
		}
		if got := ls(t, parent); len(got) != 0 {
			t.Fatalf("parent = %q, want empty", got)
		}
	})
}

func TestRemoveDirectoryMissingChildWaitsSeconds(t *testing.T) {
	t.Parallel()
	parent := tree(t, "keep/")
	start := time.Now()
	if got := removeDir(t, parent, "child", "1"); got != 0 {
		t.Fatalf("exit %d, want 0", got)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("took %v, want at least the 1s wait", took)
	}
}

// TestRemoveDirectoryChildAppearingAfterLaunch: a CHILD created while the
// run waits for it is removed. The test creates it once the run says it
// holds the lock and looks (its debug log), not after a guess of time,
// and never probes the lock itself: a probe that took the free lock at the
// wrong moment made the run exit at once as if another run had it (the
// old flake under load). The wait is long (600 s) so that only noticing
// the child can end the run; a bound of a minute catches a hang.
func TestRemoveDirectoryChildAppearingAfterLaunch(t *testing.T) {
	t.Parallel()
	parent := tree(t, "keep/")
	watch := logWatch{msgs: make(chan string, 16)}
	done := make(chan int, 1)
	go func() { done <- removeDirLogged(t, slog.New(watch), parent, "late", "600") }()
	guard := time.After(time.Minute)
	for looking := false; !looking; {
		select {
		case msg := <-watch.msgs:
			looking = strings.Contains(msg, "looking for the directory")
		case got := <-done:
			t.Fatalf("exit %d before looking for the child", got)
		case <-guard:
			t.Fatal("the run never said it looks for the child")
		}
	}
	must(t, os.Mkdir(filepath.Join(parent, "late"), 0o755))
	select {
	case got := <-done:
		if got != 0 {
			t.Fatalf("exit %d, want 0", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("removeDirectory did not notice the child")
	}
	if diff := cmp.Diff([]string{"keep/"}, ls(t, parent)); diff != "" {
		t.Fatalf("parent (-want +got):\n%s", diff)
	}
}

func TestRemoveDirectoryOtherHolderExitsAtOnce(t *testing.T) {
	t.Parallel()
	parent := tree(t, "child/", "a.old/")
	root, err := os.OpenRoot(parent)
	must(t, err)
	defer root.Close()
	lock, err := flock.TryFile(root, lockName("child"))
	must(t, err)
	defer lock.Release()
	start := time.Now()
	if got := removeDir(t, parent, "child", "10", ".old"); got != 0 {
		t.Fatalf("exit %d, want 0", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v, want an immediate exit", took)
	}
	want := []string{lockName("child"), "a.old/", "child/"}
	if diff := cmp.Diff(want, ls(t, parent)); diff != "" {
		t.Fatalf("parent changed while another run held the lock (-want +got):\n%s", diff)
	}
}

func TestRemoveDirectoryConcurrentRunsOnOneParent(t *testing.T) {
	t.Parallel()
	var entries []string
	for i := range 20 {
		entries = append(entries, fmt.Sprintf("child%d/", i), fmt.Sprintf("x%d.old/", i))
	}
	parent := tree(t, append(entries, "keep/", "f.old")...)
	codes := make([]int, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { codes[i] = removeDir(t, parent, fmt.Sprintf("child%d", i), "1", ".old") })
	}
	wg.Wait()
	if diff := cmp.Diff(make([]int, 20), codes); diff != "" {
		t.Fatalf("exit codes (-want +got):\n%s", diff)
	}
	// Every lock file is gone too.
	if diff := cmp.Diff([]string{"f.old", "keep/"}, ls(t, parent)); diff != "" {
		t.Fatalf("parent (-want +got):\n%s", diff)
	}
}

func TestParseSeconds(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"3": 3 * time.Second, " 2 ": 2 * time.Second, "0": 0, "-5": 0,
		"": DefaultRemoveWait, "soon": DefaultRemoveWait, "1.5": DefaultRemoveWait,
		"99999999999999": 2147483647 * time.Second,
	} {
		if got := parseSeconds(in); got != want {
			t.Errorf("parseSeconds(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLockNameFitsNameMax(t *testing.T) {
	t.Parallel()
	long := string(make([]byte, 255))
	if got := len(lockName(long)); got > 255 {
		t.Fatalf("lock name of a 255-byte name has %d bytes", got)
	}
	if lockName("a") == lockName("b") {
		t.Fatal("lock names collide")
	}
}

func TestBuiltin(t *testing.T) {
	t.Parallel()
	d, ok := Builtin().Lookup(RemoveDirectoryName)
	if !ok || !d.NoOutput {
		t.Fatalf("Builtin() lacks a no-output %s: %v %v", RemoveDirectoryName, d, ok)
	}
	if a, b := Builtin(), Builtin(); a == b {
		t.Fatal("Builtin returns a shared registry")
	}
}

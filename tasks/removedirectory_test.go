package tasks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def := RemoveDirectory()
	task := bgtask.NewTask(bgtask.TaskConfig{Name: def.Name, Args: args})
	return bgtask.ExitCode(def.Run(ctx, task))
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
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Fatalf("took %v, want about 1s", took)
	}
}

// waitLocked waits (bounded) until someone holds the lock of name in
// parent.
func waitLocked(t *testing.T, parent, name string) {
	t.Helper()
	root, err := os.OpenRoot(parent)
	must(t, err)
	defer root.Close()
	for range 500 {
		l, err := flock.TryFile(root, lockName(name))
		if errors.Is(err, flock.ErrLocked) {
			return
		}
		must(t, err)
		l.Release()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nobody took the lock of %q within 5s", name)
}

func TestRemoveDirectoryChildAppearingAfterLaunch(t *testing.T) {
	t.Parallel()
	parent := tree(t, "keep/")
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- removeDir(t, parent, "late", "10") }()
	waitLocked(t, parent, "late")
	must(t, os.Mkdir(filepath.Join(parent, "late"), 0o755))
	select {
	case got := <-done:
		if got != 0 {
			t.Fatalf("exit %d, want 0", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("removeDirectory did not finish")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v: did not notice the child within a poll or two", took)
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

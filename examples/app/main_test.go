package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// app is the example program, built once by TestMain.
var app string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bgtask-example-")
	if err != nil {
		panic(err)
	}
	app = filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-tags=", "-o", app, ".") // no testtasks, even via GOFLAGS
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err == nil {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(app, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestOwnTasksRun(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, "run", "greet", "big world")
	if code != 0 || stdout != "hello, big world\n" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if code, _, _ := run(t, "run", "require-dir", t.TempDir()); code != 0 {
		t.Fatalf("require-dir of a directory: exit %d", code)
	}
	if code, _, _ := run(t, "run", "require-dir", filepath.Join(t.TempDir(), "nope")); code != exitMissingDir {
		t.Fatalf("require-dir of nothing: exit %d, want %d", code, exitMissingDir)
	}
	if code, _, stderr := run(t, "run", "greet"); code != 3 || !strings.Contains(stderr, "usage: greet NAME") {
		t.Fatalf("greet without NAME: exit %d, stderr %q; want 3", code, stderr)
	}
}

func TestBuiltinTaskStillFound(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	if err := os.MkdirAll(filepath.Join(parent, "cache", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run(t, "run", "removeDirectory", parent, "cache", "1"); code != 0 {
		t.Fatalf("removeDirectory: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(parent, "cache")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cache not removed: %v", err)
	}
}

func TestUnknownTaskIsNotFound(t *testing.T) {
	t.Parallel()
	if code, _, _ := run(t, "run", "nosuch"); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	// Test-only tasks exist only with the testtasks tag; this build has none.
	if code, _, _ := run(t, "run", "success"); code != 2 {
		t.Fatalf("success in a build without testtasks: exit %d, want 2", code)
	}
}

func TestTasksListsOwnAndBuiltin(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, "tasks")
	for _, want := range []string{"greet", "require-dir", "removeDirectory"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("tasks lacks %q:\n%s", want, stdout)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// The program's own name and version, not bgtask's (it used to say
// "bgtask v0.0.0" everywhere).
func TestOwnNameAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if code, stdout, _ := run(t, args...); code != 0 || !strings.HasPrefix(stdout, "app v0.1.0 (bgtask ") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	if code, stdout, _ := run(t, "--help"); code != 0 || !strings.Contains(stdout, "app run NAME") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := run(t, "run", "nope"); code != 2 || !strings.HasPrefix(stderr, "app: unknown task") || !strings.Contains(stderr, "`app tasks`") {
		t.Errorf("run nope: exit %d, stderr %q", code, stderr)
	}
}

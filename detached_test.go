package bgtask

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeExecutable writes a shell script standing in for the bgtask binary:
// it records its arguments, its /proc stat line and where its standard
// streams point, then creates out/done.
func fakeExecutable(t *testing.T, out string) string {
	t.Helper()
	script := `#!/bin/sh
printf '%s\n' "$@" > OUT/args
cat /proc/$$/stat > OUT/stat
fds=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2)
printf '%s\n' "$fds" > OUT/fds
: > OUT/done
`
	exe := filepath.Join(t.TempDir(), "fake-bgtask")
	if err := os.WriteFile(exe, []byte(strings.ReplaceAll(script, "OUT", out)), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// startDetachedRetrying retries on ETXTBSY: another test's fork may still
// hold the script's write descriptor for a moment.
func startDetachedRetrying(t *testing.T, exe, name string, args []string) int {
	t.Helper()
	for range 50 {
		cmd, err := startDetached(exe, name, args)
		if err == nil {
			return cmd.Process.Pid
		}
		if !errors.Is(err, syscall.ETXTBSY) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("executable stayed busy")
	return 0
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for range 1000 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within 10s", path)
}

func TestStartDetached(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	exe := fakeExecutable(t, out)
	args := []string{"a b", `"double"`, "'single'", "$HOME", "*", "", "--flag"}
	pid := startDetachedRetrying(t, exe, "someTask", args)
	waitFile(t, filepath.Join(out, "done"))

	got, err := os.ReadFile(filepath.Join(out, "args"))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"run", "someTask"}, args...)
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")); diff != "" {
		t.Fatalf("argv (-want +got):\n%s", diff)
	}

	stat, err := os.ReadFile(filepath.Join(out, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after "(comm)": state ppid pgrp session ...
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if session := fields[3]; session != strconv.Itoa(pid) {
		t.Fatalf("child session %s, want its own (%d): not setsid", session, pid)
	}

	fds, err := os.ReadFile(filepath.Join(out, "fds"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("/dev/null\n/dev/null\n/dev/null\n", string(fds)); diff != "" {
		t.Fatalf("stdio (-want +got):\n%s", diff)
	}

	// The child is reaped: /proc/PID goes away instead of staying a zombie.
	for range 1000 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("child %d was not reaped within 10s", pid)
}

func TestStartDetachedRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "-rf", "a b", "../x"} {
		if _, err := startDetached("/bin/true", name, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("startDetached(%q) = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestRemoveDirectoryArgs(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		parent, child string
		wait          time.Duration
		suffix        string
		want          []string
	}{
		{"/p", "c", 10 * time.Second, "", []string{"/p", "c", "10"}},
		{"/p", "c d", 1500 * time.Millisecond, ".old", []string{"/p", "c d", "2", ".old"}},
		{"/p", "", 0, "*", []string{"/p", "", "0", "*"}},
		{"/p", "c", -time.Second, "", []string{"/p", "c", "0"}},
		{"rel", "c", time.Nanosecond, "", []string{filepath.Join(cwd, "rel"), "c", "1"}},
	} {
		got, err := removeDirectoryArgs(tc.parent, tc.child, tc.wait, tc.suffix)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("removeDirectoryArgs(%q, %q, %v, %q) (-want +got):\n%s", tc.parent, tc.child, tc.wait, tc.suffix, diff)
		}
	}
}

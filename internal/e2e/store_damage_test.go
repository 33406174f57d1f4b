package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/storedamage"
	"github.com/bgtask/bgtask/store/boltstore"
)

// TestServeRefusesDamagedStore runs `bgtask serve` on each damaged copy of
// a store of 300 tasks (truncations, flipped bytes, an empty file): it
// exits 1 with one line on stderr naming the file, without a goroutine
// dump, and leaves the file byte for byte as it was. `bgtask store check`
// reports each one damaged (exit 1) and the healthy file OK (exit 0).
func TestServeRefusesDamagedStore(t *testing.T) {
	t.Parallel()
	good, err := storedamage.Healthy(t.TempDir(), 300)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := storedamage.Cases(good)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "BGTASK_STORE=", "BGTASK_TOKEN=")
	run := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String(), errb.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errb.String()
	}

	healthy := filepath.Join(t.TempDir(), boltstore.DefaultFileName)
	if err := os.WriteFile(healthy, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("store", "check", healthy); code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "300 ongoing") {
		t.Fatalf("store check of the healthy file: exit %d\n%s%s", code, out, errOut)
	}

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, boltstore.DefaultFileName)
			if err := os.WriteFile(file, c.Data, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run("serve", "--listen", "127.0.0.1:0", "--data-dir", dir)
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(errOut, file) || strings.Contains(errOut, "goroutine ") || out != "" {
				t.Errorf("serve: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and one line naming %s", code, out, errOut, file)
			}
			if after, err := os.ReadFile(file); err != nil || !bytes.Equal(after, c.Data) {
				t.Errorf("serve changed the file (%v): %d bytes before, %d after", err, len(c.Data), len(after))
			}
			code, out, errOut = run("store", "check", file)
			if code != 1 || !strings.Contains(out, "DAMAGED") || strings.Contains(out+errOut, "goroutine ") {
				t.Errorf("store check: exit %d\n%s%s\nwant exit 1 and a report saying DAMAGED", code, out, errOut)
			}
			if after, err := os.ReadFile(file); err != nil || !bytes.Equal(after, c.Data) {
				t.Errorf("store check changed the file (%v)", err)
			}
		})
	}
}

// TestServeBackupOnSIGUSR1: SIGUSR1 makes a serving `bgtask serve` write a
// consistent copy of its store next to the file; `bgtask store check`
// finds it sound and holding the tasks submitted before.
func TestServeBackupOnSIGUSR1(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	var ids []string
	for i := range 5 {
		ids = append(ids, s.submit("wait", fmt.Sprint(60+i)))
	}
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(s.log(), "backup written") {
		if time.Now().After(deadline) {
			t.Fatalf("no backup written\n%s", s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	backup := filepath.Join(s.dir, boltstore.DefaultFileName+".backup")
	cmd := exec.Command(bin, "store", "check", backup)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "result:   OK") || !strings.Contains(string(out), "5 ongoing") {
		t.Fatalf("store check of the backup: %v\n%s", err, out)
	}
	// The server still serves after the backup.
	if info := s.status(ids[0]); info.State != "ONGOING" {
		t.Fatalf("task %s after the backup: %+v", ids[0], info)
	}
}

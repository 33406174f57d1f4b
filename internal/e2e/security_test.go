package e2e_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A default `bgtask serve` runs no built-in task for a client. Fails on
// the old code: `bgtask submit --wait removeDirectory "$HOME" projects 1`
// deleted the directory.
func TestServeRefusesRemoveDirectory(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	projects := filepath.Join(home, "projects")
	if err := os.MkdirAll(filepath.Join(projects, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "")
	code, out, errOut := s.run("submit", "--wait", "removeDirectory", home, "projects", "1")
	if code == 0 || !strings.Contains(errOut, "task mode only") {
		t.Errorf("submit --wait removeDirectory: exit %d, stdout %q, stderr %q; want a refusal", code, out, errOut)
	}
	code, out, _ = s.run("submit", "removeDirectory", home, "", "0", "*")
	if code == 0 {
		t.Errorf("submit removeDirectory with SUFFIX *: exit 0 (%s)", out)
	}
	if _, err := os.Stat(filepath.Join(projects, "work")); err != nil {
		t.Fatalf("the directory is gone: %v", err)
	}
	if _, out, _ := s.run("list", "--json"); strings.Contains(out, "removeDirectory") {
		t.Errorf("a removeDirectory task was stored: %s", out)
	}
	// Task mode still runs it.
	if code, _, errOut := s.run("run", "removeDirectory", home, "projects", "0"); code != 0 {
		t.Fatalf("bgtask run removeDirectory: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(projects); !os.IsNotExist(err) {
		t.Fatalf("bgtask run removeDirectory left the directory: %v", err)
	}
}

// serveFails runs `bgtask serve` with args and env, which must exit 1 at
// once with a message containing want.
func serveFails(t *testing.T, want string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--data-dir", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"XDG_STATE_HOME=" + t.TempDir(), "BGTASK_TOKEN="}, env...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Errorf("serve %q with %q: %v %s, want exit 1 saying %q", args, env, err, out, want)
	}
}

// A token that protects nothing is refused: empty or white space, too
// short for a non-loopback address, given twice.
func TestServeTokenRules(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveFails(t, "refusing to serve without a token", nil, "--listen", "0.0.0.0:0")
	serveFails(t, "--token is empty", nil, "--listen", "0.0.0.0:0", "--token", "   ") // refused as every flag given empty is
	serveFails(t, "white space", []string{"BGTASK_TOKEN= "}, "--listen", "0.0.0.0:0")
	serveFails(t, "white space", nil, "--token", "two words here and more")
	serveFails(t, "--token is empty", nil, "--token", "")
	serveFails(t, "too short", nil, "--listen", "0.0.0.0:0", "--token", "s3cret")
	serveFails(t, "too short", []string{"BGTASK_TOKEN=s3cret"}, "--listen", "[::]:0")
	serveFails(t, "is empty", nil, "--token-file", empty)
	serveFails(t, "give one", nil, "--token-file", empty, "--token", "0123456789abcdef")
}

// --token-file keeps the token out of ps; the server requires it.
func TestServeTokenFile(t *testing.T) {
	t.Parallel()
	const token = "e2e-token-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--token-file", file)
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), token) {
		t.Errorf("the token is in the server's command line")
	}
	if code, _, errOut := s.run("list"); code == 0 || !strings.Contains(errOut, "401") && !strings.Contains(errOut, "unauthorized") {
		t.Errorf("list without the token: exit %d %s", code, errOut)
	}
	s.env = append(s.env, "BGTASK_TOKEN="+token)
	if code, _, errOut := s.run("list"); code != 0 {
		t.Errorf("list with the token: exit %d %s", code, errOut)
	}
	if strings.Contains(s.log(), "readable by other users") {
		t.Errorf("a 0600 token file was warned about:\n%s", s.log())
	}
	// A token file others can read is served, with a warning.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if open := startServer(t, "", "--token-file", file); !strings.Contains(open.log(), "readable by other users") {
		t.Errorf("no warning about a 0644 token file:\n%s", open.log())
	}
}

// A full disk is 503 store_unavailable, not 500 internal, and the server
// keeps serving. The data directory is a 4 MiB tmpfs, which needs root
// (as scripts/test runs in CI); elsewhere the test is skipped.
func TestFullDiskIsStoreUnavailable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { // after the server's end (cleanups run last first)
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	s := startServer(t, dir)
	body := `{"name":"success","args":["` + strings.Repeat("x", 900<<10) + `"]}`
	var last int
	var lastBody string
	for i := 0; i < 12 && last != http.StatusServiceUnavailable; i++ {
		req, _ := http.NewRequest("POST", s.url("/v1/tasks"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last, lastBody = resp.StatusCode, string(b)
		if last != http.StatusCreated && last != http.StatusServiceUnavailable {
			t.Fatalf("submit %d on a filling disk: %d %s", i, last, b)
		}
	}
	if last != http.StatusServiceUnavailable || !strings.Contains(lastBody, `"store_unavailable"`) {
		t.Fatalf("a full disk answered %d %s, want 503 store_unavailable", last, lastBody)
	}
	if code, _, errOut := s.run("list"); code != 0 {
		t.Fatalf("the server after a full disk: list exit %d %s", code, errOut)
	}
}

// An idle kept-alive connection is closed by the server (after its idle
// timeout, 30 s), and so is a new one that sends nothing (header timeout,
// 10 s): held connections do not pile up. Fails on the old code: a
// kept-alive connection stayed open for ever (4,000 of them for as long as
// they were held). Takes 30 s; runs beside the other tests.
func TestIdleConnectionsClosed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	kept, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = kept.SetDeadline(time.Now().Add(waitFor))
	_ = silent.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(kept)
	if _, err := io.WriteString(kept, "GET /healthz HTTP/1.1\r\nHost: "+s.addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.Close {
		t.Fatalf("first request: %v (close %v)", err, resp != nil && resp.Close)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	for name, rd := range map[string]io.Reader{"kept-alive": br, "silent": silent} {
		if n, err := rd.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("%s connection: read %d bytes, %v; want the server to close it (EOF)", name, n, err)
		}
	}
}

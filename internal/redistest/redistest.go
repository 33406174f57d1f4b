// Package redistest runs a private redis-server for tests: on a free
// loopback port, in a temporary directory, with AOF on, so that a test may
// flush it, kill it, pause it and restart it without touching any other
// Redis (never the machine's own on 6379).
//
//	srv := redistest.Start(t, nil)
//	s, err := redisstore.New(ctx, srv.URL(0), nil)
//	srv.Kill()    // SIGKILL, as a crash
//	srv.Restart() // same port, same directory: the AOF is replayed
//
// The binary is found as redis-server on PATH, then in /usr/bin and
// /usr/local/bin; a test fails (never skips) without it. scripts/test
// installs it.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fsync policies for Options.Fsync (Redis' appendfsync).
const (
	// FsyncAlways syncs the AOF on every write: a SIGKILL loses nothing
	// that Redis acknowledged.
	FsyncAlways = "always"
	// FsyncEverySec syncs once a second (Redis' default).
	FsyncEverySec = "everysec"
)

// startTimeout bounds how long a start (or restart, with its AOF replay)
// may take before the test fails.
const startTimeout = 30 * time.Second

// Options configure a server. The zero value is AOF on with
// FsyncEverySec.
type Options struct {
	// Fsync is the appendfsync policy ("" = FsyncEverySec).
	Fsync string
	// NoPersistence turns AOF and RDB off (a Redis that keeps nothing).
	NoPersistence bool
	// TLS serves TLS only (no plain port), with a self-signed
	// certificate for 127.0.0.1: URL returns a rediss:// URL and RootCAs
	// the pool that trusts it.
	TLS bool
	// Args are extra redis-server arguments ("--requirepass", "pw", ...).
	Args []string
}

// Server is one private redis-server. Its methods are safe for concurrent
// use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts Options

	// cert is the TLS certificate (nil without Options.TLS).
	cert              *x509.Certificate
	certFile, keyFile string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when cmd's process has been waited for.
	exited chan struct{}
}

// Binary returns the path of redis-server, or an error saying how to
// install it.
func Binary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("redistest: redis-server not found (scripts/test installs it: apt-get install -y redis-server)")
}

// Start starts a redis-server for t and stops it when t ends. It fails t
// if redis-server is missing or does not come up.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.TLS {
		if s.certFile, s.keyFile, s.cert, err = writeCert(s.dir); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	// A free port can be taken by someone else between the probe and the
	// bind: try a few.
	for range 5 {
		s.port, err = pickPort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Kill)
	return s
}

// Addr returns host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL returns redis://127.0.0.1:PORT/db (rediss:// with Options.TLS).
func (s *Server) URL(db int) string {
	scheme := "redis://"
	if s.cert != nil {
		scheme = "rediss://"
	}
	return scheme + s.Addr() + "/" + strconv.Itoa(db)
}

// RootCAs returns a pool that trusts the server's TLS certificate (nil
// without Options.TLS).
func (s *Server) RootCAs() *x509.CertPool {
	if s.cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.cert)
	return pool
}

// Dir returns the server's working directory (its AOF lives there).
func (s *Server) Dir() string { return s.dir }

// pickPort is freePort; a test replaces it to make the race of two
// processes for one port happen.
var pickPort = freePort

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args() []string {
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.cert != nil {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port), "--tls-cert-file", s.certFile,
			"--tls-key-file", s.keyFile, "--tls-ca-cert-file", s.certFile, "--tls-auth-clients", "no"}
	}
	a := append(port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "no", "--logfile", s.logPath())
	if s.opts.NoPersistence {
		a = append(a, "--appendonly", "no", "--save", "")
	} else {
		fsync := s.opts.Fsync
		if fsync == "" {
			fsync = FsyncEverySec
		}
		a = append(a, "--appendonly", "yes", "--appendfsync", fsync, "--save", "")
	}
	return append(a, s.opts.Args...)
}

// start runs redis-server and waits until it is ready: its own log says
// so, and it answers PING. The log is the proof that this process bound
// the port: between freePort's probe and the bind, another test process
// may start a redis-server on the same port; ours then exits, but the
// other one would answer PING, and would go away when its test ends.
func (s *Server) start() error {
	logOff := s.logSize() // Restart: the log of the earlier run stays
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for i := 0; time.Now().Before(deadline) && i < 100_000; i++ {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.port, s.logTail())
		default:
		}
		if s.readySince(logOff) && s.ping() == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // a process coming up: nothing to wait on but its port
	}
	s.Kill()
	return fmt.Errorf("redis-server on port %d not ready after %v: %s", s.port, startTimeout, s.logTail())
}

// ping sends PING and expects +PONG (a server loading its AOF answers
// -LOADING; one with a password, -NOAUTH, which also says it is up).
func (s *Server) ping() error {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: time.Second}
	if s.cert != nil {
		c, err = tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{RootCAs: s.RootCAs()})
	} else {
		c, err = d.Dial("tcp", s.Addr())
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}

// logPath is the server's log file.
func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// logSize returns the log's size in bytes (0 when there is none yet).
func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readySince reports whether the log, from byte off on, says that the
// server accepts connections (Redis writes "Ready to accept connections"
// once it listens and has loaded its data).
func (s *Server) readySince(off int64) bool {
	f, err := os.Open(s.logPath())
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return err == nil && bytes.Contains(b, []byte("Ready to accept connections"))
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if sig == sigStop || sig == sigCont {
		return
	}
	select {
	case <-exited:
	case <-time.After(startTimeout):
		s.t.Errorf("redistest: redis-server did not exit on %v", sig)
	}
}

// Kill stops the server with SIGKILL, as a crash (what was not yet synced
// to the AOF is lost). Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.signal(sigCont) // a paused process still dies, but be sure
	s.signal(syscall.SIGKILL)
}

// Stop shuts the server down gracefully (SIGTERM: it syncs the AOF).
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Pause freezes the server (SIGSTOP): connections stay open, nothing
// answers, as in a network partition. Resume undoes it.
func (s *Server) Pause() { s.signal(sigStop) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(sigCont) }

// Restart starts the server again, on the same port and directory, after
// Kill or Stop (it kills a running one first). It fails the test if the
// server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

package redisstore_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
)

// New on a Redis that is not there fails at its first contact: one
// connection attempt (go-redis' defaults made 5 dial attempts per command
// and 3 command retries), an error that names the host and not the
// password.
func TestNewFailsAtFirstContact(t *testing.T) {
	t.Parallel()
	// A listener that accepts and hangs up at once: every dial succeeds,
	// every command fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	_, err = redisstore.New(t.Context(), "redis://:s3cret@"+ln.Addr().String()+"/0", nil)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), ln.Addr().String()) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("New: %v; want ErrUnavailable naming %s, without the password", err, ln.Addr())
	}
	if n := conns.Load(); n > 2 {
		t.Fatalf("New connected %d times to a Redis that hangs up; want 1 (no retries)", n)
	}

	_, err = redisstore.New(t.Context(), "redis://:s3cret@127.0.0.1:1/0", nil)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("New on a closed port: %v; want ErrUnavailable naming 127.0.0.1:1", err)
	}
}

// go-redis' own log lines ("failed to dial after 5 attempts", unstructured
// on stderr) go to the store's logger at debug level.
func TestGoRedisLogsIntoTheStoreLogger(t *testing.T) {
	// Not parallel: go-redis' logger is process-wide, the last store's
	// logger gets its lines.
	srv := redistest.Start(t, nil)
	var buf lockedBuffer
	s := newStore(t, srv.URL(0)+"?max_retries=-1&dial_timeout=1s",
		&redisstore.Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	srv.Kill()
	for i := 0; !strings.Contains(buf.String(), "failed to dial"); i++ {
		if i == 100 {
			t.Fatalf("no go-redis line in the store's log:\n%s", buf.String())
		}
		_, _ = s.Counts(t.Context())
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "source=go-redis") {
		t.Fatalf("go-redis line not at debug level:\n%s", buf.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

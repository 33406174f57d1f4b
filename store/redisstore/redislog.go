package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/redis/go-redis/v9"
)

// go-redis logs through one process-wide logger, by default unstructured
// lines on stderr ("redis: 2026/11/30 … pool.go:770: … failed to dial
// after 5 attempts"), one per failed command while Redis is away. New
// routes it, once per process, into the Config.Logger of the Store opened
// last, at debug level: the store's own errors (store.ErrUnavailable)
// already say that Redis cannot be reached, and the manager logs those
// with a bounded rate.
var (
	redisLogger     atomic.Pointer[slog.Logger]
	redisLoggerOnce sync.Once
)

// slogAdapter is go-redis's internal.Logging on redisLogger.
type slogAdapter struct{}

func (slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	l := redisLogger.Load()
	if l == nil || !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.DebugContext(ctx, msg, "source", "go-redis")
}

// routeRedisLog makes go-redis log into logger at debug level.
func routeRedisLog(logger *slog.Logger) {
	redisLogger.Store(logger)
	redisLoggerOnce.Do(func() { redis.SetLogger(slogAdapter{}) })
}

// Bounds of New's first contact with Redis: one dial attempt of at most
// probeDialTimeout, no command retries, probeTimeout in all. A Redis that
// is not there fails New in seconds instead of after go-redis' dial and
// command retries (5 dial attempts per command, 3 command retries).
const (
	probeDialTimeout = 2 * time.Second
	probeTimeout     = 5 * time.Second
)

// probe pings Redis once with opts bounded as above. opts must not have
// been given to redis.NewClient (which changes it); probe works on a copy.
func (s *Store) probe(ctx context.Context, opts redis.Options) error {
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	if opts.DialTimeout <= 0 || opts.DialTimeout > probeDialTimeout {
		opts.DialTimeout = probeDialTimeout
	}
	opts.MinIdleConns = 0
	var handshake tlsHandshake
	if opts.TLSConfig != nil {
		opts.Dialer = handshake.dialer(opts.TLSConfig, opts.DialTimeout)
	}
	c := redis.NewClient(&opts)
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := c.Ping(pctx).Err()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if herr := handshake.failed(); herr != nil {
		var cve *tls.CertificateVerificationError
		if errors.As(herr, &cve) {
			return fmt.Errorf("%w: redis at %s: the TLS handshake failed: %v", store.ErrUnavailable, opts.Addr, herr)
		}
		return fmt.Errorf("%w: redis at %s: the TLS handshake did not complete (%v): if that server does not speak TLS, use redis:// instead of rediss://", store.ErrUnavailable, opts.Addr, herr)
	}
	if pctx.Err() != nil {
		return fmt.Errorf("%w: redis at %s did not answer within %v", store.ErrUnavailable, opts.Addr, probeTimeout)
	}
	if errors.Is(s.wrap(pctx, err), store.ErrUnavailable) {
		return fmt.Errorf("%w: redis at %s: %v", store.ErrUnavailable, opts.Addr, err)
	}
	return fmt.Errorf("redisstore: redis at %s: %v", opts.Addr, err) // a refusal: AUTH, ...
}

// tlsHandshake is the probe's TLS dialer: go-redis' own (tls.DialWithDialer)
// reports a handshake that never completes, as with a Redis that does not
// speak TLS, as a bare "context deadline exceeded" or "i/o timeout", the
// same as a host that does not answer. This one connects, then
// handshakes, and keeps the handshake's error for probe's message.
type tlsHandshake struct {
	mu  sync.Mutex
	err error
}

// dialer returns a go-redis Options.Dialer: TCP, then a TLS handshake
// with conf, both within timeout.
func (h *tlsHandshake) dialer(conf *tls.Config, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := conf
		if c.ServerName == "" && !c.InsecureSkipVerify {
			c = conf.Clone()
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(raw, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return nil, err
		}
		return tc, nil
	}
}

// failed returns the error of the last handshake that failed, or nil.
func (h *tlsHandshake) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

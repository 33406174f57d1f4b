// Package redisstore is the Redis backend of store.Store, for several
// bgtask servers sharing one Redis: claims, leases, cancellation and the
// event log all go through it, each change one Lua script (atomic, one
// round trip) of a Redis Functions library (Redis 7.0 or later).
// docs/redis.md describes the key layout and what each key
// costs.
//
//	s, err := redisstore.New(ctx, "redis://localhost:6379/0", nil)
//
// Time: unless Config.Clock is set, every time the store writes and every
// lease age it judges is Redis' own TIME, read inside the scripts, so the
// servers' clocks need not agree.
//
// Errors: a call that cannot reach Redis (refused, timed out, Redis
// loading its AOF or busy) returns an error wrapping
// store.ErrUnavailable; every mutating call is safe to repeat. After
// Close every call returns store.ErrClosed.
package redisstore

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bgtask/bgtask/store"
	"github.com/redis/go-redis/v9"
)

// maxBatch caps the items of one script call: larger batches are sent as
// several calls (each atomic), so that no script holds Redis for long.
const maxBatch = 500

// luaFiles are the library's source files, joined in name order.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// library returns the Functions library the store loads and its name
// (library and function alike): a hash of its text, so that stores of
// different versions sharing one Redis each call their own code. It is
// built on first use, not at init: programs that link the store without
// opening one (bgtask run) pay nothing for it.
var library = sync.OnceValues(func() (string, string) {
	src, err := librarySource()
	if err != nil {
		panic(err) // embedded files: cannot fail
	}
	sum := sha1.Sum([]byte(src))
	name := "bgtask_" + hex.EncodeToString(sum[:6])
	return strings.ReplaceAll(src, "__LIBRARY__", name), name
})

// librarySource returns the library's source with __LIBRARY__ where its
// name goes.
func librarySource() (string, error) {
	names, err := fs.Glob(luaFiles, "lua/*.lua")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, n := range names { // Glob sorts
		src, err := luaFiles.ReadFile(n)
		if err != nil {
			return "", err
		}
		b.Write(src)
		b.WriteString("\n")
	}
	return b.String(), nil
}

// Store is a store.Store on Redis. It is safe for concurrent use; any
// number of Stores (in any number of processes) may share one Redis
// database and prefix.
type Store struct {
	rdb    *redis.Client
	cfg    Config
	closed atomic.Bool
	// header is the script's fixed arguments after OP and NOW: prefix,
	// log bounds and retention.
	logMax, logAge, retain string
}

var _ store.Store = (*Store)(nil)

// New connects to the Redis at url and returns a Store on it. url is
// redis://[user:password@]host:port/db or rediss://… (TLS); go-redis
// options may follow as query parameters (?dial_timeout=3s&pool_size=20),
// and ?prefix=P sets the key prefix when cfg does not. New refuses a URL
// without a host, with a parameter given twice, empty, unknown or out of
// its range (MaxPoolSize connections at most; docs/redis.md lists every
// parameter's range), before go-redis sees it; no error shows the
// password.
// New fails with an error wrapping store.ErrUnavailable, naming Redis'
// host:port (never the password), if Redis does not answer its first PING:
// one dial attempt of at most 2 s (less with ?dial_timeout), no retries,
// 5 s in all. It warns through cfg.Logger when Redis keeps nothing on
// disk. go-redis' own log lines (process-wide) go to cfg.Logger of the
// Store opened last, at debug level, instead of stderr.
func New(ctx context.Context, url string, cfg *Config) (*Store, error) {
	pu, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if pu.prefix != "" && (cfg == nil || cfg.Prefix == "") {
		pc := Config{}
		if cfg != nil {
			pc = *cfg
		}
		pc.Prefix = pu.prefix
		cfg = &pc
	}
	c, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	opts := pu.opts
	if opts.TLSConfig != nil && c.TLS != nil {
		tc := c.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = opts.TLSConfig.ServerName
		}
		if _, ok := pu.given["skip_verify"]; ok {
			tc.InsecureSkipVerify = opts.TLSConfig.InsecureSkipVerify
		}
		opts.TLSConfig = tc
	}
	// Calls end by their context's deadline (StoreTimeout, Stop's bound,
	// /healthz's 2 s), also while Redis does not answer: without this
	// go-redis waits out its own read timeout first.
	opts.ContextTimeoutEnabled = true
	routeRedisLog(c.Logger)
	probeOpts := *opts // before NewClient, which fills in opts' defaults
	s := &Store{
		rdb:    redis.NewClient(opts),
		cfg:    c,
		logMax: strconv.Itoa(c.LogMaxEvents),
		logAge: strconv.FormatInt(c.LogMaxAge.Microseconds(), 10),
		retain: strconv.FormatInt(c.Retention.Microseconds(), 10),
	}
	if err := s.probe(ctx, probeOpts); err != nil {
		s.rdb.Close()
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		s.rdb.Close()
		return nil, err
	}
	s.checkPersistence(ctx)
	return s, nil
}

// Purge deletes every key under the store's prefix (SCAN and UNLINK, a
// thousand at a time): every record, index, the event log and its Seq.
// The store is empty and usable afterwards. It is for tests and
// benchmarks that share a Redis; it is not atomic, so run it when no
// server uses the prefix. It returns how many keys it deleted.
func (s *Store) Purge(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	n := 0
	iter := s.rdb.Scan(ctx, 0, globEscaper.Replace(s.cfg.Prefix)+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
			return s.wrap(ctx, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, s.wrap(ctx, err)
	}
	return n, flush()
}

// globEscaper escapes the characters SCAN MATCH patterns give a meaning.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// Close closes the connections to Redis. Further calls return
// store.ErrClosed; a second Close does too.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return store.ErrClosed
	}
	return s.rdb.Close()
}

// now returns the NOW argument of a script: the configured clock in
// microseconds, or "" for Redis' TIME.
func (s *Store) now() string {
	if s.cfg.Clock == nil {
		return ""
	}
	return strconv.FormatInt(s.cfg.Clock.Now().UnixMicro(), 10)
}

// load loads the library (FUNCTION LOAD REPLACE: loading the same text
// twice is harmless).
func (s *Store) load(ctx context.Context) error {
	src, _ := library()
	if err := s.rdb.FunctionLoadReplace(ctx, src).Err(); err != nil {
		return s.wrap(ctx, err)
	}
	return nil
}

// run calls operation op of the library with args, loading the library
// again if Redis lost it (a restart without persistence, FUNCTION FLUSH).
func (s *Store) run(ctx context.Context, op string, args ...any) (any, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	argv := make([]any, 0, 6+len(args))
	argv = append(argv, op, s.cfg.Prefix, s.now(), s.logMax, s.logAge, s.retain)
	argv = append(argv, args...)
	_, name := library()
	res, err := s.rdb.FCall(ctx, name, nil, argv...).Result()
	if err != nil && strings.Contains(err.Error(), "Function not found") {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
		res, err = s.rdb.FCall(ctx, name, nil, argv...).Result()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap(ctx, err)
	}
	return res, nil
}

// runAll calls op once per argument list, all calls in one pipeline (one
// round trip; each call atomic on its own), and returns their results in
// order.
func (s *Store) runAll(ctx context.Context, op string, argss [][]any) ([]any, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	_, name := library()
	call := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(argss))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, args := range argss {
				argv := make([]any, 0, 6+len(args))
				argv = append(argv, op, s.cfg.Prefix, s.now(), s.logMax, s.logAge, s.retain)
				argv = append(argv, args...)
				cmds[i] = p.FCall(ctx, name, nil, argv...)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := call()
	if err != nil && strings.Contains(err.Error(), "Function not found") {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
		cmds, err = call()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.wrap(ctx, err)
	}
	out := make([]any, len(cmds))
	for i, c := range cmds {
		res, err := c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.wrap(ctx, err)
		}
		out[i] = res
	}
	return out, nil
}

// unavailableReplies are the error replies of a Redis that cannot serve
// now but may later.
var unavailableReplies = []string{"LOADING", "BUSY", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "NOREPLICAS"}

// wrap maps a client error: ErrClosed after Close, the context's error
// when ctx ended, a plain error for a reply the script refused, and
// ErrUnavailable for everything that says Redis cannot be reached or
// cannot serve now.
func (s *Store) wrap(ctx context.Context, err error) error {
	switch {
	case s.closed.Load() || errors.Is(err, redis.ErrClosed):
		return store.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		msg := reply.Error()
		for _, p := range unavailableReplies {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("%w: redis: %v", store.ErrUnavailable, err)
			}
		}
		return fmt.Errorf("redisstore: %v", err)
	}
	return fmt.Errorf("%w: redis: %v", store.ErrUnavailable, err)
}

// chunks calls fn on consecutive slices of n items of at most maxBatch.
func chunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += maxBatch {
		if err := fn(lo, min(lo+maxBatch, n)); err != nil {
			return err
		}
	}
	return nil
}

// checkURL refuses what go-redis would quietly default: a redis:// or
// rediss:// URL without a host (it would connect to localhost:6379,
// perhaps someone else's Redis) or with a database that is not a
// number from 0 up (-1 became database 0).
func checkURL(raw string) error {
	u, err := neturl.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil // go-redis' own error names the problem
	}
	if u.Hostname() == "" {
		return fmt.Errorf("redisstore: %s: no host (want redis://[user:pass@]HOST:PORT/DB)", RedactURL(raw))
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("redisstore: %s: invalid database %q (want a number from 0)", RedactURL(raw), db)
		}
	}
	return nil
}

// RedactURL returns raw, a store URL, for messages: as written, but with
// its password, if any, replaced by "xxxxx" (url.URL.Redacted, which
// also drops the "//" of a URL without a host).
func RedactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	return u.Redacted()
}

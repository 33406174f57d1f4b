package redisstore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
)

// TestURLOptionsRefused: every numeric and duration option of a store URL
// is range-checked, and a URL that says something twice, or nothing, or
// something go-redis would quietly read another way, is refused with one
// error naming the option, never a panic, never the password. New used
// to pass them to go-redis as they were: ?pool_size=-1 panicked
// (makechan: size out of range), ?pool_size=99999999999 panicked too,
// ?pool_size=1000000000 ran out of memory, ?dial_timeout=-1s failed every
// dial with a misleading "i/o timeout", ?max_retries=0 meant 3 retries,
// ?prefix=a&prefix=b took b, ?prefix=%00 made keys with a NUL in them,
// /0?db=3 took database 3, ?pool_size= took the default.
func TestURLOptionsRefused(t *testing.T) {
	t.Parallel()
	const base = "redis://:s3cret@127.0.0.1:1" // never dialled: refused before
	for _, tc := range []struct{ url, want string }{
		// Pool sizes and other counts.
		{"/0?pool_size=-1", "?pool_size=-1: out of range (want 1 to 10000 connections)"},
		{"/0?pool_size=99999999999", "?pool_size=99999999999: out of range"},
		{"/0?pool_size=1000000000", "?pool_size=1000000000: out of range"},
		{"/0?pool_size=99999999999999999999999", "?pool_size=99999999999999999999999: out of range"},
		{"/0?pool_size=0", "?pool_size=0: out of range"},
		{"/0?pool_size=10001", "?pool_size=10001: out of range"},
		{"/0?pool_size=ten", "?pool_size=ten: not a whole number"},
		{"/0?pool_size=", "empty ?pool_size="},
		{"/0?min_idle_conns=-1", "?min_idle_conns=-1: out of range (want 0 to 10000"},
		{"/0?max_idle_conns=-1", "?max_idle_conns=-1: out of range"},
		{"/0?max_active_conns=-1", "?max_active_conns=-1: out of range"},
		{"/0?max_active_conns=20000", "?max_active_conns=20000: out of range"},
		{"/0?max_concurrent_dials=0", "?max_concurrent_dials=0: out of range"},
		{"/0?pipeline_pool_size=-2", "?pipeline_pool_size=-2: out of range (want 1 to 10000 connections, or -1 for no pipeline pool)"},
		{"/0?pipeline_pool_size=0", "?pipeline_pool_size=0: out of range"},
		{"/0?pipeline_read_buffer_size=-1", "?pipeline_read_buffer_size=-1: out of range (want 4096 to 1048576 bytes)"},
		{"/0?pipeline_write_buffer_size=1073741824", "?pipeline_write_buffer_size=1073741824: out of range"},
		{"/0?max_retries=-5", "?max_retries=-5: out of range (want 1 to 100 retries, or -1 for no retries)"},
		{"/0?max_retries=0", "?max_retries=0: out of range"}, // go-redis: 3 retries
		{"/0?max_retries=1000", "?max_retries=1000: out of range"},
		{"/0?protocol=4", "?protocol=4: out of range (want 2 to 3"},
		{"/0?protocol=1", "?protocol=1: out of range"},
		{"?db=-1", "?db=-1: out of range"},
		// Durations.
		{"/0?dial_timeout=-1s", "?dial_timeout=-1s: out of range (want 1ms to 5m0s)"},
		{"/0?dial_timeout=-1", "?dial_timeout=-1: out of range"},
		{"/0?dial_timeout=0", "?dial_timeout=0: out of range"},
		{"/0?dial_timeout=1ns", "?dial_timeout=1ns: out of range"},
		{"/0?dial_timeout=99999999999999", "?dial_timeout=99999999999999: out of range"},
		{"/0?dial_timeout=abc", "?dial_timeout=abc: not a duration"},
		{"/0?read_timeout=0", "?read_timeout=0: out of range (want 1ms to 1h0m0s, or -1 for no timeout)"},
		{"/0?read_timeout=-2s", "?read_timeout=-2s: out of range"},
		{"/0?write_timeout=1ns", "?write_timeout=1ns: out of range"},
		{"/0?write_timeout=2h", "?write_timeout=2h: out of range"},
		{"/0?pool_timeout=-1", "?pool_timeout=-1: out of range (want 1ms to 1h0m0s)"},
		{"/0?min_retry_backoff=-5s", "?min_retry_backoff=-5s: out of range"},
		{"/0?max_retry_backoff=2m", "?max_retry_backoff=2m: out of range"},
		{"/0?conn_max_idle_time=0", "?conn_max_idle_time=0: out of range"},
		{"/0?idle_timeout=-3s", "?idle_timeout=-3s: out of range"},
		{"/0?conn_max_lifetime=1ms", "?conn_max_lifetime=1ms: out of range (want 1s to 168h0m0s, or -1 for no limit)"},
		{"/0?max_conn_age=0", "?max_conn_age=0: out of range"},
		{"/0?conn_max_lifetime_jitter=-1", "?conn_max_lifetime_jitter=-1: out of range"},
		// Options that contradict each other.
		{"/0?conn_max_lifetime_jitter=1s", "needs ?conn_max_lifetime="},
		{"/0?conn_max_lifetime=1m&conn_max_lifetime_jitter=2m", "jitter=2m0s is more than the lifetime 1m0s"},
		{"/0?min_idle_conns=20&pool_size=10", "?min_idle_conns=20 is more than ?pool_size=10"},
		{"/0?max_concurrent_dials=20&pool_size=10", "?max_concurrent_dials=20 is more than ?pool_size=10"},
		{"/0?pool_size=20&max_active_conns=10", "?pool_size=20 is more than ?max_active_conns=10"},
		{"/0?min_idle_conns=5&max_idle_conns=2", "?min_idle_conns=5 is more than ?max_idle_conns=2"},
		{"/0?min_retry_backoff=2s", "minimum retry backoff 2s is more than the maximum 1s"},
		{"/0?idle_timeout=1m&conn_max_idle_time=1m", "?conn_max_idle_time= and ?idle_timeout= are one option"},
		{"/0?db=3", "the database is given twice"},
		// Other values.
		{"/0?pool_fifo=yes", "?pool_fifo=yes: want true, false, 1 or 0"},
		{"/0?skip_verify=true", "?skip_verify= applies to rediss://"},
		{"/0?client_name=a%20b", "?client_name=: \"a b\": want printable ASCII"},
		// Given twice, unknown, malformed.
		{"/0?prefix=a&prefix=b", "?prefix= given 2 times"},
		{"/0?pool_size=5&pool_size=6", "?pool_size= given 2 times"},
		{"/0?bogus=1", `unknown option "bogus"`},
		{"/0?idle_check_frequency=1m", `unknown option "idle_check_frequency"`}, // not in this go-redis
		{"/0?pool_size=5;max_retries=1", "malformed query"},
		{"/0?pool_size=%zz", "malformed query"},
		{"/0#pool_size=5", "#fragment"},
		// Key prefixes.
		{"/0?prefix=%00", `?prefix=: the key prefix "\x00" holds a space, control or invisible character U+0000`},
		{"/0?prefix=a%0Ab", "U+000A"},
		{"/0?prefix=a%20b", "U+0020"},
		{"/0?prefix=%E2%80%8Bbgtask:", "U+200B"}, // zero-width space
		{"/0?prefix=%EF%B8%8F", "U+FE0F"},        // variation selector
		{"/0?prefix=%ff", "not valid UTF-8"},
		{"/0?prefix=" + strings.Repeat("p", 257), "257 bytes, want at most 256"},
		{"/0?prefix=", "empty ?prefix="},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			s, err := redisstore.New(t.Context(), base+tc.url, nil)
			if err == nil {
				s.Close()
				t.Fatalf("New(%s) succeeded, want an error", tc.url)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("New(%s) = %v\nwant it to say %q", tc.url, err, tc.want)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("New(%s) = %v: the password shows", tc.url, err)
			}
			if errors.Is(err, store.ErrUnavailable) {
				t.Errorf("New(%s) = %v: a mistake in the URL, not an unavailable Redis", tc.url, err)
			}
		})
	}
}

// TestURLOptionsAccepted: the bounds of every option, and -1 where
// go-redis gives it a meaning, are accepted and the store works.
func TestURLOptionsAccepted(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{Args: []string{"--requirepass", "s3cret"}})
	base := "redis://:s3cret@" + srv.Addr()
	for _, q := range []string{
		"/0?pool_size=1",
		"/0?pool_size=10000&max_concurrent_dials=10000&max_active_conns=10000",
		"/0?min_idle_conns=2&max_idle_conns=3&pool_size=4&max_active_conns=8",
		"/0?max_retries=-1&min_retry_backoff=-1&max_retry_backoff=-1s",
		"/0?max_retries=100&min_retry_backoff=1ms&max_retry_backoff=1m",
		"/0?dial_timeout=3&read_timeout=-1&write_timeout=-1s&pool_timeout=1h",
		"/0?dial_timeout=5m&read_timeout=1s&write_timeout=1h&pool_timeout=50ms",
		"/0?conn_max_idle_time=-1&conn_max_lifetime=-1",
		"/0?idle_timeout=1s&max_conn_age=168h",
		"/0?conn_max_lifetime=1h&conn_max_lifetime_jitter=1m",
		"/0?pipeline_pool_size=-1",
		"/0?pipeline_pool_size=10000&pipeline_read_buffer_size=4096&pipeline_write_buffer_size=1048576",
		"/0?protocol=2&client_name=bgtask-1&pool_fifo=true",
		"?db=2&protocol=3&pool_fifo=0",
		"/0?prefix=t%C3%A2ches:{x}",
		"/0?prefix=" + strings.Repeat("p", 256),
	} {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, base+q, nil)
			if _, err := s.Counts(t.Context()); err != nil {
				t.Fatalf("Counts on %s: %v", q, err)
			}
		})
	}
}

// TestConfigPrefixChecked: Config.Prefix follows the rules of ?prefix=.
func TestConfigPrefixChecked(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"a\x00", "bg task:", "\u200bbgtask:", "\xff", strings.Repeat("p", 257)} {
		s, err := redisstore.New(t.Context(), "redis://127.0.0.1:1/0", &redisstore.Config{Prefix: p})
		if err == nil {
			s.Close()
			t.Fatalf("New with Config.Prefix %q succeeded, want an error", p)
		}
		if !strings.Contains(err.Error(), "Config.Prefix") {
			t.Errorf("New with Config.Prefix %q = %v, want it to name Config.Prefix", p, err)
		}
	}
}

// TestURLErrorsHidePassword: no error of New shows the URL's password: a
// URL url.Parse refuses (its error quotes the whole URL; an escape error
// quotes part of it), an option refused, a Redis that cannot be reached.
func TestURLErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30e9)
	defer cancel()
	for _, url := range []string{
		"redis://:s3cret@127.0.0.1:bad port/0",
		"redis://:s3cret@127.0.0.1:1\x7f/0",
		"redis://user:s3cret%zz@127.0.0.1:1/0",
		"redis://:s3cret@127.0.0.1:1/0?pool_size=-1",
		"redis://:s3cret@127.0.0.1:1/abc",
		"redis://:s3cret@/0",
		"redis://:s3cret@127.0.0.1:1/0?dial_timeout=50ms",
		"rediss://:s3cret@127.0.0.1:1/0?dial_timeout=50ms",
	} {
		s, err := redisstore.New(ctx, url, nil)
		if err == nil {
			s.Close()
			t.Fatalf("New(%q) succeeded, want an error", url)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "%zz") {
			t.Errorf("New(%q) = %v: the password shows", url, err)
		}
	}
}

// TestTLSToAPlainRedis: a rediss:// URL on a Redis that does not speak TLS
// says that the TLS handshake did not complete and suggests redis://; it
// used to say only "context deadline exceeded", as for a host that does
// not answer. A certificate the client does not trust is named as such,
// without the suggestion.
func TestTLSToAPlainRedis(t *testing.T) {
	t.Parallel()
	plain := redistest.Start(t, nil)
	_, err := redisstore.New(t.Context(), "rediss://"+plain.Addr()+"/0", nil)
	if err == nil || !strings.Contains(err.Error(), "TLS handshake did not complete") || !strings.Contains(err.Error(), "use redis:// instead of rediss://") {
		t.Fatalf("rediss:// to a plain Redis: %v\nwant the TLS handshake named and redis:// suggested", err)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("rediss:// to a plain Redis: %v, want it to wrap store.ErrUnavailable", err)
	}

	secure := redistest.Start(t, &redistest.Options{TLS: true})
	_, err = redisstore.New(t.Context(), secure.URL(0), nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "redis://") {
		t.Fatalf("rediss:// with an untrusted certificate: %v\nwant the certificate named, no redis:// suggestion", err)
	}
	// The handshake dialer keeps what the URL and Config say: the
	// caller's roots, and ?skip_verify= on top of Config.TLS.
	for _, tc := range []struct {
		url string
		cfg *redisstore.Config
	}{
		{secure.URL(0), &redisstore.Config{TLS: &tls.Config{RootCAs: secure.RootCAs()}}},
		{secure.URL(0) + "?skip_verify=true", nil},
		{secure.URL(0) + "?skip_verify=true", &redisstore.Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}},
	} {
		s := newStore(t, tc.url, tc.cfg)
		if _, err := s.Counts(t.Context()); err != nil {
			t.Fatalf("Counts on %s: %v", tc.url, err)
		}
	}
}

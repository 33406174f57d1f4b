package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestOpenStoreURLErrors: a store URL that cannot be parsed, or whose
// options are refused, fails OpenStore with one error that names the
// problem and not the password. url.Parse's error used to be printed as
// it is, quoting the whole URL with its password, and ?pool_size=-1
// panicked in go-redis.
func TestOpenStoreURLErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"redis://:s3cret@127.0.0.1:bad port/0", "cannot parse the store URL"},
		{"redis://:s3cret@127.0.0.1:1/0?pool_size=-1", "?pool_size=-1: out of range (want 1 to 10000 connections)"},
		{"rediss://:s3cret@127.0.0.1:1/0?pool_size=99999999999", "?pool_size=99999999999: out of range"},
		{"REDIS://:s3cret@127.0.0.1:1/0?dial_timeout=-1s", "?dial_timeout=-1s: out of range"},
		{"http://:s3cret@127.0.0.1:1/0", "want redis://HOST:PORT/DB"},
	} {
		_, _, err := OpenStore(t.Context(), tc.url, "", nil)
		if err == nil {
			t.Fatalf("OpenStore(%s) succeeded, want an error", tc.url)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "s3cret") {
			t.Errorf("OpenStore(%s) = %v\nwant it to say %q, without the password", tc.url, err, tc.want)
		}
	}
}

// TestOpenStoreRedisWarnsDataDirIgnored: with a Redis URL, a data
// directory (serve passes one only when --data-dir is given) is not
// used, and OpenStore says so: it used to be ignored without a word.
func TestOpenStoreRedisWarnsDataDirIgnored(t *testing.T) {
	t.Parallel()
	for _, dataDir := range []string{"/tmp/x", ""} {
		var log bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&log, nil))
		// Refused before any dial: the warning comes first.
		_, _, err := OpenStore(t.Context(), "redis://127.0.0.1:1/0?pool_size=0", dataDir, logger)
		if err == nil {
			t.Fatal("OpenStore succeeded, want an error")
		}
		warned := strings.Contains(log.String(), "level=WARN") && strings.Contains(log.String(), "--data-dir is ignored") &&
			strings.Contains(log.String(), "data_dir=/tmp/x")
		if warned != (dataDir != "") {
			t.Errorf("--data-dir %q with a Redis store: log %q, want a warning that it is ignored: %v", dataDir, log.String(), dataDir != "")
		}
	}
}

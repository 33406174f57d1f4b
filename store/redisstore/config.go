package redisstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// Defaults of Config.
const (
	// DefaultPrefix starts every key the store writes.
	DefaultPrefix = "bgtask:"
	// DefaultLogMaxEvents bounds the event log's length.
	DefaultLogMaxEvents = 100_000
	// DefaultLogMaxAge bounds the age of event log entries.
	DefaultLogMaxAge = 24 * time.Hour
	// DefaultRetention is how long finished records are kept at most,
	// whatever the manager's janitor does.
	DefaultRetention = 7 * 24 * time.Hour
)

// Config configures a Store. The zero value (or nil) means every default.
type Config struct {
	// Prefix starts every key (default DefaultPrefix): valid UTF-8 of at
	// most MaxPrefixLen bytes without spaces, control characters or
	// invisible ones (format characters such as a zero-width space, and
	// the other default-ignorable code points). Two stores with
	// different prefixes on one Redis database do not see each other. A
	// prefix with a hash tag ("{bgtask}:") puts every key in one Redis
	// Cluster slot.
	Prefix string
	// Clock, if set, is the store's clock: every time the store writes
	// and every lease age it judges comes from it, so every instance
	// sharing the data must use the same one (tests use a fake). Nil, the
	// default, means Redis' own TIME, read inside each script, so that
	// servers whose clocks disagree still agree on lease ages.
	Clock clock.Clock
	// LogMaxEvents bounds the event log's length in entries (default
	// DefaultLogMaxEvents). Each entry costs about 150 bytes.
	LogMaxEvents int
	// LogMaxAge bounds the age of event log entries (default
	// DefaultLogMaxAge).
	LogMaxAge time.Duration
	// Retention is how long a finished record is kept at most (default
	// DefaultRetention; negative: until DeleteFinished removes it). Every
	// Insert and Finish deletes up to twice as many records past it as
	// it writes, so Redis' memory stays bounded even if no janitor runs;
	// the manager's janitor (DeleteFinished) may delete sooner.
	Retention time.Duration
	// TLS configures the connections of a rediss:// URL (nil: the
	// system's roots, the server name from the URL). It is ignored for
	// redis:// URLs.
	TLS *tls.Config
	// Logger receives the store's warnings (persistence off, a Redis it
	// cannot reach at start); nil discards them.
	Logger *slog.Logger
}

// resolved returns c with its defaults filled in.
func (c *Config) resolved() (Config, error) {
	var r Config
	if c != nil {
		r = *c
	}
	if r.Prefix == "" {
		r.Prefix = DefaultPrefix
	}
	if err := checkPrefix(r.Prefix); err != nil {
		return r, fmt.Errorf("redisstore: Config.Prefix: %v", err)
	}
	switch {
	case r.LogMaxEvents < 0:
		return r, fmt.Errorf("redisstore: Config.LogMaxEvents %d is negative", r.LogMaxEvents)
	case r.LogMaxEvents == 0:
		r.LogMaxEvents = DefaultLogMaxEvents
	}
	switch {
	case r.LogMaxAge < 0:
		return r, fmt.Errorf("redisstore: Config.LogMaxAge %v is negative", r.LogMaxAge)
	case r.LogMaxAge == 0:
		r.LogMaxAge = DefaultLogMaxAge
	}
	switch {
	case r.Retention < 0:
		r.Retention = 0
	case r.Retention == 0:
		r.Retention = DefaultRetention
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

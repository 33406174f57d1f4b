package redisstore

import (
	"errors"
	"fmt"
	"maps"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/bgtask/bgtask/internal/invisible"
)

// The store URL's query parameters. go-redis' ParseURL accepts them
// without looking at their values (a negative pool size panics in
// NewClient, a huge one runs out of memory, -1s as a dial timeout fails
// every dial), takes the last of a parameter given twice and reads an
// empty value as the default; parseURL checks each one first, against
// the bounds below, which docs/redis.md lists.

// MaxPoolSize bounds ?pool_size= and the other connection counts of a
// store URL.
const MaxPoolSize = 10_000

// MaxPrefixLen bounds the key prefix (Config.Prefix, ?prefix=) in bytes.
const MaxPrefixLen = 256

// optKind is the type of a URL option's value.
type optKind int

const (
	optInt optKind = iota
	optDuration
	optBool
	optName
)

// urlOption describes one query parameter: its type, the range of its
// values and whether -1 has a meaning of its own (off: what it means).
type urlOption struct {
	kind   optKind
	lo, hi int64 // optInt: the value; optDuration: nanoseconds
	off    string
	unit   string // optInt: what the number counts
}

// urlOptions are the query parameters New accepts: prefix (the store's
// own) and go-redis' (options.go, setupConnParams, of the pinned
// version), each with its bounds. A parameter go-redis adds in a later
// version is refused until it is listed here.
var urlOptions = map[string]urlOption{
	"db":                         {kind: optInt, lo: 0, hi: 1<<31 - 1, unit: "database number"},
	"protocol":                   {kind: optInt, lo: 2, hi: 3, unit: "RESP version"},
	"client_name":                {kind: optName},
	"max_retries":                {kind: optInt, lo: 1, hi: 100, off: "no retries", unit: "retries"},
	"min_retry_backoff":          {kind: optDuration, lo: int64(time.Millisecond), hi: int64(time.Minute), off: "no backoff"},
	"max_retry_backoff":          {kind: optDuration, lo: int64(time.Millisecond), hi: int64(time.Minute), off: "no backoff"},
	"dial_timeout":               {kind: optDuration, lo: int64(time.Millisecond), hi: int64(5 * time.Minute)},
	"read_timeout":               {kind: optDuration, lo: int64(time.Millisecond), hi: int64(time.Hour), off: "no timeout"},
	"write_timeout":              {kind: optDuration, lo: int64(time.Millisecond), hi: int64(time.Hour), off: "no timeout"},
	"pool_fifo":                  {kind: optBool},
	"pool_size":                  {kind: optInt, lo: 1, hi: MaxPoolSize, unit: "connections"},
	"pool_timeout":               {kind: optDuration, lo: int64(time.Millisecond), hi: int64(time.Hour)},
	"min_idle_conns":             {kind: optInt, lo: 0, hi: MaxPoolSize, unit: "connections"},
	"max_idle_conns":             {kind: optInt, lo: 0, hi: MaxPoolSize, unit: "connections"},
	"max_active_conns":           {kind: optInt, lo: 0, hi: MaxPoolSize, unit: "connections"},
	"max_concurrent_dials":       {kind: optInt, lo: 1, hi: MaxPoolSize, unit: "dials"},
	"pipeline_pool_size":         {kind: optInt, lo: 1, hi: MaxPoolSize, off: "no pipeline pool", unit: "connections"},
	"pipeline_read_buffer_size":  {kind: optInt, lo: 4 << 10, hi: 1 << 20, unit: "bytes"},
	"pipeline_write_buffer_size": {kind: optInt, lo: 4 << 10, hi: 1 << 20, unit: "bytes"},
	"conn_max_idle_time":         {kind: optDuration, lo: int64(time.Second), hi: int64(7 * 24 * time.Hour), off: "never closed for idleness"},
	"idle_timeout":               {kind: optDuration, lo: int64(time.Second), hi: int64(7 * 24 * time.Hour), off: "never closed for idleness"},
	"conn_max_lifetime":          {kind: optDuration, lo: int64(time.Second), hi: int64(7 * 24 * time.Hour), off: "no limit"},
	"max_conn_age":               {kind: optDuration, lo: int64(time.Second), hi: int64(7 * 24 * time.Hour), off: "no limit"},
	"conn_max_lifetime_jitter":   {kind: optDuration, lo: int64(time.Millisecond), hi: int64(7 * 24 * time.Hour)},
	"skip_verify":                {kind: optBool},
	"prefix":                     {kind: optName}, // checked by checkPrefix
}

// aliases are pairs of parameters go-redis reads as one option.
var aliases = [][2]string{
	{"conn_max_idle_time", "idle_timeout"},
	{"conn_max_lifetime", "max_conn_age"},
}

// parsedURL is a store URL checked and parsed.
type parsedURL struct {
	opts   *redis.Options
	prefix string            // ?prefix=, "" if not given
	given  map[string]string // the query parameters, one value each
}

// parseURL checks raw, a store URL, and parses it for go-redis. Every
// error names the URL without its password (RedactURL).
func parseURL(raw string) (*parsedURL, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: cannot parse the store URL: %s", parseErrorText(err))
	}
	where := RedactURL(raw)
	fail := func(format string, a ...any) error {
		return fmt.Errorf("redisstore: %s: %s", where, fmt.Sprintf(format, a...))
	}
	if err := checkURL(raw); err != nil {
		return nil, err
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, fail("a #fragment has no meaning in a store URL")
	}
	q, err := neturl.ParseQuery(u.RawQuery)
	if err != nil {
		// url.Values drops what it cannot parse; go-redis would ignore it.
		return nil, fail("malformed query: %s", parseErrorText(err))
	}
	given := make(map[string]string, len(q))
	names := slices.Sorted(maps.Keys(q))
	var unknown []string
	for _, name := range names {
		vs := q[name]
		if len(vs) > 1 {
			return nil, fail("?%s= given %d times (give each option once)", name, len(vs))
		}
		if _, ok := urlOptions[name]; !ok {
			unknown = append(unknown, strconv.Quote(name))
			continue
		}
		if vs[0] == "" {
			return nil, fail("empty ?%s= (leave it out for the default)", name)
		}
		given[name] = vs[0]
	}
	if len(unknown) > 0 {
		return nil, fail("unknown option %s (docs/redis.md lists the accepted ones)", strings.Join(unknown, ", "))
	}
	for _, a := range aliases {
		if _, ok := given[a[0]]; ok {
			if _, ok := given[a[1]]; ok {
				return nil, fail("?%s= and ?%s= are one option: give one of them", a[0], a[1])
			}
		}
	}
	if _, ok := given["db"]; ok && strings.Trim(u.Path, "/") != "" {
		return nil, fail("the database is given twice, in the path (%s) and as ?db=: give it once", u.Path)
	}
	if _, ok := given["skip_verify"]; ok && u.Scheme != "rediss" {
		return nil, fail("?skip_verify= applies to rediss:// (TLS) URLs only")
	}
	ints := map[string]int64{}
	durs := map[string]time.Duration{}
	for _, name := range names {
		v, ok := given[name]
		if !ok {
			continue
		}
		o := urlOptions[name]
		switch {
		case name == "prefix":
			if err := checkPrefix(v); err != nil {
				return nil, fail("?prefix=: %v", err)
			}
		case o.kind == optBool:
			if v != "true" && v != "false" && v != "1" && v != "0" {
				return nil, fail("?%s=%s: want true, false, 1 or 0", name, v)
			}
		case o.kind == optName:
			if err := checkClientName(v); err != nil {
				return nil, fail("?%s=: %v", name, err)
			}
		case o.kind == optInt:
			n, err := checkInt(name, v, o)
			if err != nil {
				return nil, fail("%v", err)
			}
			ints[name] = n
		case o.kind == optDuration:
			d, err := checkDuration(name, v, o)
			if err != nil {
				return nil, fail("%v", err)
			}
			durs[name] = d
		}
	}
	if err := checkTogether(ints, durs); err != nil {
		return nil, fail("%v", err)
	}
	prefix := given["prefix"]
	if _, ok := q["prefix"]; ok {
		q.Del("prefix")
		u.RawQuery = q.Encode()
	}
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fail("%v", err) // not expected after the checks above
	}
	return &parsedURL{opts: opts, prefix: prefix, given: given}, nil
}

// parseErrorText is err, an error of url.Parse or url.ParseQuery, without
// the URL it quotes (which may hold a password) or the fragment of an
// escape (which may be part of one).
func parseErrorText(err error) string {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee neturl.EscapeError
	if errors.As(err, &ee) {
		return "malformed %-escape"
	}
	return err.Error()
}

// checkInt parses v, the value of integer option name, and checks it
// against o's range (and -1, if o gives it a meaning).
func checkInt(name, v string, o urlOption) (int64, error) {
	want := fmt.Sprintf("want %d to %d %s", o.lo, o.hi, o.unit)
	if o.off != "" {
		want += fmt.Sprintf(", or -1 for %s", o.off)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("?%s=%s: out of range (%s)", name, v, want)
		}
		return 0, fmt.Errorf("?%s=%s: not a whole number (%s)", name, v, want)
	}
	if n == -1 && o.off != "" {
		return n, nil
	}
	if n < o.lo || n > o.hi {
		return 0, fmt.Errorf("?%s=%s: out of range (%s)", name, v, want)
	}
	return n, nil
}

// checkDuration parses v, the value of duration option name, as go-redis
// does (a whole number is seconds, otherwise a Go duration such as 500ms)
// and checks it against o's range; -1 (or -1s), if o gives it a meaning,
// returns -1. go-redis reads every value from 0 down as -1: 0 and other
// negative values are refused here as ambiguous.
func checkDuration(name, v string, o urlOption) (time.Duration, error) {
	lo, hi := time.Duration(o.lo), time.Duration(o.hi)
	want := fmt.Sprintf("want %v to %v", lo, hi)
	if o.off != "" {
		want += fmt.Sprintf(", or -1 for %s", o.off)
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(hi/time.Second)+1 || n < -1 {
			return 0, fmt.Errorf("?%s=%s: out of range (%s; a plain number is seconds)", name, v, want)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("?%s=%s: not a duration (%s; a plain number is seconds)", name, v, want)
	}
	if d == -time.Second && o.off != "" {
		return -1, nil
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("?%s=%s: out of range (%s)", name, v, want)
	}
	return d, nil
}

// checkTogether refuses options that contradict each other (both given
// in the URL; a default is not held against an option).
func checkTogether(ints map[string]int64, durs map[string]time.Duration) error {
	type pair struct{ small, large string }
	for _, p := range []pair{
		{"min_idle_conns", "pool_size"},
		{"max_concurrent_dials", "pool_size"},
		{"min_idle_conns", "max_idle_conns"},
		{"pool_size", "max_active_conns"},
		{"min_idle_conns", "max_active_conns"},
	} {
		s, ok1 := ints[p.small]
		l, ok2 := ints[p.large]
		if ok1 && ok2 && l > 0 && s > l { // max_*=0: no limit
			return fmt.Errorf("?%s=%d is more than ?%s=%d", p.small, s, p.large, l)
		}
	}
	minB, ok1 := durs["min_retry_backoff"]
	maxB, ok2 := durs["max_retry_backoff"]
	if !ok1 {
		minB = 10 * time.Millisecond // go-redis' defaults
	}
	if !ok2 {
		maxB = time.Second
	}
	if (ok1 || ok2) && minB > 0 && maxB > 0 && minB > maxB {
		return fmt.Errorf("the minimum retry backoff %v is more than the maximum %v (?min_retry_backoff=, ?max_retry_backoff=; defaults 10ms and 1s)", minB, maxB)
	}
	if j, ok := durs["conn_max_lifetime_jitter"]; ok {
		life, ok := durs["conn_max_lifetime"]
		if !ok {
			life, ok = durs["max_conn_age"]
		}
		if !ok || life <= 0 {
			return errors.New("?conn_max_lifetime_jitter= needs ?conn_max_lifetime=")
		}
		if j > life {
			return fmt.Errorf("?conn_max_lifetime_jitter=%v is more than the lifetime %v", j, life)
		}
	}
	return nil
}

// checkClientName checks a ?client_name=: Redis' CLIENT SETNAME takes
// printable ASCII without spaces.
func checkClientName(v string) error {
	if len(v) > 128 {
		return fmt.Errorf("%d bytes, want at most 128", len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '!' || v[i] > '~' {
			return fmt.Errorf("%q: want printable ASCII without spaces", v)
		}
	}
	return nil
}

// checkPrefix reports why p cannot be a key prefix (Config.Prefix,
// ?prefix=), or nil: it must be valid UTF-8 of at most MaxPrefixLen bytes
// without spaces, control characters or invisible ones (Unicode format
// characters and the other default-ignorable code points), which would
// make keys that look alike in redis-cli and in logs differ.
func checkPrefix(p string) error {
	switch {
	case len(p) > MaxPrefixLen:
		return fmt.Errorf("the key prefix is %d bytes, want at most %d", len(p), MaxPrefixLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("the key prefix %q is not valid UTF-8", p)
	}
	for _, r := range p {
		if unicode.IsSpace(r) || unicode.IsControl(r) || invisible.Rune(r) {
			return fmt.Errorf("the key prefix %q holds a space, control or invisible character %U", p, r)
		}
	}
	return nil
}

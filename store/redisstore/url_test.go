package redisstore_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/bgtask/bgtask/store/storetest"
)

// TestURLs: the URL forms New accepts (database, password, user and
// password, TLS with the caller's roots) reach Redis and work; a wrong
// password, an untrusted certificate and a bad URL fail.
func TestURLs(t *testing.T) {
	t.Parallel()
	plain := redistest.Start(t, nil)
	auth := redistest.Start(t, &redistest.Options{Args: []string{"--requirepass", "s3cret"}})
	secure := redistest.Start(t, &redistest.Options{TLS: true})
	host := func(srv *redistest.Server) string { return srv.Addr() }
	for _, tc := range []struct {
		name, url string
		cfg       *redisstore.Config
		ok        bool
	}{
		{"database 3", plain.URL(3), nil, true},
		{"password", "redis://:s3cret@" + host(auth) + "/0", nil, true},
		{"user and password", "redis://default:s3cret@" + host(auth) + "/1", nil, true},
		{"wrong password", "redis://:nope@" + host(auth) + "/0", nil, false},
		{"TLS", secure.URL(0), &redisstore.Config{TLS: &tls.Config{RootCAs: secure.RootCAs()}}, true},
		{"TLS, untrusted certificate", secure.URL(0), nil, false},
		{"plain to a TLS port", "redis://" + host(secure) + "/0?max_retries=-1", nil, false},
		{"not a Redis URL", "http://" + host(plain), nil, false},
		{"no host", "redis://", nil, false},
		{"no host, a database", "redis:///0", nil, false},
		{"a port and no host", "redis://:" + strings.Split(host(plain), ":")[1] + "/0", nil, false},
		{"negative database", "redis://" + host(plain) + "/-1", nil, false},
		{"database not a number", "redis://" + host(plain) + "/abc", nil, false},
		{"empty prefix", plain.URL(5) + "?prefix=", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.New(t.Context(), tc.url, tc.cfg)
			if !tc.ok {
				if err == nil {
					s.Close()
					t.Fatalf("New(%s) succeeded, want an error", tc.url)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%s): %v", tc.url, err)
			}
			defer s.Close()
			r := storetest.NewRecord("job", "x")
			if _, err := s.Insert(t.Context(), []*store.Record{r}); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(t.Context(), r.ID); err != nil || got.Args[0] != "x" {
				t.Fatalf("Get = %+v, %v", got, err)
			}
		})
	}
	// The database in the URL is honoured: database 3 holds the record
	// above, database 4 does not.
	s := newStore(t, plain.URL(4), nil)
	if c, err := s.Counts(t.Context()); err != nil || c[store.Ongoing] != 0 {
		t.Fatalf("Counts on another database = %v, %v; want empty", c, err)
	}
	if err := s.Close(); err != nil || !errors.Is(s.Close(), store.ErrClosed) {
		t.Fatalf("Close twice: %v, then %v; want nil, ErrClosed", err, s.Close())
	}
}

// TestPrefixAndPurge: ?prefix= in the URL sets the key prefix; Purge
// deletes that prefix's keys only (glob characters in it are literal), and
// the store works again afterwards.
func TestPrefixAndPurge(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	a := newStore(t, srv.URL(0)+"?prefix=a*:", nil)
	b := newStore(t, srv.URL(0)+"?prefix=ab:", nil)
	for _, s := range []*redisstore.Store{a, b} {
		if _, err := s.Insert(t.Context(), []*store.Record{storetest.NewRecord("job")}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := a.Purge(t.Context())
	if err != nil || n == 0 {
		t.Fatalf("Purge = %d, %v; want the prefix's keys deleted", n, err)
	}
	for _, tc := range []struct {
		s    *redisstore.Store
		want int
	}{{a, 0}, {b, 1}} {
		if c, err := tc.s.Counts(t.Context()); err != nil || c[store.Ongoing] != tc.want {
			t.Fatalf("Counts after purging a*: = %v, %v; want %d ONGOING", c, err, tc.want)
		}
	}
	if page, err := a.ReadLog(t.Context(), 0, 10, 0); err != nil || page.Head != 0 {
		t.Fatalf("log after Purge = %+v, %v; want empty", page, err)
	}
	if _, err := a.Insert(t.Context(), []*store.Record{storetest.NewRecord("job")}); err != nil {
		t.Fatalf("Insert after Purge: %v", err)
	}
}

// TestRedactURL: messages show a store URL as written (a URL without a
// host lost its "//" through url.URL.Redacted: "redis:: no host"), with
// a password replaced.
func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://":                      "redis://",
		"redis:///0":                    "redis:///0",
		"redis://h:6379/0?prefix=p:":    "redis://h:6379/0?prefix=p:",
		"redis://:s3cret@h:6379/0":      "redis://:xxxxx@h:6379/0",
		"rediss://user:s3cret@h:6380/1": "rediss://user:xxxxx@h:6380/1",
	} {
		if got := redisstore.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	_, err := redisstore.New(t.Context(), "redis://", nil)
	if err == nil || !strings.Contains(err.Error(), "redis://: no host") {
		t.Fatalf("New(redis://) = %v, want the URL as written and no host", err)
	}
}

package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/bgtask/bgtask/store/storetest"
)

// prefixes numbers the stores of a test binary: each gets its own key
// prefix on a shared server, so that parallel tests never see each other.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("test%d:", prefixes.Add(1)) }

// open opens a store on srv under prefix with the suite's config and
// closes it when t ends.
func open(t *testing.T, srv *redistest.Server, prefix string, c storetest.Config) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(t.Context(), srv.URL(0), &redisstore.Config{
		Prefix: prefix, Clock: c.Clock, LogMaxEvents: c.LogMaxEvents, LogMaxAge: c.LogMaxAge,
	})
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// prefixOf remembers the prefix of every store the suite opened, for
// Reopen and NewPeer.
var prefixOf = map[store.Store]string{}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, nil)
	var mu = make(chan struct{}, 1)
	remember := func(s store.Store, p string) store.Store {
		mu <- struct{}{}
		prefixOf[s] = p
		<-mu
		return s
	}
	prefix := func(s store.Store) string {
		mu <- struct{}{}
		defer func() { <-mu }()
		return prefixOf[s]
	}
	storetest.RunWith(t, func(t *testing.T, c storetest.Config) store.Store {
		p := newPrefix()
		return remember(open(t, srv, p, c), p)
	}, &storetest.Options{
		Reopen: func(t *testing.T, s store.Store, c storetest.Config) store.Store {
			p := prefix(s)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return remember(open(t, srv, p, c), p)
		},
		NewPeer: func(t *testing.T, s store.Store, c storetest.Config) store.Store {
			p := prefix(s)
			return remember(open(t, srv, p, c), p)
		},
	})
}

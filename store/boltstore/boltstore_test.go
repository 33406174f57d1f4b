package boltstore_test

import (
	"testing"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// open opens a store at path and closes it when the test ends.
func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.New(path, nil)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openWith opens a store at path with the suite's config.
func openWith(t *testing.T, path string, c storetest.Config) *boltstore.Store {
	t.Helper()
	s, err := boltstore.New(path, &boltstore.Config{Clock: c.Clock, LogMaxEvents: c.LogMaxEvents, LogMaxAge: c.LogMaxAge})
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T, c storetest.Config) store.Store {
		return openWith(t, t.TempDir(), c)
	}, &storetest.Options{
		Reopen: func(t *testing.T, s store.Store, c storetest.Config) store.Store {
			path := s.(*boltstore.Store).Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Every file the suite leaves behind is sound, indexes and
			// counts included.
			if rep, err := boltstore.Check(path, 0); err != nil || !rep.OK() {
				t.Fatalf("Check after the suite's writes: %v\n%v", err, rep)
			}
			return openWith(t, path, c)
		},
	})
}

// Package storetest is the conformance suite of store.Store. Every backend
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunWith(t, func(t *testing.T, c storetest.Config) store.Store {
//			s, err := boltstore.New(t.TempDir(), &boltstore.Config{
//				Clock: c.Clock, LogMaxEvents: c.LogMaxEvents, LogMaxAge: c.LogMaxAge,
//			})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, &storetest.Options{Reopen: reopen})
//	}
//
// Each test gets a fresh, empty store from newStore and checks one part of
// the contract in store.Store's doc comments; names say which. The store's
// clock is a fake that the tests move, so lease ages, retention and the log
// window are tested without sleeps.
package storetest

import (
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// Config is what a backend under test must honour.
type Config struct {
	// Clock is the store's clock: every time the store writes and every
	// lease age it judges comes from it.
	Clock clock.Clock
	// LogMaxEvents bounds the event log's length (0: the backend's
	// default).
	LogMaxEvents int
	// LogMaxAge bounds the age of log entries (0: the backend's default).
	LogMaxAge time.Duration
}

// Options configure the suite.
type Options struct {
	// Reopen closes s and opens the same store again with c; the
	// durability tests run only when it is set. It must return a working
	// store holding everything s held.
	Reopen func(t *testing.T, s store.Store, c Config) store.Store
	// NewPeer opens a second, independent instance of the backend on the
	// same data as s (another server sharing it), with c. The
	// several-instance tests run only when it is set.
	NewPeer func(t *testing.T, s store.Store, c Config) store.Store
}

// Run runs the whole suite against the stores newStore returns; each call
// must return a new, empty store that newStore's test cleans up.
func Run(t *testing.T, newStore func(t *testing.T, c Config) store.Store) {
	RunWith(t, newStore, nil)
}

// env is one test's store and its clock.
type env struct {
	t     *testing.T
	s     store.Store
	clock *clock.Fake
	cfg   Config
	opts  Options
}

type test struct {
	name string
	fn   func(e *env)
	// log and age, if set, are the log bounds the test needs.
	log int
	age time.Duration
}

// RunWith is Run with options (nil: none).
func RunWith(t *testing.T, newStore func(t *testing.T, c Config) store.Store, opts *Options) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	var tests []test
	tests = append(tests, recordTests...)
	tests = append(tests, claimTests...)
	tests = append(tests, fencingTests...)
	tests = append(tests, lifecycleTests...)
	tests = append(tests, logTests...)
	tests = append(tests, serverTests...)
	if o.Reopen != nil {
		tests = append(tests, durabilityTests...)
	}
	if o.NewPeer != nil {
		tests = append(tests, peerTests...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(T0)
			c := Config{Clock: clk, LogMaxEvents: tc.log, LogMaxAge: tc.age}
			tc.fn(&env{t: t, s: newStore(t, c), clock: clk, cfg: c, opts: o})
		})
	}
}

// T0 is the start time of every test's fake clock.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// At returns T0 + d.
func At(d time.Duration) time.Time { return T0.Add(d) }

// NewID returns a new UUIDv7 string; IDs from one process increase.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// NewRecord returns a queued record of task name with a fresh ID.
func NewRecord(name string, args ...string) *store.Record {
	return &store.Record{
		ID:        NewID(),
		Name:      name,
		Args:      args,
		CreatedAt: T0,
		Priority:  store.PriorityNormal,
	}
}

// Owned returns a record of name to be inserted as already claimed by
// server owner in its life incarnation.
func Owned(name, owner, incarnation string) *store.Record {
	r := NewRecord(name)
	r.Owner = owner
	r.Incarnation = incarnation
	return r
}

// DiffRecord compares records, treating nil and empty slices as equal and
// times by Equal.
func DiffRecord(want, got *store.Record) string {
	return cmp.Diff(want, got, cmpEquateEmpty)
}

var cmpEquateEmpty = cmpopts.EquateEmpty()

// server is one claimer in a test: a server ID and an incarnation.
type server struct{ id, inc string }

func (sv server) params(limit int, names ...string) store.ClaimParams {
	return store.ClaimParams{Owner: sv.id, Incarnation: sv.inc, Names: names, Limit: limit, IdleLimit: limit}
}

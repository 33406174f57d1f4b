// Package storetest is the conformance suite of store.Store. Every backend
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunWith(t, func(t *testing.T) store.Store {
//			s, err := boltstore.New(t.TempDir(), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, &storetest.Options{Reopen: reopen})
//	}
//
// Each test gets a fresh, empty store from newStore and checks one part of
// the contract in store.Store's doc comments; names say which. Times are
// fixed values (T0 and offsets), never the wall clock, so the tests need
// no sleeps.
package storetest

import (
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// Options configure the suite.
type Options struct {
	// Reopen closes s and opens the same store again; the durability tests
	// run only when it is set. It must return a working store holding
	// everything s held.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the whole suite against the stores newStore returns; each call
// must return a new, empty store that newStore's test cleans up.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunWith(t, newStore, nil)
}

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// RunWith is Run with options (nil: none).
func RunWith(t *testing.T, newStore func(t *testing.T) store.Store, opts *Options) {
	t.Helper()
	var tests []test
	tests = append(tests, recordTests...)
	tests = append(tests, claimTests...)
	tests = append(tests, lifecycleTests...)
	tests = append(tests, messageTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
	if opts != nil && opts.Reopen != nil {
		for _, tc := range durabilityTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, newStore(t), opts.Reopen)
			})
		}
	}
}

// T0 is the base time of the suite's records.
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
		Priority:  "normal",
	}
}

// Owned returns a record of name already claimed by owner at hb, attempt 1.
func Owned(name, owner string, hb time.Time) *store.Record {
	r := NewRecord(name)
	r.Owner = owner
	r.Attempt = 1
	r.HeartbeatAt = hb
	r.StartedAt = hb
	return r
}

// DiffRecord compares records, treating nil and empty slices as equal and
// times by Equal.
func DiffRecord(want, got *store.Record) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

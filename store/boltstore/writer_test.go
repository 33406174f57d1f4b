package boltstore

import (
	"errors"
	"testing"

	"github.com/bgtask/bgtask/store"
)

func newOp(fn func(w *wtx) error) *op { return &op{fn: fn, done: make(chan struct{})} }

// TestBatchIsolatesFailures: when one operation breaks the transaction
// (a write error or a panic), the others of its batch still succeed, alone,
// and its own partial writes are rolled back.
func TestBatchIsolatesFailures(t *testing.T) {
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := func(id string) *store.Record { return &store.Record{ID: id, Name: "job"} }
	insert := func(id string) *op {
		return newOp(func(w *wtx) error { _, err := w.insert([]*store.Record{rec(id)}); return err })
	}
	broken := newOp(func(w *wtx) error {
		w.put(rec("partial"), nil)
		w.fail(errors.New("disk on fire"))
		return nil
	})
	panicking := newOp(func(*wtx) error { panic("bug") })
	logical := newOp(func(*wtx) error { return store.ErrNotOwner })
	batch := []*op{insert("a"), broken, insert("b"), panicking, logical, insert("c")}
	s.apply(batch)
	for i, o := range batch {
		<-o.done
		switch o {
		case broken, panicking:
			if o.err == nil {
				t.Errorf("op %d: no error, want the transaction's failure", i)
			}
		case logical:
			if !errors.Is(o.err, store.ErrNotOwner) {
				t.Errorf("op %d: %v, want its own ErrNotOwner", i, o.err)
			}
		default:
			if o.err != nil {
				t.Errorf("op %d: %v, want success", i, o.err)
			}
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Get(t.Context(), id); err != nil {
			t.Errorf("Get(%s): %v", id, err)
		}
	}
	if _, err := s.Get(t.Context(), "partial"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed operation's write survived: %v", err)
	}
	if c, _ := s.Counts(t.Context()); c[store.Ongoing] != 3 {
		t.Errorf("Counts = %v, want 3 ONGOING", c)
	}
}

package bgtask

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store/boltstore"
)

// TestReaderPassesManyHiddenEvents: a reader whose next events in the
// tail's memory are more than one read batch (256) of events it does not
// deliver (the enqueued events of 300 queued submissions), followed by a
// cancelled event, gets the cancelled event at once. It waited for the
// tail to read something more, although the tail had already read what
// the reader was after: a subscriber to a server whose running tasks do
// not end got nothing (TestManagersShareWork in store/redisstore, where
// every queued record has its own enqueued event, failed that way).
func TestReaderPassesManyHiddenEvents(t *testing.T) {
	t.Parallel()
	st, err := boltstore.New(filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	reg := NewRegistry()
	reg.MustAdd(Definition{Name: "hold", Run: func(ctx context.Context, _ *Task) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}})
	m, err := NewManager(&Config{Registry: reg, Store: st, MaxWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
		st.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The one worker slot is taken: every later submission is queued.
	if _, err := m.Submit(ctx, "hold", nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("no task started")
	}
	r, err := m.Follow(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for range 300 {
		if last, err = m.Submit(ctx, "hold", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Cancel(ctx, last); err != nil {
		t.Fatal(err)
	}
	// Wait until the tail holds everything the store has.
	page, err := st.ReadLog(ctx, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for m.tail.position() < page.Head {
		select {
		case <-ctx.Done():
			t.Fatalf("the tail is at %d, the store's log at %d", m.tail.position(), page.Head)
		case <-time.After(time.Millisecond):
		}
	}
	next, cancelNext := context.WithTimeout(ctx, 10*time.Second)
	defer cancelNext()
	evs, err := r.Next(next)
	if err != nil {
		t.Fatalf("Next: %v (the cancelled event is in the tail's memory)", err)
	}
	if evs[0].Kind != EventCancelled || evs[0].TaskID != last {
		t.Fatalf("first event %+v, want %s cancelled", evs[0], last)
	}
}

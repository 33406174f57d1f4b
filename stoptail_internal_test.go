package bgtask

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// slowFirstRead makes the event tail's first read at Start wait until its
// context ends: the tail is never followed. That read asks for the head
// (one entry after 0) with a context that can end (the manager's); the
// test's Follow asks the same with context.Background() and may come
// first on a loaded machine: it is let through (held, for ever, it hung
// the package's tests under go test -race -count=3), as are the readers'
// reads after Stop (1000 entries).
type slowFirstRead struct {
	store.Store
	held atomic.Bool
}

func (s *slowFirstRead) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	if limit == 1 && ctx.Done() != nil && s.held.CompareAndSwap(false, true) {
		<-ctx.Done()
		return store.LogPage{}, ctx.Err()
	}
	return s.Store.ReadLog(ctx, after, limit, wait)
}

// A reader gets the outcome written at Stop even when the event tail was
// never followed (its first read had not answered, so its drain at Stop
// had nothing to go on): the reader and the SSE frames said ErrStopped
// without reading the log once more (TestReaderGetsTheOutcomeWrittenAtStop
// failed 1 round in 60 on a loaded machine).
func TestReadersGetTheOutcomeWhenTheTailWasNeverFollowed(t *testing.T) {
	t.Parallel()
	for _, frames := range []bool{false, true} {
		bolt, err := boltstore.New(filepath.Join(t.TempDir(), "b.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st := &slowFirstRead{Store: bolt}
		entered := make(chan struct{}, 1)
		reg := NewRegistry()
		reg.MustAdd(Definition{Name: "until-stop", Run: func(ctx context.Context, _ *Task) error {
			entered <- struct{}{}
			<-ctx.Done()
			return nil
		}})
		m, err := NewManager(&Config{Registry: reg, Store: st, TimeoutGrace: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		id, err := m.Submit(context.Background(), "until-stop", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			t.Fatal("the run did not start")
		}
		r, err := m.Follow(context.Background(), &SubscribeOpts{})
		if err != nil {
			t.Fatal(err)
		}
		stopped, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Stop(stopped); err != nil {
			t.Fatal(err)
		}
		ctx, cancelRead := context.WithTimeout(context.Background(), 20*time.Second)
		var got string
		for range 100 {
			if frames {
				b, err := r.appendFrames(ctx, nil, 1<<20, nil)
				got += string(b)
				if err != nil {
					if !errors.Is(err, ErrStopped) {
						t.Errorf("frames: %v, want ErrStopped at the end", err)
					}
					break
				}
				continue
			}
			evs, err := r.Next(ctx)
			for _, ev := range evs {
				if ev.TaskID == id {
					got += string(ev.Kind) + " "
				}
			}
			if err != nil {
				if !errors.Is(err, ErrStopped) {
					t.Errorf("Next: %v, want ErrStopped at the end", err)
				}
				break
			}
		}
		cancelRead()
		if want := "event: done"; frames && !strings.Contains(got, want) || !frames && !strings.Contains(got, "done") {
			t.Errorf("frames=%v: read %q before the end, want the outcome (done)", frames, got)
		}
		bolt.Close()
	}
}

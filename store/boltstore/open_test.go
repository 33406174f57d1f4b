package boltstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/storetest"
	bolt "go.etcd.io/bbolt"
)

func TestNewPaths(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, dir)
	if want := filepath.Join(dir, boltstore.DefaultFileName); s.Path() != want {
		t.Fatalf("Path() = %q, want %q", s.Path(), want)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v; want mode 0700", fi, err)
	}
	file := filepath.Join(t.TempDir(), "sub", "tasks.db")
	if s := open(t, file); s.Path() != file {
		t.Fatalf("Path() = %q, want %q", s.Path(), file)
	}
	if !s.Exclusive() {
		t.Fatal("Exclusive() = false, want true")
	}
}

func TestNewBadDataDir(t *testing.T) {
	t.Parallel()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := boltstore.New(filepath.Join(notDir, "data"), nil)
	if err == nil || !strings.Contains(err.Error(), "create data directory") {
		t.Fatalf("New under a regular file: %v, want a data directory error", err)
	}
}

func TestNewLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := open(t, dir)
	start := time.Now()
	_, err := boltstore.New(dir, &boltstore.Config{LockTimeout: 200 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second New of a locked file: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), first.Path()) {
		t.Fatalf("lock error %q does not name the file", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("New took %v to report a locked file, want about the 200ms lock timeout", elapsed)
	}
	// Once the holder closes, the file opens.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
}

func TestNewCorruptFile(t *testing.T) {
	t.Parallel()
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i>>8)
	}
	for name, content := range map[string][]byte{
		"garbage":   garbage,
		"truncated": []byte("not a bolt file"),
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "x.db")
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.New(file, nil)
			if err == nil {
				s.Close()
				t.Fatal("New of a corrupt file succeeded")
			}
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestNewForeignDatabase(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(file, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("records"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := boltstore.New(file, nil); err == nil || !strings.Contains(err.Error(), "format") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("New of a bbolt file of another program: %v, want a format error", err)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg   boltstore.Config
		field string
	}{
		{boltstore.Config{LockTimeout: -1}, "LockTimeout"},
		{boltstore.Config{SubscriberBuffer: -1}, "SubscriberBuffer"},
		{boltstore.Config{MaxBatch: -1}, "MaxBatch"},
		{boltstore.Config{MmapSize: -1}, "MmapSize"},
	} {
		_, err := boltstore.New(t.TempDir(), &tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

func TestSubscribeEndsWithContext(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	ch, stop := s.Subscribe(ctx)
	defer stop()
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("message on an idle subscription")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not close the subscription")
	}
}

func TestSeqIncreasesAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := boltstore.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Publish more than a second's worth of microseconds at once, so that
	// only the stored last number keeps the order.
	var last uint64
	for range 3 {
		last, err = s.Publish(t.Context(), store.Message{Kind: store.MsgEvent})
		if err != nil {
			t.Fatal(err)
		}
	}
	if now := uint64(time.Now().UnixMicro()); last > now+10 || last+10_000_000 < now {
		t.Fatalf("seq %d is not near the Unix time in microseconds %d", last, now)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	next, err := s.Publish(t.Context(), store.Message{Kind: store.MsgEvent})
	if err != nil || next <= last {
		t.Fatalf("first seq after reopen = %d, %v; want above %d", next, err, last)
	}
}

// TestFileSizeBoundedByRetention runs many generations of tasks through
// insert, claim, finish and retention and checks that the file stops
// growing: freed pages are reused.
func TestFileSizeBoundedByRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 records")
	}
	t.Parallel()
	s := open(t, t.TempDir())
	ctx := t.Context()
	var sizes []int64
	for gen := range 20 {
		recs := make([]*store.Record, 1000)
		for i := range recs {
			recs[i] = storetest.NewRecord("job", strings.Repeat("x", 100))
		}
		if _, err := s.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		now := storetest.At(time.Duration(gen) * time.Minute)
		for {
			cl, err := s.Claim(ctx, store.ClaimParams{Owner: "s", Names: []string{"job"}, Limit: 100, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if len(cl) == 0 {
				break
			}
			var wg sync.WaitGroup
			for _, c := range cl {
				wg.Go(func() {
					if _, err := s.Finish(ctx, "s", c.Record.ID, store.Completion{State: store.Success, FinishedAt: now}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		// Keep the last two generations.
		if _, err := s.DeleteFinished(ctx, now.Add(-time.Minute), 100_000); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	// A page or two of slack: the freelist is not a perfect fit.
	if early, late := sizes[7], sizes[len(sizes)-1]; late > early+early/20 {
		t.Fatalf("file grew from %d bytes (generation 8) to %d (generation 20) with constant live data; sizes %v", early, late, sizes)
	}
}

// TestStopWhileOverflowing stops subscriptions whose overflow queue is
// being pumped into the channel, racing the pump.
func TestStopWhileOverflowing(t *testing.T) {
	t.Parallel()
	s, err := boltstore.New(t.TempDir(), &boltstore.Config{SubscriberBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		ch, stop := s.Subscribe(t.Context())
		for range 100 {
			if _, err := s.Publish(t.Context(), store.Message{Kind: store.MsgEvent}); err != nil {
				t.Fatal(err)
			}
		}
		for range i % 10 {
			<-ch
		}
		stop()
		for range ch { // drains what was buffered, then ends
		}
	}
}

// TestDeleteFinishedInChunks deletes more records than one transaction
// takes: the count is exact and ONGOING records stay.
func TestDeleteFinishedInChunks(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	ctx := t.Context()
	recs := make([]*store.Record, 2500)
	for i := range recs {
		recs[i] = storetest.NewRecord("job")
	}
	if _, err := s.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range recs[:2300] {
		wg.Go(func() {
			if _, err := s.Finish(ctx, "", r.ID, store.Completion{State: store.Success, FinishedAt: storetest.At(0)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, err := s.DeleteFinished(ctx, storetest.At(time.Second), 2100); err != nil || n != 2100 {
		t.Fatalf("DeleteFinished(limit 2100) = %d, %v", n, err)
	}
	if n, err := s.DeleteFinished(ctx, storetest.At(time.Second), 5000); err != nil || n != 200 {
		t.Fatalf("DeleteFinished(limit 5000) = %d, %v; want the 200 left", n, err)
	}
	c, err := s.Counts(ctx)
	if err != nil || c[store.Ongoing] != 200 || c[store.Success] != 0 {
		t.Fatalf("Counts = %v, %v; want 200 ONGOING", c, err)
	}
}

// TestNoCommitWithoutChange: calls that change nothing (an empty claim, a
// failed Finish, a heartbeat of nothing) cost no commit and no fsync;
// changes do.
func TestNoCommitWithoutChange(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	ctx := t.Context()
	before := s.Stats()
	if cl, err := s.Claim(ctx, store.ClaimParams{Owner: "s", Names: []string{"job"}, Limit: 10, Now: storetest.At(0), StaleBefore: storetest.At(0)}); err != nil || len(cl) != 0 {
		t.Fatalf("Claim = %v, %v", cl, err)
	}
	if _, err := s.Finish(ctx, "s", storetest.NewID(), store.Completion{State: store.Success}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Finish: %v", err)
	}
	if _, err := s.Heartbeat(ctx, "s", nil, storetest.At(0)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got != before {
		t.Fatalf("Stats after calls that change nothing = %+v, want %+v", got, before)
	}
	if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job")}); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.Commits != before.Commits+1 {
		t.Fatalf("Stats after an insert = %+v, want one more commit than %+v", got, before)
	}
}

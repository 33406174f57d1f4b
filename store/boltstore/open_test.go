package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
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
		{boltstore.Config{LogMaxEvents: -1}, "LogMaxEvents"},
		{boltstore.Config{LogMaxAge: -1}, "LogMaxAge"},
		{boltstore.Config{MaxBatch: -1}, "MaxBatch"},
		{boltstore.Config{MmapSize: -1}, "MmapSize"},
	} {
		_, err := boltstore.New(t.TempDir(), &tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
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
	clk := clock.NewFake(storetest.T0)
	// The log is bounded too: about two generations of events.
	s := openWith(t, t.TempDir(), storetest.Config{Clock: clk, LogMaxEvents: 5000})
	ctx := t.Context()
	var sizes []int64
	for range 20 {
		recs := make([]*store.Record, 1000)
		for i := range recs {
			recs[i] = storetest.NewRecord("job", strings.Repeat("x", 100))
		}
		if _, err := s.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		for range 1001 {
			cl, err := s.Claim(ctx, store.ClaimParams{Owner: "s", Incarnation: "s/1", Names: []string{"job"}, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(cl) == 0 {
				break
			}
			var wg sync.WaitGroup
			for _, c := range cl {
				wg.Go(func() { finishOK(t, s, c.Lease, store.Success) })
			}
			wg.Wait()
		}
		// Keep the last two generations.
		if _, err := s.DeleteFinished(ctx, time.Minute+time.Second, 100_000); err != nil {
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
	// After 20,000 claims, finishes, deletions and log trims, the file is
	// sound, indexes and counts included, and opens.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := boltstore.Check(s.Path(), 0); err != nil || !rep.OK() {
		t.Fatalf("Check after retention: %v\n%v", err, rep)
	}
	open(t, s.Path())
}

// TestDeleteFinishedInChunks deletes more records than one transaction
// takes: the count is exact and ONGOING records stay.
func TestDeleteFinishedInChunks(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(storetest.T0)
	s := openWith(t, t.TempDir(), storetest.Config{Clock: clk})
	ctx := t.Context()
	recs := make([]*store.Record, 2500)
	for i := range recs {
		recs[i] = storetest.Owned("job", "s", "s/1")
	}
	res, err := s.Insert(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]store.Completion, 2300)
	for i := range cs {
		cs[i] = store.Completion{Lease: res[i].Lease, State: store.Success}
	}
	if _, err := s.Finish(ctx, cs); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if n, err := s.DeleteFinished(ctx, time.Second, 2100); err != nil || n != 2100 {
		t.Fatalf("DeleteFinished(limit 2100) = %d, %v", n, err)
	}
	if n, err := s.DeleteFinished(ctx, time.Second, 5000); err != nil || n != 200 {
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
	if cl, err := s.Claim(ctx, store.ClaimParams{Owner: "s", Incarnation: "s/1", Names: []string{"job"}, Limit: 10, StaleAfter: time.Second}); err != nil || len(cl) != 0 {
		t.Fatalf("Claim = %v, %v", cl, err)
	}
	if res, err := s.Finish(ctx, []store.Completion{{Lease: store.Lease{ID: storetest.NewID()}, State: store.Success}}); err != nil || !errors.Is(res[0].Err, store.ErrNotFound) {
		t.Fatalf("Finish = %+v, %v", res, err)
	}
	if _, err := s.Renew(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(ctx, store.ClaimParams{Owner: "s", Incarnation: "s/1", Names: []string{"job"}, Limit: 10}, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.Commits != before.Commits || got.Ops != before.Ops {
		t.Fatalf("Stats after calls that change nothing = %+v, want the commits and ops of %+v", got, before)
	}
	if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job")}); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.Commits != before.Commits+1 {
		t.Fatalf("Stats after an insert = %+v, want one more commit than %+v", got, before)
	}
}

func finishOK(t *testing.T, s store.Store, l store.Lease, st store.State) {
	t.Helper()
	res, err := s.Finish(t.Context(), []store.Completion{{Lease: l, State: st}})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Error(err)
	}
}

// TestRecoverDeadIncarnations: the file admits one process, so after a
// reopen every lease from before it belongs to a dead process. Recover
// takes those records whatever their server ID; it leaves the records of
// incarnations that used the store since it opened.
func TestRecoverDeadIncarnations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := clock.NewFake(storetest.T0)
	s := openWith(t, dir, storetest.Config{Clock: clk})
	ctx := t.Context()
	before := storetest.Owned("job", "random-id-1", "random-id-1/x")
	if _, err := s.Insert(ctx, []*store.Record{before}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, storetest.Config{Clock: clk})
	alive := storetest.Owned("job", "other-live", "other-live/1")
	if _, err := s.Insert(ctx, []*store.Record{alive}); err != nil {
		t.Fatal(err)
	}
	cl, err := s.Recover(ctx, store.ClaimParams{Owner: "random-id-2", Incarnation: "random-id-2/y", Names: []string{"job"}, Limit: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != 1 || cl[0].Record.ID != before.ID || cl[0].Record.Attempt != 2 || cl[0].PrevOwner != "random-id-1" {
		t.Fatalf("Recover after reopen = %+v, want the record of the dead process at attempt 2", cl)
	}
}

// TestUpgradeFromFormat1 opens a file whose indexes are in the first
// format: New rebuilds them from the records, and the store works.
func TestUpgradeFromFormat1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openWith(t, dir, storetest.Config{})
	ctx := t.Context()
	q := storetest.NewRecord("job")
	o := storetest.Owned("job", "old", "old/1")
	if _, err := s.Insert(ctx, []*store.Record{q, o}); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"queue", "owned", "events"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("queue")).Put([]byte("stale key of format 1"), nil); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = openWith(t, dir, storetest.Config{})
	cl, err := s.Claim(ctx, store.ClaimParams{Owner: "new", Incarnation: "new/1", Names: []string{"job"}, Limit: 10})
	if err != nil || len(cl) != 1 || cl[0].Record.ID != q.ID {
		t.Fatalf("Claim after the upgrade = %+v, %v; want the queued record", cl, err)
	}
	rec, err := s.Recover(ctx, store.ClaimParams{Owner: "new", Incarnation: "new/1", Names: []string{"job"}, Limit: 10}, []store.Lease{cl[0].Lease})
	if err != nil || len(rec) != 1 || rec[0].Record.ID != o.ID {
		t.Fatalf("Recover after the upgrade = %+v, %v; want the owned record", rec, err)
	}
}

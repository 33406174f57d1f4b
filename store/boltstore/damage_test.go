package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bgtask/bgtask/internal/storedamage"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/storetest"
)

var damaged struct {
	once  sync.Once
	good  []byte
	cases []storedamage.Case
	err   error
}

// damagedCases returns a healthy store file of 300 tasks and its damaged
// copies, made once per test binary.
func damagedCases(t *testing.T) ([]byte, []storedamage.Case) {
	t.Helper()
	damaged.once.Do(func() {
		dir, err := os.MkdirTemp("", "boltstore-damage-")
		if err != nil {
			damaged.err = err
			return
		}
		defer os.RemoveAll(dir)
		if damaged.good, damaged.err = storedamage.Healthy(dir, 300); damaged.err == nil {
			damaged.cases, damaged.err = storedamage.Cases(damaged.good)
		}
	})
	if damaged.err != nil {
		t.Fatal(damaged.err)
	}
	return damaged.good, damaged.cases
}

// TestNewRefusesDamagedFiles: every damaged copy is refused by New with an
// error wrapping ErrDamaged that names the file, without a panic, and is
// left byte for byte as it was; Check reports it damaged. The healthy file
// opens and checks OK.
func TestNewRefusesDamagedFiles(t *testing.T) {
	t.Parallel()
	good, cases := damagedCases(t)
	if len(cases) < 25 {
		t.Fatalf("%d damaged files, want at least 25", len(cases))
	}
	file := filepath.Join(t.TempDir(), "good.db")
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := boltstore.Check(file, 0)
	if err != nil || !rep.OK() {
		t.Fatalf("Check of the healthy file: %v, %v", err, rep)
	}
	s, err := boltstore.New(file, nil)
	if err != nil {
		t.Fatalf("New of the healthy file: %v", err)
	}
	s.Close()

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), boltstore.DefaultFileName)
			if err := os.WriteFile(file, c.Data, 0o600); err != nil {
				t.Fatal(err)
			}
			var s *boltstore.Store
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("New panicked: %v", p)
					}
				}()
				s, err = boltstore.New(filepath.Dir(file), nil)
			}()
			if err == nil {
				s.Close()
				t.Fatal("New opened the damaged file")
			}
			if !errors.Is(err, boltstore.ErrDamaged) || !strings.Contains(err.Error(), file) || strings.Contains(err.Error(), "\n") {
				t.Errorf("New: %q, want one line wrapping ErrDamaged and naming %s", err, file)
			}
			after, rerr := os.ReadFile(file)
			if rerr != nil || !bytes.Equal(after, c.Data) {
				t.Errorf("New changed the file (%v): %d bytes before, %d after", rerr, len(c.Data), len(after))
			}
			t.Logf("%v", err)
			rep, cerr := boltstore.Check(file, 0)
			if cerr != nil {
				t.Fatalf("Check: %v", cerr)
			}
			if rep.OK() {
				t.Errorf("Check found nothing wrong:\n%v", rep)
			}
		})
	}
}

// TestNewCreatesAtomically: a new store is created whole, leaving no
// temporary file, and an empty file where the store should be is refused
// rather than taken for a new store.
func TestNewCreatesAtomically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := boltstore.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != boltstore.DefaultFileName {
		t.Fatalf("data directory holds %v, want only %s", entries, boltstore.DefaultFileName)
	}
	empty := filepath.Join(t.TempDir(), boltstore.DefaultFileName)
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = boltstore.New(empty, nil)
	if !errors.Is(err, boltstore.ErrDamaged) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("New of an empty file: %v, want ErrDamaged saying it is empty", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file was changed: %v, %v", fi, err)
	}
}

// TestBackupWhileWriting: Backup taken while writers commit is a sound
// store (Check finds nothing) holding at least what was committed before
// the call.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	ctx := context.Background()
	insert := func(n int) {
		for range n {
			if _, err := s.Insert(ctx, []*store.Record{storetest.NewRecord("job", strings.Repeat("a", 512))}); err != nil {
				t.Error(err)
				return
			}
		}
	}
	insert(200)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				insert(1)
			}
		}
	}()
	copyFile := filepath.Join(t.TempDir(), "copy.db")
	n, err := s.Backup(ctx, copyFile)
	close(stop)
	wg.Wait()
	if err != nil || n == 0 {
		t.Fatalf("Backup: %d bytes, %v", n, err)
	}
	rep, err := boltstore.Check(copyFile, 0)
	if err != nil || !rep.OK() {
		t.Fatalf("Check of the copy: %v\n%v", err, rep)
	}
	if got := rep.Records[store.Ongoing]; got < 200 {
		t.Fatalf("the copy holds %d records, want at least the 200 committed before", got)
	}
	if _, err := os.Stat(copyFile + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

// TestCheckLockedFile: Check of a file a Store has open says it is locked
// (check a copy) instead of reading a file that changes under it.
func TestCheckLockedFile(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	_, err := boltstore.Check(s.Path(), 0)
	if !errors.Is(err, boltstore.ErrLocked) || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("Check of an open store: %v, want ErrLocked naming the file", err)
	}
}

// BenchmarkOpen measures the cost of the open-time check on a store of
// 100,000 queued tasks with 100-byte arguments (about 70 MB): New (the
// file check, the content check, bbolt's open and the buckets) and Check
// (everything store check does):
//
//	go test -run '^$' -bench Open -benchtime 5x ./store/boltstore
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := boltstore.New(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range 100 {
		recs := make([]*store.Record, 1000)
		for i := range recs {
			recs[i] = storetest.NewRecord("job", strings.Repeat("a", 100))
		}
		if _, err := s.Insert(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("New", func(b *testing.B) {
		for b.Loop() {
			s, err := boltstore.New(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("Check", func(b *testing.B) {
		for b.Loop() {
			if rep, err := boltstore.Check(path, 0); err != nil || !rep.OK() {
				b.Fatal(err, rep)
			}
		}
	})
}

package flock

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func TestTryDirExcludes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := TryDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryDir(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryDir: %v, want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l, err = TryDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l.Release()
}

func TestTryDirSymlinks(t *testing.T) {
	t.Parallel()
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := TryDirNoFollow(link); err == nil {
		t.Fatal("TryDirNoFollow followed a symlink")
	}
	l, err := TryDir(link)
	if err != nil {
		t.Fatalf("TryDir through a symlink: %v", err)
	}
	defer l.Release()
	if _, err := TryDirNoFollow(target); !errors.Is(err, ErrLocked) {
		t.Fatalf("the lock through the symlink does not cover the target: %v", err)
	}
}

func TestTryFileUnlinksOnRelease(t *testing.T) {
	t.Parallel()
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	l, err := TryFile(root, ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryFile(root, ".lock"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryFile: %v, want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Lstat(".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file left behind: %v", err)
	}
}

// TestTryFileMutualExclusion hammers one lock name from many goroutines
// (each TryFile is its own open file description, as in separate
// processes) and checks that no two ever hold it at once, although every
// release unlinks the file.
func TestTryFileMutualExclusion(t *testing.T) {
	t.Parallel()
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var mu sync.Mutex
	holders, acquired := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				l, err := TryFile(root, "x")
				if errors.Is(err, ErrLocked) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				holders++
				acquired++
				if holders != 1 {
					t.Errorf("%d holders at once", holders)
				}
				mu.Unlock()
				for range 10 { // hold the lock a while
					runtime.Gosched()
				}
				mu.Lock()
				holders--
				mu.Unlock()
				l.Release()
			}
		})
	}
	wg.Wait()
	if acquired == 0 {
		t.Fatal("nobody ever got the lock")
	}
}

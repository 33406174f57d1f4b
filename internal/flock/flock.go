// Package flock provides the advisory, cross-process locks that task mode
// and the removeDirectory task use: flock(2) on a directory (workspaces) or
// on a lock file that is unlinked again on release (removeDirectory).
//
// flock locks belong to an open file description: two opens of the same
// file conflict even inside one process, and the kernel drops a lock when
// its holder dies, so a crashed run never leaves a stale lock behind.
package flock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked reports that another holder has the lock.
var ErrLocked = errors.New("flock: locked by another holder")

// Lock is a held lock. Release it exactly once.
type Lock struct {
	f      *os.File
	root   *os.Root // set for lock files, which Release unlinks
	name   string
	closed bool
}

// TryDir takes an exclusive lock on the directory dir itself without
// waiting. It returns ErrLocked if another holder has it. The lock leaves
// nothing on disk.
func TryDir(dir string) (*Lock, error) {
	return tryDir(dir, 0)
}

// TryDirNoFollow is TryDir, except that a symlink at dir is an error
// rather than followed: for directories found by listing a shared
// directory such as /tmp.
func TryDirNoFollow(dir string) (*Lock, error) {
	return tryDir(dir, oNoFollow)
}

func tryDir(dir string, flags int) (*Lock, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|oDirectory|flags, 0)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// maxStaleRetries bounds how often TryFile reopens a lock file that its
// previous holder unlinked between our open and our lock.
const maxStaleRetries = 8

// TryFile takes an exclusive lock on the lock file name inside root,
// creating it if needed, without waiting. It returns ErrLocked if another
// holder has it. Release unlinks the file, so lock files do not pile up.
//
// Unlinking on release is safe because TryFile checks, once it holds the
// lock, that name still refers to the file it locked; if a previous holder
// unlinked it in between, TryFile starts over with a fresh file.
func TryFile(root *os.Root, name string) (*Lock, error) {
	for range maxStaleRetries {
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
		if err != nil {
			return nil, err
		}
		if err := tryLock(f); err != nil {
			f.Close()
			return nil, err
		}
		if current(root, name, f) {
			return &Lock{f: f, root: root, name: name}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("flock: lock file %s keeps being replaced", name)
}

// Release drops the lock (unlinking a lock file first). It is safe to call
// more than once.
func (l *Lock) Release() error {
	if l == nil || l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.root != nil {
		if rerr := l.root.Remove(l.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	return errors.Join(err, l.f.Close())
}

// current reports whether name still names the file f is open on.
func current(root *os.Root, name string, f *os.File) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := root.Lstat(name)
	return err == nil && os.SameFile(held, now)
}

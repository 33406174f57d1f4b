//go:build windows

package flock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// Windows has no O_NOFOLLOW or O_DIRECTORY open flags: a symlink is
// followed, and opening a directory works without a flag.
const (
	oNoFollow  = 0
	oDirectory = 0
)

// tryLock takes LockFileEx(LOCKFILE_EXCLUSIVE_LOCK |
// LOCKFILE_FAIL_IMMEDIATELY) on the whole file. Like flock(2), the lock
// belongs to the open handle and is dropped when its holder dies.
//
// Windows builds are compiled as a check but not tested: the test suite
// runs on Linux.
func tryLock(f *os.File) error {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, ^uint32(0), ^uint32(0), ol)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return ErrLocked
	}
	return fmt.Errorf("lock %s: %w", f.Name(), err)
}

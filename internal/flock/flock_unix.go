//go:build unix

package flock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Open flags of the lock's file: no symlink at the last component, and a
// directory where one is expected.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
)

// tryLock takes flock(2) LOCK_EX without waiting.
func tryLock(f *os.File) error {
	var err error
	for range 100 { // a non-blocking flock is interrupted rarely, if ever
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		break
	}
	return fmt.Errorf("flock %s: %w", f.Name(), err)
}

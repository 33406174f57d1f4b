//go:build windows

package boltstore

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// Lock modes of flockNB.
const (
	lockEx = windows.LOCKFILE_EXCLUSIVE_LOCK
	lockSh = 0
)

// flockNB takes LockFileEx in mode how on the whole file without waiting;
// a lock held elsewhere is syscall.EWOULDBLOCK, as with flock(2). Windows
// builds are compiled, not tested.
func flockNB(f *os.File, how int) error {
	err := windows.LockFileEx(windows.Handle(f.Fd()), uint32(how)|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, ^uint32(0), ^uint32(0), new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return syscall.EWOULDBLOCK
	}
	return err
}

// dupFD duplicates f's handle.
func dupFD(f *os.File) (uintptr, error) {
	p := windows.CurrentProcess()
	var h windows.Handle
	err := windows.DuplicateHandle(p, windows.Handle(f.Fd()), p, &h, 0, false, windows.DUPLICATE_SAME_ACCESS)
	return uintptr(h), err
}

//go:build unix

package boltstore

import (
	"os"
	"syscall"
)

// Lock modes of flockNB.
const (
	lockEx = syscall.LOCK_EX
	lockSh = syscall.LOCK_SH
)

// flockNB takes flock(2) in mode how without waiting; a lock held
// elsewhere is syscall.EWOULDBLOCK.
func flockNB(f *os.File, how int) error {
	return syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
}

// dupFD duplicates f's descriptor.
func dupFD(f *os.File) (uintptr, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	return uintptr(fd), err
}

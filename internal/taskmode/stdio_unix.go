//go:build unix && !linux

package taskmode

import (
	"os"
	"syscall"
)

// redirectStdio points file descriptors 1 and 2 at f.
func redirectStdio(f *os.File) error {
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup2(int(f.Fd()), fd); err != nil {
			return err
		}
	}
	return nil
}

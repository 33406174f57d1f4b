//go:build !unix

package redistest

import "syscall"

// Pause and Resume need SIGSTOP and SIGCONT, which only Unix has; here
// they are numbers no process accepts, so both do nothing.
const (
	sigStop = syscall.Signal(0x13)
	sigCont = syscall.Signal(0x12)
)

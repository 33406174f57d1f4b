//go:build unix

package taskmode

import (
	"os"
	"syscall"
)

// continueSignals end --wait-for-debugger's wait.
var continueSignals = []os.Signal{syscall.SIGCONT}

// markerSignal is flushSignals' marker: SIGWINCH, numbered above SIGINT
// and SIGTERM and harmless.
var markerSignal os.Signal = syscall.SIGWINCH

// signalSelf sends sig to this process.
func signalSelf(sig os.Signal) error {
	return syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}

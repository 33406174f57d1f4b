//go:build unix

package taskmode

import (
	"os"
	"syscall"
)

// continueSignals end --wait-for-debugger's wait.
var continueSignals = []os.Signal{syscall.SIGCONT}

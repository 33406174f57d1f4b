//go:build !unix

package taskmode

import "os"

// continueSignals end --wait-for-debugger's wait: none without SIGCONT
// (the wait ends when a tracer is seen, or on Ctrl-C).
var continueSignals []os.Signal

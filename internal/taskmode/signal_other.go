//go:build !unix

package taskmode

import (
	"os"
	"syscall"
)

// stopSignals end a run the way SIGTERM does: Ctrl-C (SIGINT) and the
// console's close, logoff and shutdown events (delivered as SIGTERM).
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}

// HandledStopSignals is stopSignals: nothing here starts ignored.
func HandledStopSignals() []os.Signal { return stopSignals }

// continueSignals end --wait-for-debugger's wait: none without SIGCONT
// (the wait ends when a tracer is seen, or on Ctrl-C).
var continueSignals []os.Signal

// markerSignal is flushSignals' marker: none here.
var markerSignal os.Signal

// signalSelf is not used without a marker signal.
func signalSelf(os.Signal) error { return nil }

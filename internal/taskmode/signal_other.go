//go:build !unix

package taskmode

import "os"

// continueSignals end --wait-for-debugger's wait: none without SIGCONT
// (the wait ends when a tracer is seen, or on Ctrl-C).
var continueSignals []os.Signal

// markerSignal is flushSignals' marker: none here.
var markerSignal os.Signal

// signalSelf is not used without a marker signal.
func signalSelf(os.Signal) error { return nil }

//go:build !unix

package cli

import "os"

// serveSignals are the signals `serve` handles: Ctrl-C stops it
// gracefully. There is no backup signal here.
var (
	serveSignals           = []os.Signal{os.Interrupt}
	backupSignal os.Signal = nil
)

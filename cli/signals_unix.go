//go:build unix

package cli

import (
	"os"
	"syscall"
)

// serveSignals are the signals `serve` handles: SIGINT and SIGTERM stop it
// gracefully, backupSignal (SIGUSR1) writes a copy of the embedded store.
var (
	serveSignals           = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1}
	backupSignal os.Signal = syscall.SIGUSR1
)

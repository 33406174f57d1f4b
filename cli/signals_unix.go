//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// serveSignals are the signals `serve` handles: SIGINT, SIGTERM and
// SIGHUP (a closed terminal or ssh session) stop it gracefully, a second
// one at once; backupSignal (SIGUSR1) writes a copy of the embedded
// store. SIGHUP is left alone when the process started with it ignored
// (nohup): handling it would undo that.
var (
	serveSignals           = stopSignals()
	backupSignal os.Signal = syscall.SIGUSR1
)

func stopSignals() []os.Signal {
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

//go:build unix

package cli

import (
	"os"
	"syscall"

	"github.com/bgtask/bgtask/internal/taskmode"
)

// serveSignals are the signals `serve` handles: the stop signals of task
// mode (SIGHUP, SIGINT, SIGTERM; SIGHUP not when it started ignored, as
// under nohup) stop it gracefully, a second one at once; backupSignal
// (SIGUSR1) writes a copy of the embedded store.
var (
	serveSignals           = append(taskmode.HandledStopSignals(), syscall.SIGUSR1)
	backupSignal os.Signal = syscall.SIGUSR1
)

//go:build unix

package taskmode

import (
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end a run the way SIGTERM does when the runner owns the
// process: the task's context is cancelled (a child started with
// exec.CommandContext is killed), the grace period is waited out, the
// ephemeral workspace is removed and the exit code is 128 + the signal
// (SIGHUP 129, SIGINT 130, SIGTERM 143). They are the signals that
// terminate a process by default and that a user, a terminal or a
// supervisor sends to stop it:
//
//   - SIGHUP: the terminal or ssh session went away (also a supervisor's
//     "reload", which a one-shot run cannot do: it stops).
//   - SIGINT: Ctrl-C.
//   - SIGTERM: kill, systemd, Kubernetes.
//
// Deliberately not handled:
//
//   - SIGQUIT (Ctrl-\) asks for a dump: Go prints every goroutine's stack
//     and exits 2, which is why one sends it to a hung task. Handling it
//     would swallow that dump; the workspace it leaves is swept by a later
//     run once stale (BGTASK_PURGE_STALE_WORKSPACES).
//   - SIGPIPE is raised by the kernel in the writer of a broken pipe or
//     socket, nobody sends it to stop a process. With os/signal notified of
//     it, every such write anywhere in the process (the task's network
//     connections, pipes to its children) would reach the runner and
//     cancel a healthy run; unnotified, Go ignores it on descriptors other
//     than 1 and 2, and the task sees EPIPE.
//
// SIGKILL and SIGSTOP cannot be handled.
var stopSignals = []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM}

// HandledStopSignals is stopSignals without SIGHUP when the process started
// with SIGHUP ignored (nohup, or a shell's trap "" HUP): registering a
// handler would un-ignore it, and a run meant to survive the hang-up would
// end at it.
func HandledStopSignals() []os.Signal {
	var sigs []os.Signal
	for _, s := range stopSignals {
		if s == syscall.SIGHUP && signal.Ignored(s) {
			continue
		}
		sigs = append(sigs, s)
	}
	return sigs
}

// continueSignals end --wait-for-debugger's wait.
var continueSignals = []os.Signal{syscall.SIGCONT}

// markerSignal is flushSignals' marker: SIGWINCH (28), numbered above
// every stop signal (SIGHUP 1, SIGINT 2, SIGTERM 15) and harmless.
var markerSignal os.Signal = syscall.SIGWINCH

// signalSelf sends sig to this process.
func signalSelf(sig os.Signal) error {
	return syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}

package cli

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/bgtask/bgtask/internal/taskmode"
)

// stopOnSignal returns a context cancelled by the first stop signal
// (SIGINT, SIGTERM, SIGHUP), a function telling which one came, and stop,
// which stops listening.
func stopOnSignal(ctx context.Context) (context.Context, func() (os.Signal, bool), func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, taskmode.HandledStopSignals()...)
	ctx, cancel := context.WithCancel(ctx)
	var got atomic.Value
	go func() {
		select {
		case s := <-sigs:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	signalled := func() (os.Signal, bool) {
		s, ok := got.Load().(os.Signal)
		return s, ok
	}
	return ctx, signalled, func() { signal.Stop(sigs); cancel() }
}

// signalExit is the exit status of a command a stop signal ended: 128 +
// the signal (130 for Ctrl-C), ExitInterrupted where signals have no
// number.
func signalExit(s os.Signal) exitStatus {
	if n, ok := s.(syscall.Signal); ok {
		return exitStatus(128 + int(n))
	}
	return exitStatus(ExitInterrupted)
}

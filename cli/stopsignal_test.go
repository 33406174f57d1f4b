package cli

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/taskmode"
)

// serve's graceful stop is forced by a second signal, not by the first
// one arriving again at once (GNU timeout sends SIGTERM to the process and
// to its group: `timeout 15 bgtask serve` always exited as if stopped
// twice).
func TestStopSignalRepeat(t *testing.T) {
	t.Parallel()
	first := stopSignal{syscall.SIGTERM, time.Now()}
	if !first.repeatedBy(syscall.SIGTERM) {
		t.Error("SIGTERM again at once: taken for a second signal")
	}
	if first.repeatedBy(os.Interrupt) {
		t.Error("SIGINT after SIGTERM: taken for a repeat")
	}
	late := stopSignal{syscall.SIGTERM, time.Now().Add(-taskmode.RepeatWindow)}
	if late.repeatedBy(syscall.SIGTERM) {
		t.Error("SIGTERM again after RepeatWindow: taken for a repeat")
	}
	if (stopSignal{}).repeatedBy(syscall.SIGTERM) {
		t.Error("no first signal (the context ended): a signal taken for a repeat")
	}
}

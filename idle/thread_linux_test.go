package idle_test

import (
	"syscall"
	"testing"

	"github.com/bgtask/bgtask/idle"
)

// policy returns the scheduling policy of the calling thread.
func policy() uintptr {
	p, _, _ := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	return p
}

func TestLowPriorityCallbacksRunOnSchedIdleThread(t *testing.T) {
	t.Parallel()
	const schedIdle = 5
	for _, low := range []bool{false, true} {
		e := setup(t, func(c *idle.Config) { c.LowPriority = low })
		got := make(chan uintptr, 1)
		e.s.Request(func(idle.Deadline) { got <- policy() }, nil)
		p := <-got
		if low && p != schedIdle {
			t.Fatalf("LowPriority callback thread policy = %d, want SCHED_IDLE (%d)", p, schedIdle)
		}
		if !low && p == schedIdle {
			t.Fatal("ordinary callback ran on a SCHED_IDLE thread")
		}
	}
}

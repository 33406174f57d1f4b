package idle

import (
	"syscall"
	"unsafe"
)

const schedIdle = 5 // SCHED_IDLE, linux/sched.h

// lowerThreadPriority gives the calling OS thread the SCHED_IDLE policy, or
// failing that nice 19. The caller must have locked its goroutine to the
// thread and must never unlock it.
func lowerThreadPriority() error {
	var param struct{ priority int32 }
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedIdle, uintptr(unsafe.Pointer(&param)))
	if errno == 0 {
		return nil
	}
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}

package idle

import (
	"sync/atomic"
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

// futexSupported says whether the scheduler's goroutine can wait on a
// futex (see waker).
const futexSupported = true

const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

// futexWait blocks the calling thread while *addr == val, or until woken
// (spurious returns are possible). It enters the system call the Go way,
// so that the thread's P can be used meanwhile.
func futexWait(addr *atomic.Uint32, val uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val), 0, 0, 0)
}

// futexWake wakes one thread waiting on addr.
func futexWake(addr *atomic.Uint32) {
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate, 1, 0, 0, 0)
}

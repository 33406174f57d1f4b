//go:build !linux

package idle

import (
	"errors"
	"sync/atomic"
)

// lowerThreadPriority is only implemented on Linux, where a thread's
// priority can be set apart from its process's.
func lowerThreadPriority() error { return errors.ErrUnsupported }

// futexSupported is false: the scheduler's goroutine waits on a channel.
const futexSupported = false

func futexWait(*atomic.Uint32, uint32) { panic("idle: no futex") }
func futexWake(*atomic.Uint32)         { panic("idle: no futex") }

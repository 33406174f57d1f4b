package idle

import "sync/atomic"

// waker wakes the scheduler's goroutine: poke leaves a token (at most one
// is kept) and wait takes it, blocking until there is one.
//
// An ordinary scheduler waits on a channel. A LowPriority one, on Linux,
// waits in the kernel, on a futex, for this reason: a goroutine locked to
// its thread that the Go scheduler wakes lands in the run queue of the P
// that woke it — typically one serving a request, whose thread then hands
// that P over to the SCHED_IDLE thread and goes to sleep (startlockedm),
// leaving the requests' goroutines to wait for another thread to pick them
// up. A futex wake only makes the SCHED_IDLE thread runnable in the kernel,
// which runs it when a CPU has nothing better to do; the waker's thread
// and P carry on with the requests, and the woken thread takes back its
// own P as it returns from the system call (the P waits for it unless
// another thread needs it, which the extra Ps the documentation advises
// make rare). A P parked in a system call also need not be stopped by the
// garbage collector's stop-the-world, which would otherwise wait for the
// kernel to run a SCHED_IDLE thread.
type waker struct {
	ch     chan struct{} // capacity 1; nil in futex mode
	futex  atomic.Uint32 // futex mode: wakeEmpty, wakeToken or wakeAsleep
	inKern bool          // futex mode
}

// Futex word values.
const (
	wakeEmpty  = 0 // no token, the waiter is awake
	wakeToken  = 1 // a token waits to be taken
	wakeAsleep = 2 // no token, the waiter sleeps (or is about to) in the kernel
)

// futexWaker turns futex mode on where it is supported; a benchmark turns
// it off to compare.
var futexWaker = futexSupported

func newWaker(kernel bool) *waker {
	if kernel && futexWaker {
		return &waker{inKern: true}
	}
	return &waker{ch: make(chan struct{}, 1)}
}

// poke leaves a token and wakes the waiter if it sleeps. It never blocks.
func (w *waker) poke() {
	if !w.inKern {
		select {
		case w.ch <- struct{}{}:
		default:
		}
		return
	}
	if w.futex.Swap(wakeToken) == wakeAsleep {
		futexWake(&w.futex)
	}
}

// wait blocks until there is a token and takes it.
func (w *waker) wait() {
	if !w.inKern {
		<-w.ch
		return
	}
	for {
		switch w.futex.Load() {
		case wakeToken:
			if w.futex.CompareAndSwap(wakeToken, wakeEmpty) {
				return
			}
		case wakeEmpty:
			w.futex.CompareAndSwap(wakeEmpty, wakeAsleep)
		case wakeAsleep:
			futexWait(&w.futex, wakeAsleep) // returns at once unless still asleep
		}
	}
}

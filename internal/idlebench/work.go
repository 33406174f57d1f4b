package idlebench

import (
	"crypto/sha256"
	"runtime"
	"time"
)

// burner does a fixed amount of CPU work per call: SHA-256 over a 4 KiB
// block, rounds times. It is safe for concurrent use.
type burner struct {
	rounds int
}

// burn does the work and returns a byte of the result, so that the
// compiler cannot drop it.
func (b *burner) burn() byte {
	var buf [4096]byte
	var sum [32]byte
	for range b.rounds {
		sum = sha256.Sum256(buf[:])
		buf[0] ^= sum[0]
	}
	return sum[1]
}

// calibrate returns a burner whose burn takes about target of CPU time on
// this machine. The cost per round is the fastest of several trials,
// measured as thread CPU time where available, so that a noisy or
// overcommitted machine (steal time) does not inflate it.
func calibrate(target time.Duration) *burner {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	probe := &burner{rounds: 64}
	best := time.Duration(1<<63 - 1)
	for range 50 { // ~10 ms in all: the fastest trial is the uncontended cost
		t0, w0 := threadCPU(), time.Now()
		probe.burn()
		d := threadCPU() - t0
		if d <= 0 { // no per-thread clock: fall back to wall time
			d = time.Since(w0)
		}
		best = min(best, d)
	}
	perRound := max(best/time.Duration(probe.rounds), time.Nanosecond)
	return &burner{rounds: max(int(target/perRound), 1)}
}

// cost returns the CPU time of one burn, measured like calibrate.
func (b *burner) cost() time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(1<<63 - 1)
	for range 15 {
		t0, w0 := threadCPU(), time.Now()
		for range 16 {
			b.burn()
		}
		d := threadCPU() - t0
		if d <= 0 {
			d = time.Since(w0)
		}
		best = min(best, d/16)
	}
	return best
}

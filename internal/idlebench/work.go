package idlebench

import (
	"crypto/sha256"
	"runtime"
	"slices"
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
// this machine. The cost per round comes from several trials measured as
// thread CPU time where available, so that a noisy or overcommitted
// machine (preemption, steal time) does not inflate it; see trialCost.
func calibrate(target time.Duration) *burner {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	probe := &burner{rounds: 64}
	trials := make([]time.Duration, 0, 50)
	threadClock := true
	for range 50 { // ~10 ms in all
		t0, w0 := threadCPU(), time.Now()
		probe.burn()
		d := threadCPU() - t0
		if d <= 0 { // no per-thread clock: fall back to wall time
			d, threadClock = time.Since(w0), false
		}
		trials = append(trials, d)
	}
	perRound := max(trialCost(trials, threadClock)/time.Duration(probe.rounds), time.Nanosecond)
	return &burner{rounds: max(int(target/perRound), 1)}
}

// trialCost returns the cost that trials (the CPU times of one piece of
// work, or its wall times when threadClock is false) say the work has.
// Thread CPU time is not inflated by waiting, so its median is the
// estimate, not the fastest trial, which one reading that comes out low
// would make the cost of the whole run. Wall times are inflated by every
// preemption, so their fastest is the uncontended cost.
func trialCost(trials []time.Duration, threadClock bool) time.Duration {
	if len(trials) == 0 {
		return 0
	}
	if !threadClock {
		return slices.Min(trials)
	}
	sorted := slices.Clone(trials)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
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

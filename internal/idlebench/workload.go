package idlebench

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/idle"
)

// workload is the CPU-heavy idle work of modes (b) and (c): units of
// Config.Unit CPU time, done for ever until stopped.
type workload interface {
	units() int64
	cpu() time.Duration // CPU time of the idle work so far
	stats() idle.Stats  // zero for plain goroutines
	stop() error
}

// meter counts units of work and the CPU time they took, measured on the
// worker's own thread (getrusage RUSAGE_THREAD), so that the figure does
// not depend on a calibration done on a noisy machine.
type meter struct {
	n   atomic.Int64
	cpu atomic.Int64
}

// cpuEvery is how many units a worker does between two readings of its
// thread's CPU time (a system call each).
const cpuEvery = 64

// work runs units while more() and records them; with atLeastOne, it
// runs one before it asks. The caller has locked its goroutine to its
// thread.
func (m *meter) work(unit *burner, atLeastOne bool, more func() bool) {
	t0 := threadCPU()
	n := 0
	for atLeastOne || more() {
		atLeastOne = false
		sink.Add(uint32(unit.burn()))
		if n++; n == cpuEvery {
			t1 := threadCPU()
			m.n.Add(int64(n))
			m.cpu.Add(int64(t1 - t0))
			t0, n = t1, 0
		}
	}
	m.n.Add(int64(n))
	m.cpu.Add(int64(threadCPU() - t0))
}

// meters are a workload's workers' meters; their sums implement
// workload's units and cpu.
type meters []meter

func (ms meters) units() int64 {
	var n int64
	for i := range ms {
		n += ms[i].n.Load()
	}
	return n
}

func (ms meters) cpu() time.Duration {
	var d time.Duration
	for i := range ms {
		d += time.Duration(ms[i].cpu.Load())
	}
	return d
}

// schedWorkload runs the work through idle Schedulers (mode b), the way
// the MDN demo does: each callback works while its deadline has time left,
// then requests the next callback.
type schedWorkload struct {
	meters
	scheds  []*idle.Scheduler
	halting atomic.Bool
}

func startSched(st Strategy, sources [][]idle.LoadSource, unit *burner) (*schedWorkload, error) {
	w := &schedWorkload{meters: make(meters, st.Workers)}
	ctx := context.Background()
	for k := range st.Workers {
		s, err := idle.New(&idle.Config{Sources: sources[k], LowPriority: st.LowPriority})
		if err != nil {
			w.stop()
			return nil, err
		}
		if err := s.Start(ctx); err != nil {
			w.stop()
			return nil, err
		}
		w.scheds = append(w.scheds, s)
		var cb func(idle.Deadline)
		more := func(d idle.Deadline) func() bool {
			return func() bool { return d.TimeRemaining() > 0 && !w.halting.Load() }
		}
		reniced := false
		cb = func(d idle.Deadline) {
			if st.Nice19 && !reniced {
				// Never unlocked: the thread dies with the scheduler's
				// goroutine instead of going back to the pool reniced.
				runtime.LockOSThread()
				renice19()
				reniced = true
			}
			runtime.LockOSThread() // nests with LowPriority's lock
			w.meters[k].work(unit, false, more(d))
			runtime.UnlockOSThread()
			if !w.halting.Load() {
				s.Request(cb, nil)
			}
		}
		s.Request(cb, nil)
	}
	return w, nil
}

func (w *schedWorkload) stats() idle.Stats {
	var sum idle.Stats
	for _, s := range w.scheds {
		st := s.Stats()
		sum.Ran += st.Ran
		sum.Periods += st.Periods
		sum.CallbackTime += st.CallbackTime
	}
	return sum
}

func (w *schedWorkload) stop() error {
	w.halting.Store(true)
	// A SCHED_IDLE callback thread on a saturated machine may wait
	// seconds for the CPU it needs to see the halt.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, s := range w.scheds {
		errs = append(errs, s.Stop(ctx))
	}
	return errors.Join(errs...)
}

// sink keeps the work's results alive.
var sink atomic.Uint32

// plainWorkload runs the same work on plain goroutines (mode c).
type plainWorkload struct {
	meters
	halting atomic.Bool
	wg      sync.WaitGroup
}

func startPlain(workers int, unit *burner) *plainWorkload {
	w := &plainWorkload{meters: make(meters, workers)}
	for k := range workers {
		w.wg.Go(func() {
			runtime.LockOSThread() // for the thread CPU clock only
			defer runtime.UnlockOSThread()
			// One unit at least, so that a run on a starved machine
			// still shows that mode c worked.
			w.meters[k].work(unit, true, func() bool { return !w.halting.Load() })
		})
	}
	return w
}

func (w *plainWorkload) stats() idle.Stats { return idle.Stats{} }

func (w *plainWorkload) stop() error {
	w.halting.Store(true)
	w.wg.Wait()
	return nil
}

package idlebench

import (
	"math"
	"math/rand/v2"
	"net/http"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"time"
)

// requestLog collects, for each request, where its time went on the
// server:
//
//   - arrival: from the generator's send to the start of the handler —
//     loopback, the network poller noticing the request, a P and a thread
//     for its goroutine. A mode that inflates it costs in waking the
//     server.
//   - stall: the wall time of the request's work minus the CPU time its
//     thread got meanwhile — the time it was runnable but another thread
//     had its CPU — and whether it was preempted at all (an involuntary
//     context switch). A mode that inflates these costs in sharing the
//     CPU while the request works: the kernel giving idle threads a slice,
//     or other processes.
//
// Both are attributed to the mode of the segment they were noted in.
type requestLog struct {
	mu   sync.Mutex
	recs []reqRecord
}

type reqRecord struct {
	arrival   time.Duration // -1 if unknown
	stall     time.Duration
	preempted bool
}

// sentDelay returns the time since the generator sent req, or -1.
func sentDelay(req *http.Request) time.Duration {
	sent, err := strconv.ParseInt(req.Header.Get(sentHeader), 10, 64)
	if err != nil {
		return -1
	}
	return time.Duration(time.Now().UnixNano() - sent)
}

func (l *requestLog) add(r reqRecord) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
}

func (l *requestLog) take() []reqRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recs
	l.recs = nil
	return r
}

// schedSample is the scheduling evidence read at each segment boundary,
// to tell where the latency a mode adds comes from: the Go scheduler
// (goroutines runnable but not running), the garbage collector's
// stop-the-world (which must stop a SCHED_IDLE thread too, and waits for
// the kernel to run it), and the kernel (threads runnable but not on a
// CPU: schedstat's run delay).
type schedSample struct {
	goWait []uint64 // /sched/latencies:seconds bucket counts
	gcStop []uint64 // /sched/pauses/stopping/gc:seconds bucket counts
	// The garbage collector's CPU time in dedicated mark workers (each
	// holds a P for the whole mark phase, so a phase that a SCHED_IDLE
	// thread's stack scan prolongs costs the requests a P for longer) and
	// in assists (requests that allocate during a mark phase pay for it),
	// and the number of cycles.
	gcDedicated, gcAssist float64
	gcCycles              uint64
	kernel                map[string]threadWait // by thread ID
}

// threadWait is the time one thread of this process spent runnable but
// waiting for a CPU, and its number of time slices, from
// /proc/self/task/<tid>/schedstat, and whether it is SCHED_IDLE.
type threadWait struct {
	wait      time.Duration
	slices    uint64
	vol, inv  uint64 // voluntary and involuntary context switches
	schedIdle bool
}

var schedMetrics = []metrics.Sample{
	{Name: "/sched/latencies:seconds"},
	{Name: "/sched/pauses/stopping/gc:seconds"},
	{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
	{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
	{Name: "/gc/cycles/total:gc-cycles"},
}

// schedBuckets are the histograms' bucket boundaries (the same in every
// read).
var schedBuckets [2][]float64

func readSched() schedSample {
	ms := make([]metrics.Sample, len(schedMetrics))
	copy(ms, schedMetrics)
	metrics.Read(ms)
	var s schedSample
	for i, m := range ms {
		switch i {
		case 2:
			s.gcDedicated = floatValue(m)
			continue
		case 3:
			s.gcAssist = floatValue(m)
			continue
		case 4:
			if m.Value.Kind() == metrics.KindUint64 {
				s.gcCycles = m.Value.Uint64()
			}
			continue
		}
		if m.Value.Kind() != metrics.KindFloat64Histogram {
			continue
		}
		h := m.Value.Float64Histogram()
		if schedBuckets[i] == nil {
			schedBuckets[i] = h.Buckets
		}
		counts := append([]uint64(nil), h.Counts...)
		if i == 0 {
			s.goWait = counts
		} else {
			s.gcStop = counts
		}
	}
	s.kernel = readThreadWait()
	return s
}

func floatValue(m metrics.Sample) float64 {
	if m.Value.Kind() == metrics.KindFloat64 {
		return m.Value.Float64()
	}
	return 0
}

// schedFigures accumulate a mode's share of the evidence.
type schedFigures struct {
	goWait, gcStop        []uint64
	gcDedicated, gcAssist float64
	gcCycles              uint64
	kernel                threadWait // summed over the ordinary threads
}

func (f *schedFigures) add(from, to schedSample) {
	f.goWait = addDiff(f.goWait, from.goWait, to.goWait)
	f.gcStop = addDiff(f.gcStop, from.gcStop, to.gcStop)
	f.gcDedicated += to.gcDedicated - from.gcDedicated
	f.gcAssist += to.gcAssist - from.gcAssist
	f.gcCycles += to.gcCycles - from.gcCycles
	// Only the threads that lived, and were ordinary, at both ends: the
	// idle workers' threads turn SCHED_IDLE after they start and exit
	// when their workload stops.
	for tid, b := range to.kernel {
		if a, ok := from.kernel[tid]; ok && !a.schedIdle && !b.schedIdle {
			f.kernel.wait += b.wait - a.wait
			f.kernel.slices += b.slices - a.slices
			f.kernel.vol += b.vol - a.vol
			f.kernel.inv += b.inv - a.inv
		}
	}
}

func addDiff(acc, from, to []uint64) []uint64 {
	if len(from) != len(to) {
		return acc
	}
	if acc == nil {
		acc = make([]uint64, len(to))
	}
	for i := range to {
		acc[i] += to[i] - from[i]
	}
	return acc
}

// histQuantile returns the upper bound of the bucket holding quantile q of
// counts (buckets are the boundaries), and 0 for no samples.
func histQuantile(counts []uint64, buckets []float64, q float64) time.Duration {
	var n uint64
	for _, c := range counts {
		n += c
	}
	if n == 0 || len(buckets) != len(counts)+1 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range counts {
		if seen += c; seen >= max(rank, 1) {
			hi := buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

func histCount(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}

// GoWaitP99 is the 99th percentile of the time goroutines spent runnable
// before they ran (runtime/metrics /sched/latencies), to bucket precision.
func (m *ModeResult) GoWaitP99() time.Duration {
	return histQuantile(m.sched.goWait, schedBuckets[0], 0.99)
}

// GCStopMax is the longest time a garbage collection took to stop the
// world (/sched/pauses/stopping/gc), to bucket precision, and GCStops the
// number of stops.
func (m *ModeResult) GCStopMax() time.Duration {
	return histQuantile(m.sched.gcStop, schedBuckets[1], 1)
}

// GCStops is the number of the garbage collector's stop-the-world pauses.
func (m *ModeResult) GCStops() uint64 { return histCount(m.sched.gcStop) }

// Switches returns how many times per second the server's ordinary
// threads gave up their CPU (voluntary: they blocked, e.g. a thread that
// handed its P to another and went to sleep) and were taken off it
// (involuntary: preempted by another thread), from
// /proc/self/task/*/status.
func (m *ModeResult) Switches() (vol, inv float64) {
	return m.perSecond(time.Duration(m.sched.kernel.vol)) * 1e9, m.perSecond(time.Duration(m.sched.kernel.inv)) * 1e9
}

// GCCPUPerCycle returns the garbage collector's CPU time per cycle in
// dedicated mark workers and in assists, or zeros without a cycle.
func (m *ModeResult) GCCPUPerCycle() (dedicated, assist time.Duration) {
	n := m.sched.gcCycles
	if n == 0 {
		return 0, 0
	}
	return time.Duration(m.sched.gcDedicated / float64(n) * 1e9), time.Duration(m.sched.gcAssist / float64(n) * 1e9)
}

// KernelWait is the average time an ordinary thread of the server waited,
// runnable, for a CPU per time slice it got (schedstat run delay), or 0
// where unavailable.
func (m *ModeResult) KernelWait() time.Duration {
	if m.sched.kernel.slices == 0 {
		return 0
	}
	return m.sched.kernel.wait / time.Duration(m.sched.kernel.slices)
}

// bootstrapRounds is the number of resamples behind ratioInterval.
const bootstrapRounds = 400

// ratioInterval returns a 90 % bootstrap interval of the ratio of the q
// quantiles of num and den, each given as its segments' latencies. Each
// resample draws as many segments as there are, with replacement, for
// each side: latencies within a segment are correlated (they share its
// queue), segments much less. Zeros if either side is empty.
func ratioInterval(num, den [][]time.Duration, q float64, seed uint64) (lo, hi float64) {
	if len(num) == 0 || len(den) == 0 {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	quant := func(segs [][]time.Duration, buf []time.Duration) ([]time.Duration, time.Duration) {
		buf = buf[:0]
		for range segs {
			buf = append(buf, segs[rng.IntN(len(segs))]...)
		}
		if len(buf) == 0 {
			return buf, 0
		}
		slices.Sort(buf)
		return buf, buf[int(q*float64(len(buf)-1))]
	}
	var bn, bd []time.Duration
	ratios := make([]float64, 0, bootstrapRounds)
	for range bootstrapRounds {
		var qn, qd time.Duration
		bn, qn = quant(num, bn)
		bd, qd = quant(den, bd)
		if qd > 0 {
			ratios = append(ratios, float64(qn)/float64(qd))
		}
	}
	if len(ratios) == 0 {
		return 0, 0
	}
	slices.Sort(ratios)
	return ratios[len(ratios)*5/100], ratios[len(ratios)*95/100]
}

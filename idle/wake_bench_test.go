//go:build linux

package idle

import (
	"context"
	"crypto/sha256"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLowPriorityWake isolates the cost to foreground work of waking
// a LowPriority scheduler, with its goroutine waiting on a channel or on a
// futex. A client sends one byte every interval over loopback TCP; the
// foreground goroutine reads it (through the network poller, as a server
// does), counts itself busy on a Counter, burns about 200 µs and counts
// itself idle again — which wakes the scheduler, whose callback then
// burns units of about 20 µs while its deadline has time. GOMAXPROCS is
// twice the cores plus one, as the package documentation advises. Reported per round trip:
// the delay from the client's write to the foreground's read returning
// (arrival p50, p99), and the voluntary context switches of the process's
// ordinary threads (a thread that hands its P to the SCHED_IDLE thread
// and sleeps shows up there).
func BenchmarkLowPriorityWake(b *testing.B) {
	for _, mode := range []struct {
		name  string
		futex bool
	}{{"chan", false}, {"futex", true}} {
		b.Run(mode.name, func(b *testing.B) {
			old := futexWaker
			futexWaker = mode.futex && futexSupported
			defer func() { futexWaker = old }()
			benchWake(b)
		})
	}
}

func benchWake(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2*runtime.NumCPU() + 1))
	fg := NewCounter(1)
	s, err := New(&Config{Sources: []LoadSource{fg}, LowPriority: true})
	if err != nil {
		b.Fatal(err)
	}
	var stop atomic.Bool
	var cb func(Deadline)
	cb = func(d Deadline) {
		for d.TimeRemaining() > 0 && !stop.Load() {
			burnFor(20 * time.Microsecond)
		}
		if !stop.Load() {
			s.Request(cb, nil)
		}
	}
	s.Request(cb, nil)
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(ctx)
	defer stop.Store(true)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()

	sent := make([]int64, b.N)
	delays := make([]time.Duration, b.N)
	go func() {
		runtime.LockOSThread() // a precise sender, like idlebench's
		for i := range b.N {
			time.Sleep(time.Millisecond)
			sent[i] = time.Now().UnixNano()
			if _, err := client.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	vol0 := ordinarySwitches()
	b.ResetTimer()
	buf := make([]byte, 1)
	for i := range b.N {
		if _, err := server.Read(buf); err != nil {
			b.Fatal(err)
		}
		delays[i] = time.Duration(time.Now().UnixNano() - atomic.LoadInt64(&sent[i]))
		fg.Inc()
		burnFor(200 * time.Microsecond)
		fg.Dec()
	}
	b.StopTimer()
	vol := switchesSince(vol0, ordinarySwitches())
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "arrival-p50-µs")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "arrival-p99-µs")
	b.ReportMetric(float64(vol)/float64(b.N), "vol-switches/op")
}

// burnFor burns CPU for about d of wall time.
func burnFor(d time.Duration) {
	var buf [256]byte
	for end := time.Now().Add(d); time.Now().Before(end); {
		sum := sha256.Sum256(buf[:])
		buf[0] ^= sum[0]
	}
}

// ordinarySwitches returns the voluntary context switches of each of this
// process's ordinary (not SCHED_IDLE) threads, by thread ID.
func ordinarySwitches() map[string]uint64 {
	dir, _ := os.ReadDir("/proc/self/task")
	n := make(map[string]uint64, len(dir))
	for _, d := range dir {
		st, _ := os.ReadFile("/proc/self/task/" + d.Name() + "/stat")
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 {
			if f := strings.Fields(string(st[i+1:])); len(f) > 38 && f[38] == strconv.Itoa(schedIdle) {
				continue
			}
		}
		status, _ := os.ReadFile("/proc/self/task/" + d.Name() + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				x, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				n[d.Name()] = x
			}
		}
	}
	return n
}

// switchesSince returns the switches between two ordinarySwitches
// readings, thread by thread: a thread that exited in between is not
// counted (its total would otherwise drop out of the sum, and the unsigned
// difference wrap around), a thread that started in between counts from 0.
func switchesSince(before, after map[string]uint64) uint64 {
	var n uint64
	for tid, x := range after {
		if x >= before[tid] {
			n += x - before[tid]
		}
	}
	return n
}

package idlebench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const rusageThread = 1 // RUSAGE_THREAD

// threadCPU returns the calling OS thread's CPU time (user + system). The
// caller must have locked its goroutine to the thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return rusageTime(&ru)
}

// processCPU returns this process's CPU time (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return rusageTime(&ru)
}

func rusageTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineTimes is the first line of /proc/stat, in time units.
type machineTimes struct {
	busy, idle, steal time.Duration
}

// readMachine returns the machine-wide CPU times; zero if unavailable.
func readMachine() machineTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}
	}
	var v [8]time.Duration // user nice system idle iowait irq softirq steal
	for i := range v {
		n, _ := strconv.ParseInt(f[i+1], 10, 64)
		v[i] = time.Duration(n) * (time.Second / 100)
	}
	return machineTimes{
		busy:  v[0] + v[1] + v[2] + v[5] + v[6],
		idle:  v[3] + v[4],
		steal: v[7],
	}
}

func (m machineTimes) sub(o machineTimes) machineTimes {
	return machineTimes{m.busy - o.busy, m.idle - o.idle, m.steal - o.steal}
}

// renice19 sets the calling thread's nice value to 19.
func renice19() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}

// sleepPrecise sleeps for d with nanosleep on the calling thread, which the
// caller has locked: a high-resolution timer, where Go's own timers round
// short sleeps up to the next millisecond when the process is otherwise
// idle.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// schedIdlePolicy is SCHED_IDLE, field 41 of /proc/<pid>/task/<tid>/stat.
const schedIdlePolicy = 5

// readThreadWait returns schedstat's run delay and time slices of each of
// this process's threads, and whether it is SCHED_IDLE; nil where
// unavailable.
func readThreadWait() map[string]threadWait {
	dir, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	out := make(map[string]threadWait, len(dir))
	for _, d := range dir {
		var tw threadWait
		st, err := os.ReadFile("/proc/self/task/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 {
			f := strings.Fields(string(st[i+1:])) // f[0] is field 3
			tw.schedIdle = len(f) > 38 && f[38] == strconv.Itoa(schedIdlePolicy)
		}
		ss, err := os.ReadFile("/proc/self/task/" + d.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(ss)) // run time, run delay, slices
		if len(f) < 3 {
			continue
		}
		wait, _ := strconv.ParseInt(f[1], 10, 64)
		slices, _ := strconv.ParseUint(f[2], 10, 64)
		tw.wait, tw.slices = time.Duration(wait), slices
		if status, err := os.ReadFile("/proc/self/task/" + d.Name() + "/status"); err == nil {
			for _, line := range strings.Split(string(status), "\n") {
				k, v, _ := strings.Cut(line, ":")
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				switch k {
				case "voluntary_ctxt_switches":
					tw.vol = n
				case "nonvoluntary_ctxt_switches":
					tw.inv = n
				}
			}
		}
		out[d.Name()] = tw
	}
	return out
}

// loadAvg returns the 1-minute load average from /proc/loadavg, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// threadUsage returns the calling thread's CPU time and involuntary
// context switches. The caller has locked its goroutine to the thread.
func threadUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, 0
	}
	return rusageTime(&ru), ru.Nivcsw
}

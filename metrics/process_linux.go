package metrics

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// userHZ is the unit of the clock-tick fields of /proc/self/stat.
const userHZ = 100

// appendProcessMetrics appends the process_* families, leaving out those
// that cannot be read.
func appendProcessMetrics(b []byte) []byte {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		b = appendFloatFamily(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", cpu)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		b = appendUintFamily(b, "process_max_fds", "Maximum number of open file descriptors.", "gauge", rl.Cur)
	}
	if n, err := openFDs(); err == nil {
		b = appendUintFamily(b, "process_open_fds", "Number of open file descriptors.", "gauge", uint64(n))
	}
	st, err := readStat()
	if err != nil {
		return b
	}
	b = appendUintFamily(b, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", st.rss*uint64(os.Getpagesize()))
	if boot, err := bootTime(); err == nil {
		start := float64(boot) + float64(st.startTicks)/userHZ
		b = appendFloatFamily(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", start)
	}
	return appendUintFamily(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", st.vsize)
}

// procStat holds the fields of /proc/self/stat the metrics use.
type procStat struct {
	startTicks uint64 // clock ticks after boot
	vsize      uint64 // bytes
	rss        uint64 // pages
}

var errProcStat = errors.New("metrics: cannot parse /proc/self/stat")

func readStat() (procStat, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses: fields are counted from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, errProcStat
	}
	f := bytes.Fields(data[i+1:]) // f[k] is field k+3 of proc(5)
	if len(f) < 22 {
		return procStat{}, errProcStat
	}
	var st procStat
	for _, v := range []struct {
		dst *uint64
		k   int
	}{{&st.startTicks, 19}, {&st.vsize, 20}, {&st.rss, 21}} {
		if *v.dst, err = strconv.ParseUint(string(f[v.k]), 10, 64); err != nil {
			return procStat{}, errProcStat
		}
	}
	return st, nil
}

// boot caches the boot time, which does not change.
var boot struct {
	once sync.Once
	secs uint64
	err  error
}

// bootTime returns the boot time in seconds since the epoch, from the
// btime line of /proc/stat.
func bootTime() (uint64, error) {
	boot.once.Do(func() {
		boot.err = errors.New("metrics: no btime in /proc/stat")
		data, err := os.ReadFile("/proc/stat")
		if err != nil {
			boot.err = err
			return
		}
		for line := range bytes.Lines(data) {
			if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
				boot.secs, boot.err = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
				return
			}
		}
	})
	return boot.secs, boot.err
}

// openFDs counts the entries of /proc/self/fd (the directory's own
// descriptor included, as client_golang counts).
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}

package idle

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// Defaults of CPUConfig.
const (
	// DefaultCPUInterval is the sampling interval when Interval is 0.
	DefaultCPUInterval = 100 * time.Millisecond
	// DefaultCPUThreshold is the busy threshold when Threshold is 0: half
	// of the cores.
	DefaultCPUThreshold = 0.5
)

// CPUScope says whose CPU use a CPU source measures.
type CPUScope int

const (
	// CPUProcess measures this process, from /proc/self/stat.
	CPUProcess CPUScope = iota
	// CPUCgroup measures the process's cgroup — the container, with every
	// other process in it — from cpu.stat (cgroup v2) or cpuacct.usage
	// (cgroup v1).
	CPUCgroup
)

// CPUConfig configures a CPU source. The zero value is valid.
type CPUConfig struct {
	// Scope selects what is measured. Default: CPUProcess.
	Scope CPUScope
	// Interval is the time between samples. 0: DefaultCPUInterval.
	Interval time.Duration
	// Threshold is the fraction of Cores above which the measured use
	// counts as busy. 0: DefaultCPUThreshold.
	Threshold float64
	// Cores is the CPU capacity use is compared to. 0: the smaller of
	// runtime.NumCPU() and runtime.GOMAXPROCS(0) (which follows the
	// cgroup's CPU limit).
	Cores float64
	// FS is where /proc and /sys are read from. nil: the root file system.
	// Tests give a fake.
	FS fs.FS
	// Clock times the samples. nil: clock.Real.
	Clock clock.Clock
}

// CPU is a LoadSource that samples CPU use every interval and is busy when
// the use over the last interval, minus the time the scheduler's own
// callbacks took, exceeded Threshold × Cores. It suits foreground work that
// no other source sees (batch jobs, other processes in the container); it
// reacts within an interval, not at once like InFlight or Counter. It
// samples only while a started Scheduler watches it.
type CPU struct {
	read      func() (time.Duration, error)
	interval  time.Duration
	limit     float64 // busy above this many cores
	clock     clock.Clock
	busy      atomic.Bool
	w         watchers
	mu        sync.Mutex  // guards the sampler below
	timer     clock.Timer // nil while not sampling
	gen       int         // bumped by every start, so a stale timer stops
	prevAt    time.Time
	prevUse   time.Duration
	prevExcl  time.Duration
	exclude   func() time.Duration
	lastError error
}

// NewCPU returns a CPU source. It fails if the usage file cannot be read
// (not Linux, no /proc, no cgroup accounting): leave the source out then.
func NewCPU(cfg *CPUConfig) (*CPU, error) {
	if cfg == nil {
		cfg = &CPUConfig{}
	}
	if cfg.Interval < 0 || cfg.Threshold < 0 || cfg.Cores < 0 {
		return nil, errors.New("idle: CPUConfig.Interval, Threshold and Cores must not be negative")
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	c := &CPU{
		interval: cmp0(cfg.Interval, DefaultCPUInterval),
		clock:    clock.OrReal(cfg.Clock),
		exclude:  func() time.Duration { return 0 },
	}
	c.limit = cmp0(cfg.Threshold, DefaultCPUThreshold) * cmp0(cfg.Cores, float64(min(runtime.NumCPU(), runtime.GOMAXPROCS(0))))
	switch cfg.Scope {
	case CPUProcess:
		c.read = func() (time.Duration, error) { return readProcStat(fsys) }
	case CPUCgroup:
		c.read = func() (time.Duration, error) { return readCgroupUsage(fsys) }
	default:
		return nil, fmt.Errorf("idle: CPUConfig.Scope %d is unknown", cfg.Scope)
	}
	if _, err := c.read(); err != nil {
		return nil, fmt.Errorf("idle: CPU source: %w", err)
	}
	c.w.onFirst, c.w.onLast = c.startSampling, c.stopSampling
	return c, nil
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Busy reports whether the last interval's use was above the threshold.
func (c *CPU) Busy() bool { return c.busy.Load() }

// NextBusy returns false: CPU use says nothing about the future.
func (c *CPU) NextBusy() (time.Time, bool) { return time.Time{}, false }

// Watch registers f to be called when Busy flips. The first watcher
// starts the sampler; when the last leaves it stops.
func (c *CPU) Watch(f func()) (stop func()) { return c.w.add(f) }

// Err returns the last error reading the usage file, if the last sample
// failed (the source then keeps its previous state).
func (c *CPU) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastError
}

func (c *CPU) excludeCallbackTime(f func() time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exclude = f
}

func (c *CPU) startSampling() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prevAt, c.prevExcl = c.clock.Now(), c.exclude()
	c.prevUse, c.lastError = c.read()
	c.gen++
	gen := c.gen
	c.timer = c.clock.AfterFunc(c.interval, func() { c.sample(gen) })
}

func (c *CPU) stopSampling() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.busy.Swap(false) {
		c.w.notify()
	}
}

// sample takes one sample and re-arms the timer, unless sampling stopped
// or restarted meanwhile.
func (c *CPU) sample(gen int) {
	c.mu.Lock()
	if c.timer == nil || c.gen != gen {
		c.mu.Unlock()
		return
	}
	now, excl := c.clock.Now(), c.exclude()
	use, err := c.read()
	c.lastError = err
	flipped := false
	if err == nil {
		wall := now.Sub(c.prevAt)
		fg := (use - c.prevUse) - (excl - c.prevExcl)
		if wall > 0 {
			busy := fg.Seconds()/wall.Seconds() > c.limit
			flipped = c.busy.Swap(busy) != busy
		}
		c.prevAt, c.prevUse, c.prevExcl = now, use, excl
	}
	c.timer.Reset(c.interval)
	c.mu.Unlock()
	if flipped {
		c.w.notify()
	}
}

// userHZ is the unit of the times in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports (the kernel's USER_HZ, not CONFIG_HZ).
const userHZ = 100

// readProcStat returns the process's CPU time (user + system) from
// proc/self/stat.
func readProcStat(fsys fs.FS) (time.Duration, error) {
	b, err := fs.ReadFile(fsys, "proc/self/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/<pid>/stat: "pid (comm) state ppid ..." where
// comm may hold spaces and parentheses, utime and stime are the 14th and
// 15th fields, in clock ticks.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// readCgroupUsage returns the CPU time used by the process's cgroup: from
// cpu.stat's usage_usec under cgroup v2, else from cpuacct.usage under v1.
func readCgroupUsage(fsys fs.FS) (time.Duration, error) {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	v2, v1 := parseProcCgroup(b)
	var errs []error
	if v2 != "" {
		// Unified hierarchy, or hybrid with v2 mounted at unified/.
		for _, mnt := range []string{".", "unified"} {
			b, err := fs.ReadFile(fsys, path.Join("sys/fs/cgroup", mnt, v2, "cpu.stat"))
			if err == nil {
				return parseCPUStat(b)
			}
			errs = append(errs, err)
		}
	}
	if v1 != "" {
		for _, mnt := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
			b, err := fs.ReadFile(fsys, path.Join("sys/fs/cgroup", mnt, v1, "cpuacct.usage"))
			if err == nil {
				n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("cpuacct.usage: %w", err)
				}
				return time.Duration(n), nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return 0, errors.New("proc/self/cgroup names no cgroup v2 path and no cpuacct controller")
	}
	return 0, errors.Join(errs...)
}

// parseProcCgroup returns the cgroup v2 path ("0::/path") and the v1
// cpuacct path ("N:cpu,cpuacct:/path") of /proc/self/cgroup.
func parseProcCgroup(b []byte) (v2, v1 string) {
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = strings.TrimPrefix(parts[2], "/")
			if v2 == "" {
				v2 = "."
			}
		case hasController(parts[1], "cpuacct"):
			v1 = strings.TrimPrefix(parts[2], "/")
			if v1 == "" {
				v1 = "."
			}
		}
	}
	return v2, v1
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// parseCPUStat returns usage_usec of a cgroup v2 cpu.stat file.
func parseCPUStat(b []byte) (time.Duration, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat: %w", err)
			}
			return time.Duration(n) * time.Microsecond, nil
		}
	}
	return 0, errors.New("cpu.stat: no usage_usec line")
}

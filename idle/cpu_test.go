package idle_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/idle"
)

// procStat returns a /proc/self/stat line with the given utime and stime
// (in ticks of 10 ms) and a command name that tries to confuse a parser.
func procStat(utime, stime int) *fstest.MapFile {
	line := fmt.Sprintf("4242 (my (odd) proc) R 1 4242 4242 0 -1 4194304 98 0 0 0 %d %d 0 0 20 0 7 0 54371 3133440 361 18446744073709551615\n", utime, stime)
	return &fstest.MapFile{Data: []byte(line)}
}

func newFakeCPU(t *testing.T, fsys fstest.MapFS, clk clock.Clock, scope idle.CPUScope) *idle.CPU {
	t.Helper()
	c, err := idle.NewCPU(&idle.CPUConfig{Scope: scope, FS: fsys, Clock: clk, Cores: 2, Threshold: 0.5})
	if err != nil {
		t.Fatalf("NewCPU: %v", err)
	}
	return c
}

func TestCPUProcessBusyAboveThreshold(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	fsys := fstest.MapFS{"proc/self/stat": procStat(100, 50)}
	c := newFakeCPU(t, fsys, clk, idle.CPUProcess)
	var notified atomic.Int32
	stop := c.Watch(func() { notified.Add(1) })
	// Busy above 0.5 × 2 cores = 1 core.
	steps := []struct {
		utime, stime int
		busy         bool
	}{
		{110, 55, true},  // 150 ms in 100 ms: 1.5 cores
		{115, 58, false}, // 80 ms: 0.8 cores
		{125, 59, true},  // 110 ms
		{125, 59, false}, // nothing
	}
	for i, st := range steps {
		fsys["proc/self/stat"] = procStat(st.utime, st.stime)
		clk.Advance(idle.DefaultCPUInterval)
		if got := c.Busy(); got != st.busy {
			t.Fatalf("step %d: Busy() = %t, want %t", i, got, st.busy)
		}
		if err := c.Err(); err != nil {
			t.Fatalf("step %d: Err() = %v", i, err)
		}
	}
	if got := notified.Load(); got != 4 {
		t.Fatalf("notifications = %d, want 4 (one per flip)", got)
	}
	stop()
	if n := clk.Timers(); n != 0 {
		t.Fatalf("sampler timers after the last watcher left = %d, want 0", n)
	}
}

func TestCPUStopsBusyWhenUnwatched(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	fsys := fstest.MapFS{"proc/self/stat": procStat(0, 0)}
	c := newFakeCPU(t, fsys, clk, idle.CPUProcess)
	stop := c.Watch(func() {})
	fsys["proc/self/stat"] = procStat(20, 0)
	clk.Advance(idle.DefaultCPUInterval)
	if !c.Busy() {
		t.Fatal("not busy at 2 cores")
	}
	stop()
	if c.Busy() {
		t.Fatal("a source nobody samples stays busy")
	}
}

func TestCPUReadErrorKeepsState(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	fsys := fstest.MapFS{"proc/self/stat": procStat(0, 0)}
	c := newFakeCPU(t, fsys, clk, idle.CPUProcess)
	defer c.Watch(func() {})()
	fsys["proc/self/stat"] = &fstest.MapFile{Data: []byte("garbage")}
	clk.Advance(idle.DefaultCPUInterval)
	if c.Err() == nil || c.Busy() {
		t.Fatalf("after a bad sample: Err()=%v Busy()=%t, want an error and false", c.Err(), c.Busy())
	}
	fsys["proc/self/stat"] = procStat(30, 0)
	clk.Advance(idle.DefaultCPUInterval)
	if c.Err() != nil || !c.Busy() {
		t.Fatalf("after a good sample: Err()=%v Busy()=%t, want nil and true", c.Err(), c.Busy())
	}
}

func TestCPUCgroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
	}{
		{"v2", fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte("0::/app.slice/x.service\n")},
			"sys/fs/cgroup/app.slice/x.service/cpu.stat": {Data: []byte("usage_usec 1000000\nuser_usec 1\n")},
		}},
		{"hybrid v2", fstest.MapFS{
			"proc/self/cgroup":                   {Data: []byte("1:cpu:/\n0::/app\n")},
			"sys/fs/cgroup/unified/app/cpu.stat": {Data: []byte("usage_usec 1000000\n")},
		}},
		{"v1", fstest.MapFS{
			"proc/self/cgroup": {Data: []byte("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")},
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage": {Data: []byte("1000000000\n")},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			c := newFakeCPU(t, tc.fsys, clk, idle.CPUCgroup)
			defer c.Watch(func() {})()
			// Add 150 ms of use in 100 ms: busy.
			for name, f := range tc.fsys {
				switch {
				case strings.HasSuffix(name, "cpu.stat"):
					tc.fsys[name] = &fstest.MapFile{Data: []byte("usage_usec 1150000\n")}
				case strings.HasSuffix(name, "cpuacct.usage"):
					tc.fsys[name] = &fstest.MapFile{Data: []byte("1150000000\n")}
				default:
					_ = f
				}
			}
			clk.Advance(idle.DefaultCPUInterval)
			if !c.Busy() || c.Err() != nil {
				t.Fatalf("Busy()=%t Err()=%v, want true nil", c.Busy(), c.Err())
			}
		})
	}
}

func TestNewCPUFailsWithoutUsageFile(t *testing.T) {
	t.Parallel()
	for _, scope := range []idle.CPUScope{idle.CPUProcess, idle.CPUCgroup} {
		if _, err := idle.NewCPU(&idle.CPUConfig{Scope: scope, FS: fstest.MapFS{}}); err == nil {
			t.Fatalf("scope %d: NewCPU on an empty file system succeeded", scope)
		}
	}
	if _, err := idle.NewCPU(&idle.CPUConfig{Threshold: -1}); err == nil {
		t.Fatal("negative threshold accepted")
	}
}

// The idle work's own CPU time must not make the process look busy: the
// source subtracts the time the scheduler's callbacks took.
func TestCPUExcludesCallbackTime(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	fsys := fstest.MapFS{"proc/self/stat": procStat(0, 0)}
	cpu := newFakeCPU(t, fsys, clk, idle.CPUProcess)
	e := setup(t, func(c *idle.Config) {
		c.Clock = clk
		c.Sources = []idle.LoadSource{cpu}
	})
	var busyDuring bool
	e.s.Request(e.rec.cb("burn", func(d idle.Deadline) {
		fsys["proc/self/stat"] = procStat(20, 0) // 200 ms of CPU: 2 cores
		clk.Advance(idle.DefaultCPUInterval)     // the sample lands mid-callback
		busyDuring = cpu.Busy()
	}), nil)
	e.rec.next(t)
	if busyDuring {
		t.Fatal("the callback's own CPU use made the source busy")
	}
	// The same use outside callbacks is foreground load. The callback's
	// end reaches the source from the scheduler's goroutine after the
	// recorder saw the callback, so the first sample may still fall in it:
	// use of 2 cores that goes on must be busy within a few samples.
	busy := false
	for i := 0; i < 100 && !busy; i++ {
		fsys["proc/self/stat"] = procStat(40+20*i, 0)
		clk.Advance(idle.DefaultCPUInterval)
		if busy = cpu.Busy(); !busy {
			time.Sleep(time.Millisecond)
		}
	}
	if !busy {
		t.Fatal("foreground use of 2 cores is not busy")
	}
}

func TestCPUOnThisSystem(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	for _, scope := range []idle.CPUScope{idle.CPUProcess, idle.CPUCgroup} {
		c, err := idle.NewCPU(&idle.CPUConfig{Scope: scope})
		if err != nil {
			t.Fatalf("scope %d: %v", scope, err)
		}
		s, err := idle.New(&idle.Config{Sources: []idle.LoadSource{c}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s.Start(ctx)
		ran := make(chan struct{})
		s.Request(func(idle.Deadline) { close(ran) }, &idle.RequestOpts{Timeout: failsafe / 2})
		select {
		case <-ran:
		case <-time.After(failsafe):
			t.Fatal("callback did not run")
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

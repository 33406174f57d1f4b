package metrics_test

import (
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bgtask/bgtask/metrics"
)

func TestProcessFamilies(t *testing.T) {
	t.Parallel()
	text := scrape(t, metrics.Process{})
	lint(t, text)
	mfs := parse(t, text)
	names := []string{
		"go_goroutines", "go_info", "go_memstats_alloc_bytes_total", "go_memstats_heap_alloc_bytes",
		"go_memstats_heap_objects", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes",
		"go_sched_gomaxprocs_threads", "go_threads",
	}
	if runtime.GOOS == "linux" {
		names = append(names, "process_cpu_seconds_total", "process_max_fds", "process_open_fds",
			"process_resident_memory_bytes", "process_start_time_seconds", "process_virtual_memory_bytes")
	}
	got := families(mfs)
	if diff := cmp.Diff(names, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}

	// Same names, types and help texts as client_golang's collectors, so
	// dashboards built on them keep working.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	theirs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range theirs {
		if ours, ok := got[mf.GetName()]; ok {
			if want := mf.GetType().String() + " " + mf.GetHelp(); ours != want {
				t.Errorf("%s: %q, client_golang has %q", mf.GetName(), ours, want)
			}
			delete(got, mf.GetName())
		}
	}
	if len(got) > 0 {
		t.Errorf("families client_golang does not have: %v", got)
	}
}

func TestProcessValues(t *testing.T) {
	t.Parallel()
	s := samples(parse(t, scrape(t, metrics.Process{})))
	if got := s["go_goroutines{}"]; got < 1 {
		t.Errorf("go_goroutines = %v, want at least 1", got)
	}
	if got := s[`go_info{version="`+runtime.Version()+`"}`]; got != 1 {
		t.Errorf("go_info{version=%q} = %v, want 1", runtime.Version(), got)
	}
	if got := s["go_memstats_heap_alloc_bytes{}"]; got <= 0 {
		t.Errorf("go_memstats_heap_alloc_bytes = %v, want > 0", got)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if got := s["process_resident_memory_bytes{}"]; got < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want at least 1 MiB", got)
	}
	if got := s["process_open_fds{}"]; got < 3 || got > s["process_max_fds{}"] {
		t.Errorf("process_open_fds = %v, want 3..process_max_fds (%v)", got, s["process_max_fds{}"])
	}
	// The test binary started a moment ago; /proc counts in 10 ms ticks.
	start := time.Unix(0, int64(s["process_start_time_seconds{}"]*1e9))
	if age := time.Since(start); age < -time.Second || age > 10*time.Minute {
		t.Errorf("process_start_time_seconds = %v: process age %v", start, age)
	}
	before := s["process_cpu_seconds_total{}"]
	spins := 0
	for t0 := time.Now(); time.Since(t0) < 20*time.Millisecond; {
		spins++
	}
	after := samples(parse(t, scrape(t, metrics.Process{})))["process_cpu_seconds_total{}"]
	if after <= before {
		t.Errorf("process_cpu_seconds_total went from %v to %v across 20 ms of spinning (%d spins)", before, after, spins)
	}
}

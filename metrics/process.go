package metrics

import (
	"io"
	"runtime"
)

// Process writes a small set of metrics about the current process and its
// Go runtime, read when written (nothing is computed at init or between
// scrapes), under the names client_golang's Go and process collectors use:
//
//	go_goroutines, go_info{version}, go_threads,
//	go_memstats_alloc_bytes_total, go_memstats_heap_alloc_bytes,
//	go_memstats_heap_objects, go_memstats_next_gc_bytes,
//	go_memstats_sys_bytes, go_sched_gomaxprocs_threads,
//	process_cpu_seconds_total, process_max_fds, process_open_fds,
//	process_resident_memory_bytes, process_start_time_seconds,
//	process_virtual_memory_bytes
//
// The process_* metrics are Linux-only (read from /proc); a value that
// cannot be read is left out. Use it as Handler(hook, Process{}).
type Process struct{}

// WriteTo writes the metrics to w in the Prometheus text exposition
// format, families sorted by name. It implements io.WriterTo.
func (Process) WriteTo(w io.Writer) (int64, error) {
	b := appendGoMetrics(nil)
	b = appendProcessMetrics(b)
	n, err := w.Write(b)
	return int64(n), err
}

func appendGoMetrics(b []byte) []byte {
	b = appendUintFamily(b, "go_goroutines", "Number of goroutines that currently exist.", "gauge", uint64(runtime.NumGoroutine()))
	b = appendHeader(b, "go_info", "Information about the Go environment.", "gauge")
	b = append(b, "go_info{"...)
	b = append(appendLabel(b, "version", runtime.Version()), "} 1\n"...)

	// ReadMemStats stops the world for some microseconds, once a scrape;
	// runtime/metrics would not, but its init costs every process about
	// 0.1 ms.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range []struct {
		name, help, typ string
		v               uint64
	}{
		{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", "counter", ms.TotalAlloc},
		{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", "gauge", ms.HeapAlloc},
		{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", "gauge", ms.HeapObjects},
		{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", "gauge", ms.NextGC},
		{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", "gauge", ms.Sys},
		{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", "gauge", uint64(runtime.GOMAXPROCS(0))},
	} {
		b = appendUintFamily(b, m.name, m.help, m.typ, m.v)
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	return appendUintFamily(b, "go_threads", "Number of OS threads created.", "gauge", uint64(threads))
}

// appendUintFamily appends a family of one unlabelled series.
func appendUintFamily(b []byte, name, help, typ string, v uint64) []byte {
	b = appendHeader(b, name, help, typ)
	b = append(append(b, name...), ' ')
	return appendUint(b, v)
}

// appendFloatFamily appends a family of one unlabelled series.
func appendFloatFamily(b []byte, name, help, typ string, v float64) []byte {
	b = appendHeader(b, name, help, typ)
	b = append(append(b, name...), ' ')
	return append(appendFloat(b, v), '\n')
}

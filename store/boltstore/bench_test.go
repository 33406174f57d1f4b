//go:build linux

package boltstore_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/storetest"
)

// The benchmarks use durable writes on a file in the OS temp dir, 100-byte
// arguments, and report the figures docs/store.md quotes:
//
//	go test -run '^$' -bench . -benchtime 20000x ./store/boltstore

var arg100 = strings.Repeat("a", 100)

func benchStore(b *testing.B) *boltstore.Store {
	b.Helper()
	s, err := boltstore.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// cpuTime returns the user+system CPU time of this process so far. It is
// reported per operation because, on a shared machine, wall-clock
// throughput depends on the neighbours while CPU time per task does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration, ops int) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(ops), "cpu-µs/op")
}

// reportBatching reports the mean number of calls per commit.
func reportBatching(b *testing.B, s *boltstore.Store, before boltstore.Stats) {
	st := s.Stats()
	if n := st.Commits - before.Commits; n > 0 {
		b.ReportMetric(float64(st.Ops-before.Ops)/float64(n), "calls/commit")
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

func benchClaim(limit int) store.ClaimParams {
	return store.ClaimParams{Owner: "bench", Incarnation: "bench/1", Names: []string{"noop"}, Limit: limit}
}

// BenchmarkInsertSingle: one caller, one durable insert at a time.
func BenchmarkInsertSingle(b *testing.B) {
	s := benchStore(b)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		r := storetest.NewRecord("noop", arg100)
		t0 := time.Now()
		if _, err := s.Insert(b.Context(), []*store.Record{r}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(percentile(lat, .5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, .95).Microseconds()), "p95-µs")
	b.ReportMetric(float64(percentile(lat, .99).Microseconds()), "p99-µs")
}

// BenchmarkInsertThenClaim: at low load, the time from a single Insert of
// a queued record to the Claim that takes it (two durable commits). A
// manager with a free worker slot can instead Insert the record already
// owned (one commit: BenchmarkInsertSingle).
func BenchmarkInsertThenClaim(b *testing.B) {
	s := benchStore(b)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		r := storetest.NewRecord("noop", arg100)
		t0 := time.Now()
		if _, err := s.Insert(b.Context(), []*store.Record{r}); err != nil {
			b.Fatal(err)
		}
		cl, err := s.Claim(b.Context(), benchClaim(100))
		if err != nil || len(cl) != 1 {
			b.Fatalf("Claim = %d records, %v", len(cl), err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(percentile(lat, .5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, .95).Microseconds()), "p95-µs")
	b.ReportMetric(float64(percentile(lat, .99).Microseconds()), "p99-µs")
}

// BenchmarkInsertSingleConcurrent: 100 callers inserting one record each
// at a time; group commit shares each fsync among them.
func BenchmarkInsertSingleConcurrent(b *testing.B) {
	s := benchStore(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	start, cpu, st := time.Now(), cpuTime(), s.Stats()
	for range 100 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Insert(b.Context(), []*store.Record{storetest.NewRecord("noop", arg100)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inserts/s")
	reportCPU(b, cpu, b.N)
	reportBatching(b, s, st)
}

// BenchmarkInsertBatch1000: Insert of 1000-record batches; b.N counts
// records.
func BenchmarkInsertBatch1000(b *testing.B) {
	s := benchStore(b)
	start, cpu := time.Now(), cpuTime()
	for n := 0; n < b.N; n += 1000 {
		recs := make([]*store.Record, min(1000, b.N-n))
		for i := range recs {
			recs[i] = storetest.NewRecord("noop", arg100)
		}
		if _, err := s.Insert(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	reportCPU(b, cpu, b.N)
}

// BenchmarkClaimFinish drains b.N queued records the way the manager does:
// one claimer takes up to 100 at a time, and 100 (the manager's default
// worker count) or 400 workers finish one record each.
func BenchmarkClaimFinish(b *testing.B) {
	for _, workers := range []int{100, 400} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			s := benchStore(b)
			insertQueued(b, s, b.N)
			b.ResetTimer()
			start, cpu, st := time.Now(), cpuTime(), s.Stats()
			drain(b, s, b.N, workers)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
			reportCPU(b, cpu, b.N)
			reportBatching(b, s, st)
		})
	}
}

func insertQueued(b *testing.B, s *boltstore.Store, n int) {
	b.Helper()
	for done := 0; done < n; done += 1000 {
		recs := make([]*store.Record, min(1000, n-done))
		for i := range recs {
			recs[i] = storetest.NewRecord("noop", arg100)
		}
		if _, err := s.Insert(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// drain claims and finishes n records with the given number of workers.
func drain(b *testing.B, s *boltstore.Store, n, workers int) {
	b.Helper()
	work := make(chan store.Lease, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for l := range work {
				res, err := s.Finish(b.Context(), []store.Completion{{Lease: l, State: store.Success}})
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for claimed := 0; claimed < n; {
		cl, err := s.Claim(b.Context(), benchClaim(100))
		if err != nil {
			b.Fatal(err)
		}
		if len(cl) == 0 {
			b.Fatalf("queue empty after %d of %d", claimed, n)
		}
		for _, c := range cl {
			work <- c.Lease
		}
		claimed += len(cl)
	}
	close(work)
	wg.Wait()
}

// BenchmarkFlowWithRetention pushes b.N tasks through insert (batches of
// 1000), claim, finish and retention (keeping the last two generations)
// and reports RSS (peak and halfway) and the final file size. Run it with
// -benchtime 1000000x for the "RSS flat" figure.
func BenchmarkFlowWithRetention(b *testing.B) {
	s := benchStore(b)
	start, cpu := time.Now(), cpuTime()
	var rss []int64
	var prevGen time.Time
	for done := 0; done < b.N; done += 10_000 {
		gen := time.Now()
		n := min(10_000, b.N-done)
		insertQueued(b, s, n)
		drain(b, s, n, 100)
		// Retention keeps the last two generations (up to 20,000
		// finished records), as a janitor with a short retention would.
		if _, err := s.DeleteFinished(b.Context(), time.Since(prevGen), 1_000_000); err != nil {
			b.Fatal(err)
		}
		prevGen = gen
		rss = append(rss, rssKB())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
	reportCPU(b, cpu, b.N)
	b.ReportMetric(float64(slices.Max(rss))/1024, "peak-rss-MB")
	if len(rss) > 2 {
		b.ReportMetric(float64(rss[len(rss)/2])/1024, "mid-rss-MB")
	}
	fi, err := os.Stat(s.Path())
	if err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
	}
}

// rssKB returns the resident set size of this process in KiB (Linux).
func rssKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

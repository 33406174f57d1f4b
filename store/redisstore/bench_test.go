package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/redis/go-redis/v9"
)

// roundTrips counts the requests a client sends (a pipeline is one).
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchStore opens a store on a fresh private Redis and counts its round
// trips.
func benchStore(b *testing.B) (*Store, *roundTrips, *redistest.Server) {
	b.Helper()
	srv := redistest.Start(b, nil)
	s, err := New(context.Background(), srv.URL(0), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rt := &roundTrips{}
	s.rdb.AddHook(rt)
	return s, rt, srv
}

// payload is the 100-byte argument of bench/compare's tasks.
var payload = `{"user":"u-000123","action":"send_welcome_email","template":"welcome_v2","locale":"en","n":00001}`

func queued(n int) []*store.Record {
	rs := make([]*store.Record, n)
	for i := range rs {
		rs[i] = storetest.NewRecord("job", payload)
	}
	return rs
}

// BenchmarkRoundTripsSingle: one task at a time, as a lightly loaded
// manager runs it: Insert (owned by the submitting server, which has a
// free slot), one progress Update, Finish. Reports round trips per task.
func BenchmarkRoundTripsSingle(b *testing.B) {
	s, rt, _ := benchStore(b)
	ctx := context.Background()
	if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := redisCPU(b, s)
	rt.n.Store(0)
	b.ResetTimer()
	for range b.N {
		r := storetest.Owned("job", "web-1", "web-1/1")
		r.Args = []string{payload}
		res, err := s.Insert(ctx, []*store.Record{r})
		if err != nil {
			b.Fatal(err)
		}
		l := res[0].Lease
		if _, err := s.Update(ctx, []store.Patch{{Lease: l, Progress: &store.Progress{Current: 1, Total: 1}}}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Finish(ctx, []store.Completion{{Lease: l, State: store.Success}}); err != nil {
			b.Fatal(err)
		}
	}
	trips := rt.n.Load()
	b.ReportMetric((redisCPU(b, s)-cpu0)/float64(b.N), "redis-cpu-µs/task")
	us, cmds := redisCost(b, s)
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/task")
	b.ReportMetric(us/float64(b.N), "redis-µs/task")
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/task")
}

// BenchmarkRoundTripsDrain: b.N queued tasks (inserted 1000 per call,
// not timed) drained by 4 servers, each claiming up to 100 at a time,
// finishing what it claimed in one call and renewing its leases once per
// claim (a heartbeat far more often than every 5 s). Reports round trips
// per task and tasks/s.
func BenchmarkRoundTripsDrain(b *testing.B) {
	s, rt, _ := benchStore(b)
	ctx := context.Background()
	for left := b.N; left > 0; left -= 1000 {
		if _, err := s.Insert(ctx, queued(min(left, 1000))); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := redisCPU(b, s)
	rt.n.Store(0)
	b.ResetTimer()
	start := time.Now()
	var done atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			id := "web-" + strconv.Itoa(w)
			p := store.ClaimParams{Owner: id, Incarnation: id + "/1", Names: []string{"job"}, Limit: 100}
			for range b.N {
				cl, err := s.Claim(ctx, p)
				if err != nil {
					b.Error(err)
					return
				}
				if len(cl) == 0 {
					return
				}
				leases := make([]store.Lease, len(cl))
				cs := make([]store.Completion, len(cl))
				for i, c := range cl {
					leases[i] = c.Lease
					cs[i] = store.Completion{Lease: c.Lease, State: store.Success}
				}
				if _, err := s.Renew(ctx, leases); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Finish(ctx, cs); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(cl)))
			}
		})
	}
	wg.Wait()
	if int(done.Load()) != b.N {
		b.Fatalf("drained %d of %d", done.Load(), b.N)
	}
	trips := rt.n.Load()
	b.ReportMetric((redisCPU(b, s)-cpu0)/float64(b.N), "redis-cpu-µs/task")
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/task")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
	us, cmds := redisCost(b, s)
	b.ReportMetric(us/float64(b.N), "redis-µs/task")
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/task")
}

// redisCost returns what Redis spent on the store's function calls since
// the last CONFIG RESETSTAT: microseconds, and the commands the functions
// ran (a cost that does not depend on the machine's load).
func redisCost(b *testing.B, s *Store) (micros float64, commands int) {
	b.Helper()
	var perCmd []string
	var inner float64
	info, err := s.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		var calls int
		var usec float64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				calls, _ = strconv.Atoi(v)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
		switch {
		case name == "fcall":
			micros = usec
		case name == "info" || strings.HasPrefix(name, "config"):
		default:
			commands += calls
			inner += usec
			perCmd = append(perCmd, fmt.Sprintf("%s %d (%.0f µs)", name, calls, usec))
		}
	}
	b.Logf("commands run by the functions: %s; the functions' own Lua: %.0f µs", strings.Join(perCmd, ", "), micros-inner)
	return micros, commands
}

// BenchmarkMemory stores BGTASK_MEMORY_TASKS tasks (default 1,000,000),
// each with bench/compare's 100-byte argument, runs and finishes them all
// (so that they are finished records within retention, the log at its
// default bound of 100,000 entries), and reports Redis' used_memory per
// task and what each key costs (MEMORY USAGE). Then it deletes them all
// (DeleteFinished) and reports what is left. Run it alone:
//
//	go test -run XXX -bench Memory -benchtime 1x ./store/redisstore/
func BenchmarkMemory(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BGTASK_MEMORY_TASKS")); err == nil && v > 0 {
		n = v
	}
	s, _, _ := benchStore(b)
	ctx := context.Background()
	base := usedMemory(b, s)
	for left := n; left > 0; left -= 1000 {
		if _, err := s.Insert(ctx, queued(min(left, 1000))); err != nil {
			b.Fatal(err)
		}
	}
	queuedMem := usedMemory(b, s)
	p := store.ClaimParams{Owner: "web-1", Incarnation: "web-1/1", Names: []string{"job"}, Limit: 500}
	for range n {
		cl, err := s.Claim(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if len(cl) == 0 {
			break
		}
		cs := make([]store.Completion, len(cl))
		for i, c := range cl {
			cs[i] = store.Completion{Lease: c.Lease, State: store.Success}
		}
		if _, err := s.Finish(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
	c, err := s.Counts(ctx)
	if err != nil || c[store.Success] != n {
		b.Fatalf("Counts = %v, %v; want %d SUCCESS", c, err, n)
	}
	finished := usedMemory(b, s)
	b.ReportMetric(float64(queuedMem-base)/float64(n), "B/queued-task")
	b.ReportMetric(float64(finished-base)/float64(n), "B/finished-task")
	b.ReportMetric(float64(finished-base)/1e6, "MB-total")
	page, err := s.List(ctx, store.ListParams{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	id := page.Records[0].ID
	for _, k := range []string{"t:" + id, "ns:SUCCESS:job", "fin", "log"} {
		used, err := s.rdb.MemoryUsage(ctx, s.cfg.Prefix+k, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		name := strings.SplitN(k, ":", 2)[0]
		if name == "t" {
			b.ReportMetric(float64(used), "B/record-hash")
			continue
		}
		per, unit := float64(used)/float64(n), "entry"
		if name == "log" {
			per, unit = float64(used)/float64(DefaultLogMaxEvents), "event"
		}
		b.ReportMetric(per, "B/"+name+"-"+unit)
	}
	for left := n; left > 0; {
		got, err := s.DeleteFinished(ctx, -time.Hour, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		if got == 0 {
			break
		}
		left -= got
	}
	b.ReportMetric(float64(usedMemory(b, s)-base)/1e6, "MB-after-delete")
}

// redisCPU returns the CPU time, in microseconds, that Redis' process has
// used (INFO cpu: user + system, all threads): unlike the command times
// of INFO commandstats, which are wall-clock and grow when other
// processes take the core, it counts only Redis' own work.
func redisCPU(b *testing.B, s *Store) float64 {
	b.Helper()
	info, err := s.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f * 1e6
		}
	}
	return total
}

func usedMemory(b *testing.B, s *Store) int64 {
	b.Helper()
	info, err := s.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkRenew: one heartbeat of a server running 10 to 10,000 tasks
// (one Renew of all its leases: by digest, see Store.Renew), and with
// fallback=1 one Renew of all but one of them (the digest does not
// match: the heartbeat call, then every lease one by one). Reports round
// trips and Redis' time per heartbeat and per lease.
func BenchmarkRenew(b *testing.B) {
	for _, fallback := range []bool{false, true} {
		for _, n := range []int{10, 100, 1000, 10_000} {
			name := fmt.Sprintf("leases=%d", n)
			if fallback {
				name = fmt.Sprintf("fallback=1/leases=%d", n)
			}
			b.Run(name, func(b *testing.B) { benchRenew(b, n, fallback) })
		}
	}
}

func benchRenew(b *testing.B, n int, fallback bool) {
	s, rt, _ := benchStore(b)
	ctx := context.Background()
	leases := make([]store.Lease, 0, n)
	for left := n; left > 0; left -= 1000 {
		recs := make([]*store.Record, min(left, 1000))
		for i := range recs {
			recs[i] = storetest.Owned("job", "web-1", "web-1/1")
		}
		res, err := s.Insert(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			leases = append(leases, r.Lease)
		}
	}
	if fallback {
		leases = leases[1:]
	}
	if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := redisCPU(b, s)
	rt.n.Store(0)
	b.ResetTimer()
	for range b.N {
		res, err := s.Renew(ctx, leases)
		if err != nil || len(res.Lost) != 0 {
			b.Fatalf("Renew = %+v, %v", res, err)
		}
	}
	trips := rt.n.Load()
	cpu := redisCPU(b, s) - cpu0
	b.ReportMetric(cpu/float64(b.N), "redis-cpu-µs/heartbeat")
	b.ReportMetric(cpu/float64(b.N)/float64(n), "redis-cpu-µs/lease")
	us, cmds := redisCost(b, s)
	if used, err := s.rdb.MemoryUsage(ctx, s.cfg.Prefix+"l:web-1", 0).Result(); err == nil {
		b.ReportMetric(float64(used)/float64(n), "B/lease-entry")
	}
	b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/heartbeat")
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/heartbeat")
	b.ReportMetric(us/float64(b.N), "redis-µs/heartbeat")
	b.ReportMetric(us/float64(b.N)/float64(n), "redis-µs/lease")
}

// BenchmarkList: one page of 50 (List's dashboard page) over 20,000
// records of 1, 20 or 200 names, half of them finished (SUCCESS,
// FAILURE, CANCELLED in turn), without a filter and with a state filter.
// Records are indexed by state and name only, so a page without a name
// merges the sets of every name: reports the function's time in Redis
// per page (redis-µs/op).
func BenchmarkList(b *testing.B) {
	for _, names := range []int{1, 20, 200} {
		b.Run(fmt.Sprintf("names=%d", names), func(b *testing.B) {
			s, _, _ := benchStore(b)
			ctx := context.Background()
			states := []store.State{store.Success, store.Failure, store.Cancelled}
			const n = 20_000
			for lo := 0; lo < n; lo += 1000 {
				rs := make([]*store.Record, 1000)
				for i := range rs {
					if (lo+i)%2 == 0 {
						rs[i] = storetest.NewRecord(fmt.Sprintf("job-%d", (lo+i)%names), payload)
					} else {
						rs[i] = storetest.Owned(fmt.Sprintf("job-%d", (lo+i)%names), "web-1", "web-1/1")
					}
				}
				res, err := s.Insert(ctx, rs)
				if err != nil {
					b.Fatal(err)
				}
				var cs []store.Completion
				for i, r := range res {
					if !r.Lease.IsZero() {
						cs = append(cs, store.Completion{Lease: r.Lease, State: states[i%3]})
					}
				}
				if _, err := s.Finish(ctx, cs); err != nil {
					b.Fatal(err)
				}
			}
			for _, p := range []store.ListParams{{Limit: 50}, {State: store.Failure, Limit: 50}} {
				name := "all"
				if p.State != "" {
					name = string(p.State)
				}
				b.Run(name, func(b *testing.B) {
					if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
						b.Fatal(err)
					}
					for range b.N {
						page, err := s.List(ctx, p)
						if err != nil || len(page.Records) != 50 {
							b.Fatalf("List: %d records, %v", len(page.Records), err)
						}
					}
					us, _ := redisCost(b, s)
					b.ReportMetric(us/float64(b.N), "redis-µs/op")
				})
			}
		})
	}
}

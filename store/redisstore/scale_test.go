package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/redistest"
)

// BenchmarkManyServers starts BGTASK_SERVERS (default 100) managers in
// this process, each on its own Store (its own connections) on one Redis,
// as that many bgtask servers, with a 1 s heartbeat. With RUNNING tasks
// (BGTASK_RUNNING, default 0) spread over them, it measures for 10 s
// what the idle fleet costs Redis: function calls and commands per
// second, and Redis' time per second (its CPU share), from INFO
// commandstats. Run it alone:
//
//	go test -run XXX -bench ManyServers -benchtime 1x ./store/redisstore/
func BenchmarkManyServers(b *testing.B) {
	servers, running := envInt("BGTASK_SERVERS", 100), envInt("BGTASK_RUNNING", 0)
	srv := redistest.Start(b, nil)
	ctx := context.Background()
	release := make(chan struct{})
	var ms []*bgtask.Manager
	// Let the held tasks return, then stop every manager at once.
	defer func() {
		close(release)
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				m.Stop(sctx)
			})
		}
		wg.Wait()
	}()
	var first *Store
	for i := range servers {
		s, err := New(ctx, srv.URL(0), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if first == nil {
			first = s
		}
		reg := bgtask.NewRegistry()
		reg.MustAdd(bgtask.Definition{Name: "hold", Run: func(ctx context.Context, _ *bgtask.Task) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}})
		m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: s, ServerID: fmt.Sprint("server-", i),
			HeartbeatInterval: time.Second, StaleAfter: 10 * time.Second, MaxWorkers: max(1, running/servers+1)})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	for i := range running {
		if _, err := ms[i%servers].Submit(ctx, "hold", nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	// Let every server announce and start its loops, then measure.
	time.Sleep(3 * time.Second)
	if err := first.rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	const window = 10 * time.Second
	time.Sleep(window)
	us, cmds := redisCost(b, first)
	calls := fcalls(b, first)
	b.ReportMetric(float64(calls)/window.Seconds(), "fcalls/s")
	b.ReportMetric(float64(cmds)/window.Seconds(), "redis-cmds/s")
	b.ReportMetric(us/window.Seconds()/1e4, "redis-cpu-%")
	live, err := first.Servers(ctx)
	if err != nil || len(live) != servers {
		b.Fatalf("Servers = %d, %v; want %d", len(live), err, servers)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// fcalls returns the FCALL count since the last CONFIG RESETSTAT.
func fcalls(b *testing.B, s *Store) int {
	info, err := s.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	_, rest, ok := strings.Cut(info, "cmdstat_fcall:calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	return n
}

// Package redisclients measures the two maintained Go Redis clients,
// go-redis v9 and rueidis, on the calls the Redis store makes: batched
// claim and finish scripts (a drain), one-task scripts from many
// goroutines (the single-task path) and the wake-up of a blocking XREAD
// (an idle server's latency). It is a module of its own so that the
// client not chosen stays out of bgtask's go.mod. Run:
//
//	cd bench/redisclients && go test -bench . -benchtime 20000x -count 5
//
// Each benchmark starts a private redis-server (internal/redistest) and
// calls the store's own Functions library (store/redisstore/lua),
// loaded by each client.
package redisclients

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// client is the one thing a benchmark needs from a Redis client: run the
// store's script, and block on the log.
type client interface {
	script(ctx context.Context, args []string) error
	xreadBlock(ctx context.Context, key, after string, block time.Duration) (int, error)
	close()
}

type goredis struct{ rdb *redis.Client }

func anys(args []string) []any {
	a := make([]any, len(args))
	for i, v := range args {
		a[i] = v
	}
	return a
}

func (c goredis) script(ctx context.Context, args []string) error {
	err := c.rdb.FCall(ctx, libName, nil, anys(args)...).Err()
	if err == redis.Nil {
		return nil
	}
	return err
}

func (c goredis) xreadBlock(ctx context.Context, key, after string, block time.Duration) (int, error) {
	res, err := c.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{key, after}, Count: 100, Block: block}).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(res[0].Messages), nil
}

func (c goredis) close() { c.rdb.Close() }

type rue struct{ c rueidis.Client }

func (c rue) fcall(ctx context.Context, args []string) rueidis.RedisResult {
	return c.c.Do(ctx, c.c.B().Fcall().Function(libName).Numkeys(0).Arg(args...).Build())
}

func (c rue) script(ctx context.Context, args []string) error {
	err := c.fcall(ctx, args).Error()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	return err
}

func (c rue) xreadBlock(ctx context.Context, key, after string, block time.Duration) (int, error) {
	res, err := c.c.Do(ctx, c.c.B().Xread().Count(100).Block(block.Milliseconds()).Streams().Key(key).Id(after).Build()).AsXRead()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(res[key]), nil
}

func (c rue) close() { c.c.Close() }

var clients = []struct {
	name string
	open func(tb testing.TB, addr, src string) client
}{
	{"go-redis", func(tb testing.TB, addr, src string) client {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		if err := rdb.FunctionLoadReplace(context.Background(), src).Err(); err != nil {
			tb.Fatal(err)
		}
		return goredis{rdb: rdb}
	}},
	{"rueidis", func(tb testing.TB, addr, src string) client {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.Do(context.Background(), c.B().FunctionLoad().Replace().FunctionCode(src).Build()).Error(); err != nil {
			tb.Fatal(err)
		}
		return rue{c: c}
	}},
}

// libName names the store's library as loaded here.
const libName = "bgtask_bench"

// source is the store's library (its files joined in name order, as the
// store joins them), named libName.
func source(tb testing.TB) string {
	names, err := filepath.Glob("../../store/redisstore/lua/*.lua")
	if err != nil || len(names) == 0 {
		tb.Fatalf("the store's library: %v", err)
	}
	var b strings.Builder
	for _, n := range names { // Glob sorts
		src, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		b.Write(src)
		b.WriteString("\n")
	}
	return strings.ReplaceAll(b.String(), "__LIBRARY__", libName)
}

// header is the script's fixed arguments: op, prefix, now (Redis TIME),
// log bounds (100,000 entries, 1 h) and retention (off).
func header(op string) []string { return []string{op, "b:", "", "100000", "3600000000", "0"} }

var ids atomic.Int64

// insertArgs queues n records of task "job" (owner "" ) or inserts them
// owned by owner.
func insertArgs(n int, owner string) ([]string, []string) {
	args := header("insert")
	var out []string
	inc := ""
	if owner != "" {
		inc = owner + "/1"
	}
	for range n {
		id := fmt.Sprintf("%020d", ids.Add(1))
		out = append(out, id)
		args = append(args, id, "job", "n[]", "\x01payload-of-a-no-op-task", "", owner, inc, "0", "", "")
	}
	return args, out
}

func finishArgs(ids []string, owner string, fence string) []string {
	args := header("finish")
	for _, id := range ids {
		args = append(args, id, owner, owner+"/1", fence, "SUCCESS", "", "0", "0", "", "0", "")
	}
	return args
}

func each(b *testing.B, fn func(b *testing.B, c client)) {
	src := source(b)
	for _, cl := range clients {
		b.Run(cl.name, func(b *testing.B) {
			srv := redistest.Start(b, nil)
			c := cl.open(b, srv.Addr(), src)
			defer c.close()
			fn(b, c)
		})
	}
}

// BenchmarkDrain: b.N queued tasks, claimed 100 at a time and finished
// 100 at a time by 4 workers (the drain shape). One op is one task.
func BenchmarkDrain(b *testing.B) {
	each(b, func(b *testing.B, c client) {
		ctx := context.Background()
		for left := b.N; left > 0; left -= 500 {
			args, _ := insertArgs(min(left, 500), "")
			if err := c.script(ctx, args); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		var wg sync.WaitGroup
		var done atomic.Int64
		for w := range 4 {
			wg.Go(func() {
				owner := "w" + strconv.Itoa(w)
				for range b.N {
					args := append(header("claim"), owner, owner+"/1", "100", "0", "0", "1", "job")
					var claimed []string
					if err := claimIDs(ctx, c, args, &claimed); err != nil {
						b.Error(err)
						return
					}
					if len(claimed) == 0 {
						return
					}
					if err := c.script(ctx, finishArgs(claimed, owner, "1")); err != nil {
						b.Error(err)
						return
					}
					done.Add(int64(len(claimed)))
				}
			})
		}
		wg.Wait()
		if int(done.Load()) != b.N {
			b.Fatalf("drained %d of %d", done.Load(), b.N)
		}
	})
}

// claimIDs runs a claim and collects the claimed IDs (go-redis only needs
// the count, so both clients parse the same way: through the script's
// reply length).
func claimIDs(ctx context.Context, c client, args []string, out *[]string) error {
	switch c := c.(type) {
	case goredis:
		res, err := c.rdb.FCall(ctx, libName, nil, anys(args)...).Slice()
		if err != nil {
			return err
		}
		for _, e := range res {
			rec := e.([]any)[2].([]any)
			*out = append(*out, rec[0].(string))
		}
	case rue:
		res, err := c.fcall(ctx, args).ToArray()
		if err != nil {
			return err
		}
		for _, e := range res {
			parts, _ := e.ToArray()
			rec, _ := parts[2].ToArray()
			id, _ := rec[0].ToString()
			*out = append(*out, id)
		}
	}
	return nil
}

// BenchmarkSingleTask: 32 goroutines each insert one task as owned and
// finish it (two script calls per task, no batching): the path of a
// lightly loaded manager, bound by round trips. One op is one task.
func BenchmarkSingleTask(b *testing.B) {
	each(b, func(b *testing.B, c client) {
		ctx := context.Background()
		b.SetParallelism(16) // 2 cores × 16 = 32 goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				args, id := insertArgs(1, "solo")
				if err := c.script(ctx, args); err != nil {
					b.Error(err)
					return
				}
				if err := c.script(ctx, finishArgs(id, "solo", "1")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkWake: a reader blocks in XREAD on the log; a writer appends
// one entry (a one-record insert script). Reports the wake-up latency,
// from just before the writer's call to the reader's return, as p50 and
// p99 in microseconds.
func BenchmarkWake(b *testing.B) {
	each(b, func(b *testing.B, c client) {
		ctx := context.Background()
		lat := make([]time.Duration, 0, b.N)
		var seq int
		for range b.N {
			after := "0-" + strconv.Itoa(seq)
			got := make(chan error, 1)
			go func() {
				n, err := c.xreadBlock(ctx, "b:log", after, 10*time.Second)
				if err == nil && n == 0 {
					err = fmt.Errorf("XREAD returned nothing")
				}
				got <- err
			}()
			// Let the reader reach Redis before the write (a blocked
			// client shows in INFO clients; polling it would cost more
			// than the wait, so give it a fixed head start).
			time.Sleep(200 * time.Microsecond)
			t0 := time.Now()
			args, _ := insertArgs(1, "")
			if err := c.script(ctx, args); err != nil {
				b.Fatal(err)
			}
			if err := <-got; err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			seq++
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}

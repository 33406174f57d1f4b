package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/redis/go-redis/v9"
)

// bgtaskRedisSystem measures bgtask's Manager on the Redis store
// (store/redisstore) on the same Redis as asynq-aof (appendonly,
// appendfsync everysec), in the next database (-redis-db + 1) under its
// own key prefix. Unlike the embedded store it needs no releaser: every
// process opens its own client on the shared Redis, as servers do. Insert
// paths and worker as for bgtask (bgtask.go).
type bgtaskRedisSystem struct {
	name   string
	url    string
	st     *redisstore.Store
	submit *bgtask.Manager
	active atomic.Pointer[bgtask.Manager]
	cpu    *redis.Client // INFO cpu (RedisCPU), opened on first use
}

// bgtaskRedisPrefix is the key prefix of the runs (Reset purges it).
const bgtaskRedisPrefix = "bench-compare-bgtask:"

func newBgtaskRedisSystem(name string, k Knobs) *bgtaskRedisSystem {
	return &bgtaskRedisSystem{name: name, url: fmt.Sprintf("redis://%s/%d", k.RedisAOFAddr, k.RedisDB+1)}
}

func (s *bgtaskRedisSystem) Name() string { return s.name }

func (s *bgtaskRedisSystem) Knobs() string {
	return fmt.Sprintf("store=redisstore url=%s prefix=%s MaxWorkers=-c; blocking XREAD wake-ups, no poll interval, "+
		"so -profile knobs do not apply", s.url, bgtaskRedisPrefix)
}

// Setup connects to Redis and makes the submit-only manager.
func (s *bgtaskRedisSystem) Setup(ctx context.Context) error {
	st, err := redisstore.New(ctx, s.url, &redisstore.Config{Prefix: bgtaskRedisPrefix})
	if err != nil {
		return err
	}
	m, err := bgtask.NewManager(&bgtask.Config{Registry: bgtaskRegistry(func() {}), Store: st})
	if err != nil {
		st.Close()
		return err
	}
	s.st, s.submit = st, m
	return nil
}

// Reset deletes every key of the prefix.
func (s *bgtaskRedisSystem) Reset(ctx context.Context) error {
	_, err := s.st.Purge(ctx)
	return err
}

func (s *bgtaskRedisSystem) EnqueueModes() []string { return []string{"single", "many"} }
func (s *bgtaskRedisSystem) PrefillMode() string    { return "many" }

func (s *bgtaskRedisSystem) Enqueue(ctx context.Context, mode string, n, batch int, payload []byte) (int, error) {
	m := s.submit
	if a := s.active.Load(); a != nil {
		m = a
	}
	args := []string{string(payload)}
	switch mode {
	case "single":
		return bgtaskSubmitEach(ctx, m, n, args)
	case "many":
		return bgtaskSubmitBatches(ctx, m, n, max(batch, 1), args)
	}
	return 0, fmt.Errorf("bgtask-redis: unknown enqueue mode %q", mode)
}

// StartWorker starts a manager with MaxWorkers = concurrency.
func (s *bgtaskRedisSystem) StartWorker(ctx context.Context, concurrency int, onTask func()) (func(context.Context) error, error) {
	m, err := bgtask.NewManager(&bgtask.Config{Registry: bgtaskRegistry(onTask), Store: s.st, MaxWorkers: concurrency})
	if err != nil {
		return nil, err
	}
	if err := m.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	s.active.Store(m)
	return func(ctx context.Context) error {
		s.active.Store(nil)
		return m.Stop(ctx)
	}, nil
}

// Outstanding is the number of ONGOING records.
func (s *bgtaskRedisSystem) Outstanding(ctx context.Context) (int, error) {
	c, err := s.st.Counts(ctx)
	if err != nil {
		return 0, err
	}
	return c[store.Ongoing], nil
}

func (s *bgtaskRedisSystem) Close() error {
	if s.cpu != nil {
		s.cpu.Close()
	}
	return s.st.Close()
}

// Version reports the Redis the store runs on.
func (s *bgtaskRedisSystem) Version(ctx context.Context) string {
	p, err := s.st.Persistence(ctx)
	if err != nil {
		return "redisstore at " + s.url
	}
	return fmt.Sprintf("redisstore at %s (aof=%v save=%q)", s.url, p.AOF, p.SavePoints)
}

package bench

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// newManager opens a fresh store and a manager on it (not started).
func newManager(ctx context.Context, cfg *Config, reg *bgtask.Registry, mc bgtask.Config) (*bgtask.Manager, store.Store, func(), error) {
	st, closeStore, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	mc.Registry, mc.Store = reg, st
	if mc.MaxWorkers == 0 {
		mc.MaxWorkers = cfg.Concurrency
	}
	m, err := bgtask.NewManager(&mc)
	if err != nil {
		closeStore()
		return nil, nil, nil, err
	}
	return m, st, closeStore, nil
}

func stopManager(m *bgtask.Manager) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = m.Stop(ctx)
}

// runEnqueue submits N tasks one by one from Producers goroutines to a
// manager that is not running (the tasks are only stored).
func runEnqueue(ctx context.Context, cfg *Config) (Result, error) {
	m, _, closeStore, err := newManager(ctx, cfg, noopRegistry(nil), bgtask.Config{})
	if err != nil {
		return Result{}, err
	}
	defer closeStore()
	args := payloadArgs(cfg.Payload)
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for p := range cfg.Producers {
		n := cfg.N / cfg.Producers
		if p < cfg.N%cfg.Producers {
			n++
		}
		wg.Go(func() {
			for range n {
				if ctx.Err() != nil {
					return
				}
				if _, err := m.Submit(ctx, "noop", args, nil); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil && ctx.Err() == nil {
		return Result{}, firstErr
	}
	return Result{N: int(done.Load()), Elapsed: el, TasksPerSec: float64(done.Load()) / el.Seconds(), Capped: ctx.Err() != nil}, nil
}

// runBatch submits N tasks with SubmitMany in batches of BatchSize.
func runBatch(ctx context.Context, cfg *Config) (Result, error) {
	m, _, closeStore, err := newManager(ctx, cfg, noopRegistry(nil), bgtask.Config{})
	if err != nil {
		return Result{}, err
	}
	defer closeStore()
	done, el, err := submitBatches(ctx, m, cfg.N, cfg.BatchSize, payloadArgs(cfg.Payload))
	if err != nil && ctx.Err() == nil {
		return Result{}, err
	}
	return Result{N: done, Elapsed: el, TasksPerSec: float64(done) / el.Seconds(), Capped: ctx.Err() != nil}, nil
}

func submitBatches(ctx context.Context, m *bgtask.Manager, n, size int, args []string) (int, time.Duration, error) {
	batch := make([]bgtask.SubmitParams, size)
	for i := range batch {
		batch[i] = bgtask.SubmitParams{Name: "noop", Args: args}
	}
	done := 0
	start := time.Now()
	for done < n && ctx.Err() == nil {
		k := min(size, n-done)
		if _, err := m.SubmitMany(ctx, batch[:k]); err != nil {
			return done, time.Since(start), err
		}
		done += k
	}
	return done, time.Since(start), nil
}

// runDrain stores N tasks (not timed), then starts the manager and times
// until N runs started and until the store holds no ONGOING record.
func runDrain(ctx context.Context, cfg *Config) (Result, error) {
	return drain(ctx, cfg, nil)
}

// readers are what a drain variant attaches to the manager before it
// starts.
type readers struct {
	// detach stops the readers.
	detach func()
	// read, if set, returns the bytes the readers have read so far.
	read func() int64
	// wait, if set, waits until every reader has read its stream to the
	// end.
	wait func()
}

// drain stores N tasks, starts a manager (after attach, if set, has
// attached its readers) and measures until every task ran.
func drain(ctx context.Context, cfg *Config, attach func(*bgtask.Manager) (readers, error)) (Result, error) {
	var ran atomic.Int64
	all := make(chan struct{})
	n := int64(cfg.N)
	m, st, closeStore, err := newManager(ctx, cfg, noopRegistry(func() {
		if ran.Add(1) == n {
			close(all)
		}
	}), bgtask.Config{})
	if err != nil {
		return Result{}, err
	}
	defer closeStore()
	if _, _, err := submitBatches(ctx, m, cfg.N, cfg.BatchSize, payloadArgs(cfg.Payload)); err != nil {
		return Result{}, err
	}
	var rd readers
	if attach != nil {
		rd, err = attach(m)
		if err != nil {
			return Result{}, err
		}
		defer rd.detach()
	}
	stopProfile, err := startProfile(cfg.CPUProfile)
	if err != nil {
		return Result{}, err
	}
	defer stopProfile()
	var read0 int64
	if rd.read != nil {
		read0 = rd.read()
	}
	cpu0 := cpuTime()
	start := time.Now()
	if err := m.Start(ctx); err != nil {
		return Result{}, err
	}
	defer stopManager(m)
	r := Result{N: cfg.N}
	select {
	case <-all:
	case <-ctx.Done():
		r.Capped = true
	}
	r.Elapsed = time.Since(start)
	r.CPU = cpuTime() - cpu0
	if rd.read != nil {
		r.StreamBytes = rd.read() - read0
	}
	stopProfile()
	r.TasksPerSec = float64(ran.Load()) / r.Elapsed.Seconds()
	for ctx.Err() == nil {
		c, err := st.Counts(ctx)
		if err != nil {
			return r, err
		}
		if c[store.Ongoing] == 0 {
			r.AckedPerSec = float64(cfg.N) / time.Since(start).Seconds()
			break
		}
		time.Sleep(time.Millisecond)
	}
	return r, nil
}

// runLatency submits one task at a time to a running manager and measures
// from just before Submit to the first line of the run function.
func runLatency(ctx context.Context, cfg *Config) (Result, error) {
	started := make(chan time.Time, 1)
	m, _, closeStore, err := newManager(ctx, cfg, noopRegistry(func() {
		started <- time.Now()
	}), bgtask.Config{})
	if err != nil {
		return Result{}, err
	}
	defer closeStore()
	if err := m.Start(ctx); err != nil {
		return Result{}, err
	}
	defer stopManager(m)
	// Low load: one task in the system at a time. The next submit waits
	// for the previous task's terminal event, which follows its durable
	// finish, so that a sample never shares the disk with the previous
	// task's commit.
	events, unsubscribe := m.Subscribe(&bgtask.SubscribeOpts{Buffer: 16})
	defer unsubscribe()
	const warmup = 50
	args := payloadArgs(cfg.Payload)
	lat := make([]time.Duration, 0, cfg.LatencySamples)
	wake := make([]time.Duration, 0, cfg.LatencySamples)
	r := Result{}
	begin := time.Now()
	for i := range warmup + cfg.LatencySamples {
		t0 := time.Now()
		id, err := m.Submit(ctx, "noop", args, nil)
		acked := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				r.Capped = true
				break
			}
			return r, err
		}
		select {
		case t1 := <-started:
			if i >= warmup {
				lat = append(lat, t1.Sub(t0))
				wake = append(wake, t1.Sub(acked))
			}
		case <-ctx.Done():
			r.Capped = true
		}
		if r.Capped || !waitTerminal(ctx, events, id) {
			r.Capped = true
			break
		}
	}
	r.N, r.Elapsed = len(lat), time.Since(begin)
	summarize(&r, lat)
	if len(wake) > 0 {
		slices.Sort(wake)
		r.WakeP50, r.WakeP99 = percentile(wake, 50), percentile(wake, 99)
	}
	if cfg.SyncDir != "" {
		r.SyncP50, r.SyncP99 = syncLatency(cfg.SyncDir, len(lat))
	}
	return r, nil
}

// waitTerminal reads events until task id's terminal event; false if ctx
// ended or the subscription was cut off first.
func waitTerminal(ctx context.Context, events <-chan bgtask.Event, id string) bool {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return false
			}
			if ev.TaskID == id && ev.Kind.Terminal() {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// syncLatency measures n writes of 4 KiB each followed by fdatasync in
// dir: what one durable commit costs at the least on this disk.
func syncLatency(dir string, n int) (p50, p99 time.Duration) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return 0, 0
		}
		if err := fdatasync(f); err != nil {
			return 0, 0
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return percentile(lat, 50), percentile(lat, 99)
}

// runRSS runs RSSTasks tasks through a manager whose retention is short,
// keeping at most a bounded backlog queued, and samples the resident set.
func runRSS(ctx context.Context, cfg *Config) (Result, error) {
	var ran atomic.Int64
	m, _, closeStore, err := newManager(ctx, cfg, noopRegistry(func() { ran.Add(1) }), bgtask.Config{
		Retention:       time.Second,
		JanitorInterval: 250 * time.Millisecond,
	})
	if err != nil {
		return Result{}, err
	}
	defer closeStore()
	if err := m.Start(ctx); err != nil {
		return Result{}, err
	}
	defer stopManager(m)
	total := cfg.RSSTasks
	marks := []int{total / 10, total / 2, total}
	r := Result{}
	args := payloadArgs(cfg.Payload)
	backlog := int64(20 * cfg.BatchSize)
	start := time.Now()
	submitted := 0
	for submitted < total && ctx.Err() == nil {
		if int64(submitted)-ran.Load() > backlog {
			time.Sleep(time.Millisecond)
			continue
		}
		k, _, err := submitBatches(ctx, m, min(cfg.BatchSize, total-submitted), cfg.BatchSize, args)
		submitted += k
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return r, err
		}
		for len(marks) > 0 && submitted >= marks[0] {
			r.RSSKiB = append(r.RSSKiB, rssKiB())
			marks = marks[1:]
		}
	}
	for ran.Load() < int64(submitted) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	r.Capped = ctx.Err() != nil
	r.N, r.Elapsed = int(ran.Load()), time.Since(start)
	r.TasksPerSec = float64(r.N) / r.Elapsed.Seconds()
	return r, nil
}

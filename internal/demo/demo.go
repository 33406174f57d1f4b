// Package demo registers the tasks `bgtask serve --demo` shows the system
// off with: a long "decode" with 100–200 progress steps (after MDN's
// cooperative scheduling demo), a parallel task with a failing subtask, a
// task that fails, a slow retriable one that survives a server crash, and
// an idle-priority decode that works only in idle periods.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
)

// Registry returns a fresh registry of the demo tasks.
func Registry() *bgtask.Registry {
	r := bgtask.NewRegistry()
	r.MustAdd(bgtask.Definition{
		Name:        "demo.decode",
		Description: "decodes 100-200 items, one progress step each (arg: item count)",
		Run:         decode,
	})
	r.MustAdd(bgtask.Definition{
		Name:        "demo.idle-decode",
		Description: "MDN's cooperative scheduling demo: 100-200 items decoded only in idle periods (arg: item count)",
		Priority:    bgtask.PriorityIdle,
		Run:         idleDecode,
	})
	r.MustAdd(bgtask.Definition{
		Name:        "demo.parallel",
		Description: "six shards in parallel; shard-4 fails on the first attempt (retry re-runs only it)",
		Subtasks: func(context.Context, *bgtask.Task) ([]string, error) {
			return []string{"shard-1", "shard-2", "shard-3", "shard-4", "shard-5", "shard-6"}, nil
		},
		RunSubtask:  shard,
		Concurrency: 3,
	})
	r.MustAdd(bgtask.Definition{
		Name:        "demo.fail",
		Description: "works for two seconds, then fails",
		Run:         fail,
	})
	r.MustAdd(bgtask.Definition{
		Name:        "demo.slow",
		Description: "60 one-second steps; retriable, so another server (or a restart) takes it over",
		Run:         slow,
		Retriable:   true,
		MaxAttempts: 3,
	})
	return r
}

// decode processes 100–200 items (or the count in args[0]).
func decode(ctx context.Context, t *bgtask.Task) error {
	n, err := itemCount(t)
	if err != nil {
		return err
	}
	t.Progress().SetTotal(float64(n))
	for i := range n {
		if err := clock.Sleep(ctx, clock.Real, time.Duration(20+rand.IntN(40))*time.Millisecond); err != nil {
			return err
		}
		t.Progress().Add(1, fmt.Sprintf("decoded item %d of %d", i+1, n))
	}
	return nil
}

// idleDecode is decode in idle slices: each item is a few milliseconds of
// CPU work, done only while the slice has time left.
func idleDecode(ctx context.Context, t *bgtask.Task) error {
	n, err := itemCount(t)
	if err != nil {
		return err
	}
	t.Progress().SetTotal(float64(n))
	for i := range n {
		if err := t.Yield(ctx); err != nil {
			return err
		}
		busyWork(time.Duration(2+rand.IntN(4)) * time.Millisecond)
		t.Progress().Add(1, fmt.Sprintf("decoded item %d of %d in an idle period", i+1, n))
	}
	return nil
}

// itemCount is 100–200, or the count in args[0].
func itemCount(t *bgtask.Task) (int, error) {
	n := 100 + rand.IntN(101)
	if args := t.Args(); len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 100000 {
			return 0, fmt.Errorf("%s: item count must be 1..100000, got %q", t.Name(), args[0])
		}
		n = v
	}
	return n, nil
}

// busyWork burns about d of CPU.
func busyWork(d time.Duration) {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Store(x) // keeps the loop from being optimised away
}

var sink atomic.Uint64

func shard(ctx context.Context, t *bgtask.Task) error {
	steps := 10 + rand.IntN(10)
	t.Progress().SetTotal(float64(steps))
	for i := range steps {
		if err := clock.Sleep(ctx, clock.Real, 150*time.Millisecond); err != nil {
			return err
		}
		t.Progress().Add(1, fmt.Sprintf("%s: block %d", t.SubtaskKey(), i+1))
		if t.SubtaskKey() == "shard-4" && t.Attempt() == 1 && i == steps/2 {
			return errors.New("checksum mismatch in block " + strconv.Itoa(i+1))
		}
	}
	return nil
}

func fail(ctx context.Context, t *bgtask.Task) error {
	t.Progress().SetTotal(4)
	for i := range 4 {
		if err := clock.Sleep(ctx, clock.Real, 500*time.Millisecond); err != nil {
			return err
		}
		t.Progress().Add(1, fmt.Sprintf("calling upstream (%d/4)", i+1))
	}
	return errors.New("upstream returned 503 Service Unavailable")
}

func slow(ctx context.Context, t *bgtask.Task) error {
	const steps = 60
	t.Progress().SetTotal(steps)
	for i := range steps {
		if err := clock.Sleep(ctx, clock.Real, time.Second); err != nil {
			return err
		}
		t.Progress().Add(1, fmt.Sprintf("step %d of %d (attempt %d)", i+1, steps, t.Attempt()))
	}
	return nil
}

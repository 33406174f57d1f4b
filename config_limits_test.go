package bgtask_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// Sizes that allocate or loop per call are bounded: a MaxWorkers of a
// billion made the claimer take its free slots one by one (a core busy
// while idle, Stop never returning), an EventHistory or SubscriberBuffer
// of a billion allocated the ring or channel up front.
func TestConfigSizesBounded(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		cfg  bgtask.Config
		want string
	}{
		{bgtask.Config{MaxWorkers: bgtask.MaxMaxWorkers + 1}, "Config.MaxWorkers 100001: at most 100000"},
		{bgtask.Config{MaxWorkers: 1_000_000_000}, "Config.MaxWorkers 1000000000: at most 100000"},
		{bgtask.Config{EventHistory: bgtask.MaxEventHistory + 1}, "Config.EventHistory 1048577: at most 1048576"},
		{bgtask.Config{SubscriberBuffer: 1 << 40}, "Config.SubscriberBuffer 1099511627776: at most 65536"},
		{bgtask.Config{Idle: bgtask.IdleConfig{MaxTasks: bgtask.MaxMaxWorkers + 1}}, "Config.Idle.MaxTasks 100001: at most 100000"},
	} {
		cfg := tc.cfg
		cfg.Registry, cfg.Store = bgtask.NewRegistry(), st
		if _, err := bgtask.NewManager(&cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	cfg := bgtask.Config{Registry: bgtask.NewRegistry(), Store: st, MaxWorkers: bgtask.MaxMaxWorkers,
		EventHistory: bgtask.MaxEventHistory, SubscriberBuffer: bgtask.MaxSubscriberBuffer}
	if _, err := bgtask.NewManager(&cfg); err != nil {
		t.Errorf("the largest sizes: %v, want them accepted", err)
	}
}

// A server with more free slots than one claim asks for (maxTake, 1000)
// fills them in rounds: 2,500 tasks that each wait until all have started
// all run at once on a server of MaxMaxWorkers slots.
func TestManySlotsFilledInRounds(t *testing.T) {
	t.Parallel()
	const n = 2500
	var started atomic.Int32
	all := make(chan struct{})
	e := setup(t, []bgtask.Definition{{Name: "wait", Run: func(ctx context.Context, _ *bgtask.Task) error {
		if started.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}}, &bgtask.Config{MaxWorkers: bgtask.MaxMaxWorkers, TimeoutGrace: time.Second})
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "wait"}
	}
	ids, err := e.m.SubmitMany(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(waitFor):
		t.Fatalf("%d of %d tasks started with %d free slots", started.Load(), n, bgtask.MaxMaxWorkers)
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
}

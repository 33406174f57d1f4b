package bgtask_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// idleSweep is an idle-priority task that does units of work between
// yields and counts them.
func idleSweep(units *atomic.Int32, n int) bgtask.Definition {
	return bgtask.Definition{Name: "sweep", Priority: bgtask.PriorityIdle, Run: func(ctx context.Context, t *bgtask.Task) error {
		t.Progress().SetTotal(float64(n))
		for range n {
			if err := t.Yield(ctx); err != nil {
				return err
			}
			units.Add(1)
			t.Progress().Add(1, "")
		}
		return nil
	}}
}

func TestIdleTaskWaitsForForeground(t *testing.T) {
	t.Parallel()
	g := newGate()
	var units atomic.Int32
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}, idleSweep(&units, 20)}, &bgtask.Config{MaxWorkers: 3})
	e.submit("hold")
	e.submit("hold")
	g.waitEntered(t)
	g.waitEntered(t)
	id := e.submit("sweep")
	// Foreground tasks saturate the slots: the idle task may not run a
	// single unit. Observe a while (a negative can only be observed).
	time.Sleep(150 * time.Millisecond)
	if n := units.Load(); n != 0 {
		t.Fatalf("idle task ran %d units while foreground tasks were running", n)
	}
	if info, _ := e.m.Get(context.Background(), id); info.State != bgtask.StateOngoing || info.Progress.Current != 0 {
		t.Fatalf("idle task record while busy: %+v", info)
	}
	g.open()
	e.waitState(id, bgtask.StateSuccess)
	if n := units.Load(); n != 20 {
		t.Fatalf("idle task ran %d units, want 20", n)
	}
}

func TestIdleTimeoutGuaranteesProgressUnderLoad(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer g.open()
	var units atomic.Int32
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}, idleSweep(&units, 10)}, nil)
	e.submit("hold")
	g.waitEntered(t)
	id, err := e.m.Submit(context.Background(), "sweep", nil, &bgtask.SubmitOpts{IdleTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// the foreground task never ends during this wait
	e.waitState(id, bgtask.StateSuccess)
	if n := units.Load(); n != 10 {
		t.Fatalf("idle task ran %d units, want 10", n)
	}
}

func TestPriorityIdleSubmitOverridesDefinition(t *testing.T) {
	t.Parallel()
	g := newGate()
	defer g.open()
	ran := make(chan bool, 1)
	e := setup(t, []bgtask.Definition{{Name: "hold", Run: g.run}, {Name: "job", Run: func(ctx context.Context, t *bgtask.Task) error {
		ran <- t.IdleDeadline() != nil
		return nil
	}}}, nil)
	e.submit("hold")
	g.waitEntered(t)
	id, err := e.m.Submit(context.Background(), "job", nil, &bgtask.SubmitOpts{Priority: bgtask.PriorityIdle, IdleTimeout: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if info := e.waitState(id, bgtask.StateSuccess); info.Priority != bgtask.PriorityIdle {
		t.Fatalf("priority %q, want idle", info.Priority)
	}
	if !<-ran {
		t.Fatal("idle-priority run had no idle deadline")
	}
}

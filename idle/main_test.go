package idle_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/idle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the fake clock's start.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// failsafe bounds every wait on the scheduler's goroutine. It is not a
// guess at how long something takes: a test that hits it has failed.
const failsafe = 10 * time.Second

// env is a started scheduler on a fake clock whose only load source is a
// Counter (busy at 1).
type env struct {
	s    *idle.Scheduler
	clk  *clock.Fake
	load *idle.Counter
	rec  *recorder
}

// setup starts a scheduler; edit, if not nil, changes the config first.
func setup(t *testing.T, edit func(*idle.Config)) *env {
	t.Helper()
	e := &env{clk: clock.NewFake(t0), load: idle.NewCounter(1)}
	cfg := &idle.Config{Clock: e.clk, Sources: []idle.LoadSource{e.load}}
	if edit != nil {
		edit(cfg)
	}
	s, err := idle.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.s = s
	e.rec = &recorder{s: s, clk: e.clk, ch: make(chan call, 1000)}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failsafe)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

// call is what a recording callback saw.
type call struct {
	Name      string
	Remaining time.Duration
	TimedOut  bool
	Period    uint64        // Stats().Periods when it ran
	At        time.Duration // fake time since t0 when it ran
}

type recorder struct {
	s   *idle.Scheduler
	clk *clock.Fake
	ch  chan call
}

// cb returns a callback that records a call named name, after running
// each of then.
func (r *recorder) cb(name string, then ...func(idle.Deadline)) func(idle.Deadline) {
	return func(d idle.Deadline) {
		c := call{
			Name:      name,
			Remaining: d.TimeRemaining(),
			TimedOut:  d.DidTimeout(),
			Period:    r.s.Stats().Periods,
			At:        r.clk.Now().Sub(t0),
		}
		for _, f := range then {
			f(d)
		}
		r.ch <- c
	}
}

// next returns the next recorded call.
func (r *recorder) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(failsafe):
		t.Fatal("no callback ran")
		return call{}
	}
}

// nextN returns the next n recorded calls.
func (r *recorder) nextN(t *testing.T, n int) []call {
	t.Helper()
	out := make([]call, n)
	for i := range out {
		out[i] = r.next(t)
	}
	return out
}

// none fails if a call was recorded and not consumed.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-r.ch:
		t.Fatalf("unexpected callback %+v", c)
	default:
	}
}

// flush requests a marker callback and waits for it: every callback
// queued before it and still due has run by then (FIFO). The scheduler
// must be idle.
func (e *env) flush(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	e.s.Request(func(idle.Deadline) { close(done) }, nil)
	select {
	case <-done:
	case <-time.After(failsafe):
		t.Fatal("flush marker did not run")
	}
}

func names(calls []call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Name
	}
	return out
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// bgtaskDirEnv names the directory that holds the bgtask store. The
// orchestrator creates a temporary one (unless -bgtask-dir is given) and
// sets this variable, so its child processes, which inherit the
// environment, open the same store.
const bgtaskDirEnv = "BENCH_COMPARE_BGTASK_DIR"

// bgtaskSystem measures github.com/bgtask/bgtask: the root package's
// Manager on the embedded store (store/boltstore), durable writes (one
// fdatasync per group commit) as shipped.
//
// The embedded store admits one process at a time (a file lock), so the
// store is opened lazily and the orchestrator calls Release (see releaser in
// system.go) before it starts a child process. In a child the store stays
// open from Setup to Close; in the orchestrator it is open only around
// Reset, the drain prefill and the checks that count records.
//
// Insert paths: "single" (Manager.Submit, one task per call, each its own
// durable write on a manager that is not started, so the task is only
// stored) and "many" (Manager.SubmitMany in batches of -batch, one durable
// write per batch). While a worker runs (latency scenario) inserts go
// through the running manager, which starts a task at once when a worker
// slot is free.
type bgtaskSystem struct {
	name    string
	knobs   Knobs
	dir     string // store directory (holds boltstore.DefaultFileName)
	ownsDir bool   // dir was created by this process and is removed by Close

	st     *boltstore.Store
	submit *bgtask.Manager                // never started: Submit only stores
	active atomic.Pointer[bgtask.Manager] // the running worker, if any
}

const bgtaskTask = "noop"

func newBgtaskSystem(name string, k Knobs) *bgtaskSystem {
	return &bgtaskSystem{name: name, knobs: k}
}

func (s *bgtaskSystem) Name() string { return s.name }

func (s *bgtaskSystem) Knobs() string {
	return fmt.Sprintf("store=boltstore dir=%s durable=fdatasync-per-group-commit MaxWorkers=-c; "+
		"no poll interval (in-process wake-ups), so -profile knobs do not apply", s.dir)
}

// Setup picks the store directory and opens the store.
func (s *bgtaskSystem) Setup(ctx context.Context) error {
	switch {
	case s.knobs.BgtaskDir != "":
		s.dir = s.knobs.BgtaskDir
	case os.Getenv(bgtaskDirEnv) != "":
		s.dir = os.Getenv(bgtaskDirEnv)
	default:
		d, err := os.MkdirTemp("", "bench-compare-bgtask-")
		if err != nil {
			return err
		}
		s.dir, s.ownsDir = d, true
	}
	if err := os.Setenv(bgtaskDirEnv, s.dir); err != nil {
		return err
	}
	return s.open()
}

func (s *bgtaskSystem) storeDir() string { return filepath.Join(s.dir, "store") }

// open opens the store and the submit-only manager if they are not open.
func (s *bgtaskSystem) open() error {
	if s.st != nil {
		return nil
	}
	st, err := boltstore.New(s.storeDir(), nil)
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

// Release closes the store so that a child process can open it.
func (s *bgtaskSystem) Release() error {
	if s.st == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := errors.Join(s.submit.Stop(ctx), s.st.Close())
	s.st, s.submit = nil, nil
	return err
}

// Reset closes the store, deletes its directory and opens a fresh one.
func (s *bgtaskSystem) Reset(ctx context.Context) error {
	if err := s.Release(); err != nil {
		return err
	}
	if err := os.RemoveAll(s.storeDir()); err != nil {
		return err
	}
	return s.open()
}

func (s *bgtaskSystem) EnqueueModes() []string { return []string{"single", "many"} }
func (s *bgtaskSystem) PrefillMode() string    { return "many" }

func (s *bgtaskSystem) Enqueue(ctx context.Context, mode string, n, batch int, payload []byte) (int, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
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
	return 0, fmt.Errorf("bgtask: unknown enqueue mode %q", mode)
}

func bgtaskSubmitEach(ctx context.Context, m *bgtask.Manager, n int, args []string) (int, error) {
	done := 0
	for done < n {
		if ctx.Err() != nil {
			return done, nil
		}
		if _, err := m.Submit(ctx, bgtaskTask, args, nil); err != nil {
			if ctx.Err() != nil {
				return done, nil
			}
			return done, err
		}
		done++
	}
	return done, nil
}

func bgtaskSubmitBatches(ctx context.Context, m *bgtask.Manager, n, batch int, args []string) (int, error) {
	params := make([]bgtask.SubmitParams, batch)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: bgtaskTask, Args: args}
	}
	done := 0
	for done < n {
		if ctx.Err() != nil {
			return done, nil
		}
		k := min(batch, n-done)
		if _, err := m.SubmitMany(ctx, params[:k]); err != nil {
			if ctx.Err() != nil {
				return done, nil
			}
			return done, err
		}
		done += k
	}
	return done, nil
}

// StartWorker starts a manager with MaxWorkers = concurrency on the store.
func (s *bgtaskSystem) StartWorker(ctx context.Context, concurrency int, onTask func()) (func(context.Context) error, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	m, err := bgtask.NewManager(&bgtask.Config{
		Registry:   bgtaskRegistry(onTask),
		Store:      s.st,
		MaxWorkers: concurrency,
	})
	if err != nil {
		return nil, err
	}
	// Cancelling the Start context is the manager's hard stop, so give it
	// one that lives until stop is called.
	if err := m.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	s.active.Store(m)
	st := s.st
	return func(ctx context.Context) error {
		s.active.Store(nil)
		err := m.Stop(ctx)
		// Ops/Commits is the mean group-commit size (operations per fsync).
		stats := st.Stats()
		fmt.Fprintf(os.Stderr, "bgtask store writer: commits=%d ops=%d\n", stats.Commits, stats.Ops)
		return err
	}, nil
}

// bgtaskRegistry holds the no-op task; onTask is the first thing it does.
func bgtaskRegistry(onTask func()) *bgtask.Registry {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: bgtaskTask, Run: func(context.Context, *bgtask.Task) error {
		onTask()
		return nil
	}})
	return reg
}

// Outstanding is the number of ONGOING records (queued or running).
func (s *bgtaskSystem) Outstanding(ctx context.Context) (int, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	c, err := s.st.Counts(ctx)
	if err != nil {
		return 0, err
	}
	return c[store.Ongoing], nil
}

// Close closes the store and removes the directory if Setup created it.
func (s *bgtaskSystem) Close() error {
	err := s.Release()
	if s.ownsDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// Version reports where the store file is.
func (s *bgtaskSystem) Version(ctx context.Context) string {
	return "embedded boltstore (bbolt), file " + filepath.Join(s.storeDir(), boltstore.DefaultFileName)
}

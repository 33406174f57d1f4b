package main

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store/boltstore"
)

// TestBgtaskSystem walks the bgtask System through the orchestrator's
// sequence: reset, prefill, release (another opener must then get the
// file lock), reopen, drain with a worker, and the latency path.
func TestBgtaskSystem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Setenv(bgtaskDirEnv, "")
	dir := t.TempDir()
	s := newBgtaskSystem("bgtask", Knobs{BgtaskDir: dir})
	if err := s.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	payload := makePayload(100)

	for _, mode := range s.EnqueueModes() {
		if err := s.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Enqueue(ctx, mode, 250, 100, payload); err != nil || n != 250 {
			t.Fatalf("Enqueue(%s) = %d, %v; want 250", mode, n, err)
		}
		if out, err := s.Outstanding(ctx); err != nil || out != 250 {
			t.Fatalf("%s: Outstanding = %d, %v; want 250", mode, out, err)
		}
	}

	// After Release another process could open the store: the lock is free.
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	other, err := boltstore.New(filepath.Join(dir, "store"), &boltstore.Config{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("store still locked after Release: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}

	var ran atomic.Int64
	allRan := make(chan struct{})
	stop, err := s.StartWorker(ctx, 10, func() {
		if ran.Add(1) == 250 {
			close(allRan)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-allRan:
	case <-ctx.Done():
		t.Fatalf("drain: %d of 250 tasks ran", ran.Load())
	}
	// The latency path: an insert through the running worker starts at once.
	if n, err := s.Enqueue(ctx, "single", 1, 1, payload); err != nil || n != 1 {
		t.Fatalf("Enqueue while running = %d, %v", n, err)
	}
	for ran.Load() < 251 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for ctx.Err() == nil {
		if out, err := s.Outstanding(ctx); err == nil && out == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != 251 {
		t.Fatalf("ran %d tasks, want 251", got)
	}
	if out, err := s.Outstanding(ctx); err != nil || out != 0 {
		t.Fatalf("Outstanding after drain = %d, %v; want 0", out, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Close must not remove a directory it did not create: %v", err)
	}
}

package bgtask_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/tasks"
)

// A TaskModeOnly definition (every built-in) is refused by Submit and
// SubmitMany and never run; the application opts in per definition by
// registering a copy with the field cleared. Fails on the old code: a
// manager ran removeDirectory for any client.
func TestTaskModeOnlyRefused(t *testing.T) {
	t.Parallel()
	var ran atomic.Bool
	e := setup(t, []bgtask.Definition{
		tasks.RemoveDirectory(),
		{Name: "mine", TaskModeOnly: true, Run: func(context.Context, *bgtask.Task) error { ran.Store(true); return nil }},
	}, nil)
	parent := t.TempDir()
	if err := os.Mkdir(filepath.Join(parent, "projects"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{tasks.RemoveDirectoryName, "mine"} {
		if _, err := e.m.Submit(ctx, name, []string{parent, "projects", "0", "*"}, nil); !errors.Is(err, bgtask.ErrNotSubmittable) {
			t.Errorf("Submit(%s): %v, want ErrNotSubmittable", name, err)
		}
		if _, err := e.m.SubmitMany(ctx, []bgtask.SubmitParams{{Name: "mine"}, {Name: name}}); !errors.Is(err, bgtask.ErrNotSubmittable) {
			t.Errorf("SubmitMany(%s): %v, want ErrNotSubmittable", name, err)
		}
	}
	if res, _ := e.m.List(ctx, nil); len(res.Tasks) != 0 || ran.Load() {
		t.Fatalf("%d tasks stored, ran %v", len(res.Tasks), ran.Load())
	}
	if _, err := os.Stat(filepath.Join(parent, "projects")); err != nil {
		t.Fatalf("the directory is gone: %v", err)
	}

	// Opted in: the application's own copy, field cleared.
	d := tasks.RemoveDirectory()
	d.TaskModeOnly = false
	opt := setup(t, []bgtask.Definition{d}, nil)
	id := opt.submit(tasks.RemoveDirectoryName, parent, "projects", "0")
	if info := opt.waitState(id, bgtask.StateSuccess); info.ExitCode == nil || *info.ExitCode != 0 {
		t.Fatalf("opted-in removeDirectory: %+v", info)
	}
	if _, err := os.Stat(filepath.Join(parent, "projects")); !os.IsNotExist(err) {
		t.Fatalf("opted in, the directory is still there: %v", err)
	}
}

// Submit bounds arguments as the HTTP API does: MaxArgsBytes, counting one
// byte per argument besides its length.
func TestSubmitArgsLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}}, nil)
	ctx := context.Background()
	fits := strings.Repeat("a", bgtask.MaxArgsBytes-2)
	if _, err := e.m.Submit(ctx, "noop", []string{fits, ""}, nil); err != nil {
		t.Fatalf("args of exactly MaxArgsBytes: %v", err)
	}
	for _, args := range [][]string{
		{fits + "a", ""},
		{strings.Repeat("a", 300<<20>>8), strings.Repeat("b", bgtask.MaxArgsBytes)},
		make([]string, bgtask.MaxArgsBytes+1), // a million empty arguments
	} {
		_, err := e.m.Submit(ctx, "noop", args, nil)
		if !errors.Is(err, bgtask.ErrArgsTooLarge) || !errors.Is(err, bgtask.ErrInvalidArgument) {
			t.Errorf("Submit with %d args: %v, want ErrArgsTooLarge and ErrInvalidArgument", len(args), err)
		}
		if _, err := e.m.SubmitMany(ctx, []bgtask.SubmitParams{{Name: "noop", Args: args}}); !errors.Is(err, bgtask.ErrArgsTooLarge) {
			t.Errorf("SubmitMany with %d args: %v, want ErrArgsTooLarge", len(args), err)
		}
	}
}

// An idempotency key names one submission: the same name, arguments and
// options get the stored task's ID, anything else an *IdempotencyConflictError
// naming it. Fails on the old code: another task's ID came back silently.
func TestIdempotencyKeyConflict(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, *bgtask.Task) error { return nil }
	e := setup(t, []bgtask.Definition{{Name: "a", Run: noop}, {Name: "b", Run: noop}}, nil)
	ctx := context.Background()
	key := &bgtask.SubmitOpts{IdempotencyKey: "k1"}
	id, err := e.m.Submit(ctx, "a", []string{"x"}, key)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.m.Submit(ctx, "a", []string{"x"}, key); err != nil || again != id {
		t.Fatalf("same submission again: %q %v, want %q", again, err, id)
	}
	explicit := &bgtask.SubmitOpts{IdempotencyKey: "k1", Priority: bgtask.PriorityNormal}
	if again, err := e.m.Submit(ctx, "a", []string{"x"}, explicit); err != nil || again != id {
		t.Fatalf("same submission with the default priority spelled out: %q %v, want %q", again, err, id)
	}
	// Other options under the same key (found by a fresh user: a repeat
	// with another timeout came back 201 with the first task, the
	// timeout silently dropped).
	withOpts := func(edit func(*bgtask.SubmitOpts)) *bgtask.SubmitOpts {
		o := *key
		edit(&o)
		return &o
	}
	for _, tc := range []struct {
		name string
		args []string
		opts *bgtask.SubmitOpts
	}{
		{"b", []string{"x"}, key}, {"a", []string{"y"}, key}, {"a", nil, key}, {"a", []string{"x", ""}, key},
		{"a", []string{"x"}, withOpts(func(o *bgtask.SubmitOpts) { o.Timeout = 5 * time.Second })},
		{"a", []string{"x"}, withOpts(func(o *bgtask.SubmitOpts) { o.Priority, o.IdleTimeout = bgtask.PriorityIdle, time.Second })},
		{"a", []string{"x"}, withOpts(func(o *bgtask.SubmitOpts) { o.Priority = bgtask.PriorityIdle })},
	} {
		key := tc.opts
		_, err := e.m.Submit(ctx, tc.name, tc.args, key)
		var ce *bgtask.IdempotencyConflictError
		if !errors.As(err, &ce) || !errors.Is(err, bgtask.ErrIdempotencyConflict) || ce.TaskID != id || ce.Name != "a" || !strings.Contains(err.Error(), id) {
			t.Errorf("Submit(%s, %q) with the key of %s: %v, want a conflict naming it", tc.name, tc.args, id, err)
		}
		_, err = e.m.SubmitMany(ctx, []bgtask.SubmitParams{{Name: tc.name, Args: tc.args, Opts: key}})
		if !errors.As(err, &ce) || ce.TaskID != id {
			t.Errorf("SubmitMany(%s, %q) with the key of %s: %v, want a conflict naming it", tc.name, tc.args, id, err)
		}
	}
}

// Finished tasks do not stay in memory: the events kept in the store's and
// the manager's in-memory log tails hold copies of the few strings they
// need, not the decoded record they came from. Fails on the old code: 40
// tasks with 1 MiB of arguments kept about 40 MiB alive after they ended
// (300 such tasks: 330 MB of heap in bgtask serve). Not parallel: it
// measures the heap.
func TestFinishedTasksNotRetained(t *testing.T) {
	e := setup(t, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}}, nil)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.submit("noop", strings.Repeat("x", 1<<20-16))
	}
	for _, id := range ids {
		e.waitState(id, bgtask.StateSuccess)
	}
	if grown := int64(heap()) - int64(before); grown > 12<<20 {
		t.Fatalf("heap grew by %d MiB after %d finished tasks of 1 MiB each, want less than 12", grown>>20, n)
	}
}

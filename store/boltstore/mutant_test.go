package boltstore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
)

// The conformance suite must fail a wrong backend. Each mutant below
// breaks one rule of the store.Store contract on top of the real store;
// TestSuiteFailsMutants runs the suite against each in a child process and
// expects it to fail.

const mutantEnv = "BOLTSTORE_MUTANT"

var mutants = []string{
	"finish-overwrites-terminal",
	"claim-not-fifo",
	"claim-twice",
	"update-by-anyone",
	"heartbeat-never-lost",
	"delete-ignores-cutoff",
	"drops-non-lossy",
	"list-oldest-first",
}

type mutant struct {
	store.Store
	kind string
	last []store.Claimed
}

func (m *mutant) Finish(ctx context.Context, owner, id string, c store.Completion) (*store.Record, error) {
	r, err := m.Store.Finish(ctx, owner, id, c)
	if m.kind == "finish-overwrites-terminal" && errors.Is(err, store.ErrFinished) {
		r, _ = m.Store.Get(ctx, id)
		r.State = c.State
		return r, nil
	}
	return r, err
}

func (m *mutant) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	cl, err := m.Store.Claim(ctx, p)
	switch m.kind {
	case "claim-not-fifo":
		slices.Reverse(cl)
	case "claim-twice":
		prev := m.last
		m.last = cl
		if len(cl) < p.Limit && len(prev) > 0 {
			cl = append(cl, prev[0])
		}
	}
	return cl, err
}

func (m *mutant) Update(ctx context.Context, owner string, ps []store.Patch) ([]string, error) {
	if m.kind == "update-by-anyone" {
		for _, p := range ps {
			if r, err := m.Store.Get(ctx, p.ID); err == nil && r.Owner != "" {
				owner = r.Owner
			}
		}
	}
	return m.Store.Update(ctx, owner, ps)
}

func (m *mutant) Heartbeat(ctx context.Context, owner string, ids []string, now time.Time) (store.HeartbeatResult, error) {
	res, err := m.Store.Heartbeat(ctx, owner, ids, now)
	if m.kind == "heartbeat-never-lost" {
		res.Lost = nil
	}
	return res, err
}

func (m *mutant) DeleteFinished(ctx context.Context, before time.Time, limit int) (int, error) {
	if m.kind == "delete-ignores-cutoff" {
		before = before.Add(time.Hour)
	}
	return m.Store.DeleteFinished(ctx, before, limit)
}

func (m *mutant) List(ctx context.Context, p store.ListParams) (*store.ListPage, error) {
	page, err := m.Store.List(ctx, p)
	if m.kind == "list-oldest-first" && err == nil {
		slices.Reverse(page.Records)
	}
	return page, err
}

func (m *mutant) Subscribe(ctx context.Context) (<-chan store.Message, func()) {
	ch, stop := m.Store.Subscribe(ctx)
	if m.kind != "drops-non-lossy" {
		return ch, stop
	}
	out := make(chan store.Message)
	done := make(chan struct{})
	go func() {
		defer close(out)
		n := 0
		for msg := range ch {
			if n++; !msg.Lossy && n%7 == 0 {
				continue
			}
			select {
			case out <- msg:
			case <-done:
				for range ch {
				}
				return
			}
		}
	}()
	return out, func() {
		stop()
		select {
		case <-done:
		default:
			close(done)
		}
	}
}

// TestMutantConformance runs the suite against the mutant named in the
// environment; it only runs as TestSuiteFailsMutants' child.
func TestMutantConformance(t *testing.T) {
	kind := os.Getenv(mutantEnv)
	if kind == "" {
		t.Skip("runs only as a child of TestSuiteFailsMutants")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return &mutant{Store: open(t, t.TempDir()), kind: kind}
	})
}

func TestSuiteFailsMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for _, kind := range mutants {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantConformance$", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+kind)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the conformance suite passed a store with mutation %q", kind)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutantConformance/") {
				t.Fatalf("child failed without a suite failure: %v\n%s", err, out)
			}
			var failed []string
			for line := range strings.Lines(string(out)) {
				if f, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: TestMutantConformance/"); ok {
					failed = append(failed, strings.Fields(f)[0])
				}
			}
			t.Logf("caught by %v", failed)
		})
	}
}

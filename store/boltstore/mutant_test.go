package boltstore_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
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
	"stale-lease-writes",
	"claim-not-fifo",
	"claim-twice",
	"renew-never-lost",
	"delete-ignores-cutoff",
	"log-drops-entries",
	"list-oldest-first",
	"recover-nothing",
}

type mutant struct {
	store.Store
	kind string
	last []store.Claimed
	// over is the state the last Finish named per ID, which Get reports
	// (finish-overwrites-terminal).
	mu   sync.Mutex
	over map[string]store.State
}

// current returns the lease the record of l is held under now.
func (m *mutant) current(ctx context.Context, l store.Lease) store.Lease {
	if r, err := m.Store.Get(ctx, l.ID); err == nil && r.Owner != "" {
		return r.Lease()
	}
	return l
}

func (m *mutant) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if m.kind == "stale-lease-writes" {
		for i := range cs {
			cs[i].Lease = m.current(ctx, cs[i].Lease)
		}
	}
	res, err := m.Store.Finish(ctx, cs)
	if m.kind == "finish-overwrites-terminal" && err == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.over == nil {
			m.over = map[string]store.State{}
		}
		for i, r := range res {
			if r.Err == nil {
				m.over[cs[i].Lease.ID] = cs[i].State
			}
		}
	}
	return res, err
}

func (m *mutant) Get(ctx context.Context, id string) (*store.Record, error) {
	r, err := m.Store.Get(ctx, id)
	if err == nil && m.kind == "finish-overwrites-terminal" {
		m.mu.Lock()
		if st, ok := m.over[id]; ok {
			r.State = st
		}
		m.mu.Unlock()
	}
	return r, err
}

func (m *mutant) Update(ctx context.Context, ps []store.Patch) ([]store.Lease, error) {
	if m.kind == "stale-lease-writes" {
		for i := range ps {
			ps[i].Lease = m.current(ctx, ps[i].Lease)
		}
	}
	return m.Store.Update(ctx, ps)
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

func (m *mutant) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if m.kind == "recover-nothing" {
		return nil, nil
	}
	return m.Store.Recover(ctx, p, held)
}

func (m *mutant) Renew(ctx context.Context, ls []store.Lease) (store.RenewResult, error) {
	res, err := m.Store.Renew(ctx, ls)
	if m.kind == "renew-never-lost" {
		res.Lost = nil
	}
	return res, err
}

func (m *mutant) DeleteFinished(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	if m.kind == "delete-ignores-cutoff" {
		olderThan -= time.Hour
	}
	return m.Store.DeleteFinished(ctx, olderThan, limit)
}

func (m *mutant) List(ctx context.Context, p store.ListParams) (*store.ListPage, error) {
	page, err := m.Store.List(ctx, p)
	if m.kind == "list-oldest-first" && err == nil {
		slices.Reverse(page.Records)
	}
	return page, err
}

func (m *mutant) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	page, err := m.Store.ReadLog(ctx, after, limit, wait)
	if m.kind == "log-drops-entries" && len(page.Events) > 2 {
		page.Events = append(page.Events[:1], page.Events[2:]...)
	}
	return page, err
}

// TestMutantConformance runs the suite against the mutant named in the
// environment; it only runs as TestSuiteFailsMutants' child.
func TestMutantConformance(t *testing.T) {
	kind := os.Getenv(mutantEnv)
	if kind == "" {
		t.Skip("runs only as a child of TestSuiteFailsMutants")
	}
	storetest.Run(t, func(t *testing.T, c storetest.Config) store.Store {
		return &mutant{Store: openWith(t, t.TempDir(), c), kind: kind}
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

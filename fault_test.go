package bgtask_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/store"
)

// faultStore wraps a real store and makes chosen methods fail with
// store.ErrUnavailable, as a full disk or an unreachable server does, so
// that the manager's handling of store failures can be tested. Calls that
// fail are counted.
type faultStore struct {
	store.Store
	mu     sync.Mutex
	failOn map[string]bool
	failed map[string]int
	called chan string // a name per failed call, non-blocking
}

func newFaultStore(s store.Store) *faultStore {
	return &faultStore{Store: s, failOn: map[string]bool{}, failed: map[string]int{}, called: make(chan string, 10000)}
}

// fail makes the named methods fail (true) or work (false).
func (f *faultStore) fail(on bool, methods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range methods {
		f.failOn[m] = on
	}
}

func (f *faultStore) check(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failOn[method] {
		return nil
	}
	f.failed[method]++
	select {
	case f.called <- method:
	default:
	}
	return fmt.Errorf("%w: injected failure of %s", store.ErrUnavailable, method)
}

// waitFailed waits until method has failed at least n times in all.
// failures returns how many calls of method failed so far.
func (f *faultStore) failures(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[method]
}

func (f *faultStore) waitFailed(method string, n int) bool {
	deadline := time.After(waitFor)
	for {
		f.mu.Lock()
		got := f.failed[method]
		f.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-f.called:
		case <-deadline:
			return false
		}
	}
}

func (f *faultStore) Renew(ctx context.Context, ls []store.Lease) (store.RenewResult, error) {
	if err := f.check("Renew"); err != nil {
		return store.RenewResult{}, err
	}
	return f.Store.Renew(ctx, ls)
}

func (f *faultStore) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	if err := f.check("Claim"); err != nil {
		return nil, err
	}
	return f.Store.Claim(ctx, p)
}

func (f *faultStore) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if err := f.check("Recover"); err != nil {
		return nil, err
	}
	return f.Store.Recover(ctx, p, held)
}

func (f *faultStore) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if err := f.check("Finish"); err != nil {
		return nil, err
	}
	return f.Store.Finish(ctx, cs)
}

func (f *faultStore) Release(ctx context.Context, ps []store.Patch) ([]store.Lease, error) {
	if err := f.check("Release"); err != nil {
		return nil, err
	}
	return f.Store.Release(ctx, ps)
}

func (f *faultStore) Update(ctx context.Context, ps []store.Patch) ([]store.Lease, error) {
	if err := f.check("Update"); err != nil {
		return nil, err
	}
	return f.Store.Update(ctx, ps)
}

func (f *faultStore) RequestCancel(ctx context.Context, id string) (*store.Record, error) {
	if err := f.check("RequestCancel"); err != nil {
		return nil, err
	}
	return f.Store.RequestCancel(ctx, id)
}

// countingStore counts the Claim calls made through it.
type countingStore struct {
	store.Store
	claims atomic.Int64
}

func (c *countingStore) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	c.claims.Add(1)
	return c.Store.Claim(ctx, p)
}

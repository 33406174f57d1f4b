// Package parallel runs the subtasks of a parallel task, for both faces of
// bgtask: task mode (every subtask once) and the manager (the subtasks that
// have not succeeded yet, with state kept in the store). What differs
// between the faces (how a subtask's handle is built, how its outcome is
// recorded) is in the callbacks; the scheduling is here, once.
package parallel

import (
	"context"
	"fmt"
	"sync"
)

// CheckKeys returns an error unless every key is non-empty and unique.
func CheckKeys(keys []string) error {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == "" || seen[k] {
			return fmt.Errorf("subtask keys must be non-empty and unique, got %q", keys)
		}
		seen[k] = true
	}
	return nil
}

// Run calls run(ctx, i) for every index in todo, in that order, with at
// most limit calls at once (limit < 1 means 1). Once ctx ends it starts no
// more calls; it returns when every started call has returned, with the
// number of calls started.
func Run(ctx context.Context, todo []int, limit int, run func(ctx context.Context, i int)) int {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	started := 0
	for _, i := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return started
		}
		if ctx.Err() != nil { // both ready: prefer stopping
			<-sem
			break
		}
		started++
		wg.Go(func() {
			defer func() { <-sem }()
			run(ctx, i)
		})
	}
	wg.Wait()
	return started
}

package parallel

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCheckKeys(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		ok   bool
	}{{nil, true}, {[]string{"a", "b"}, true}, {[]string{"a", ""}, false}, {[]string{"a", "a"}, false}} {
		if err := CheckKeys(tc.keys); (err == nil) != tc.ok {
			t.Errorf("CheckKeys(%q) = %v, want ok %v", tc.keys, err, tc.ok)
		}
	}
}

func TestRunBoundsConcurrency(t *testing.T) {
	var now, peak atomic.Int32
	var mu sync.Mutex
	var ran []int
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	todo := []int{4, 1, 3, 0, 2, 5, 6}
	go func() {
		// Let the first wave fill up, then release everything.
		for range 3 {
			<-entered
		}
		close(release)
	}()
	n := Run(context.Background(), todo, 3, func(ctx context.Context, i int) {
		if c := now.Add(1); c > peak.Load() {
			peak.Store(c)
		}
		entered <- struct{}{}
		<-release
		mu.Lock()
		ran = append(ran, i)
		mu.Unlock()
		now.Add(-1)
	})
	if n != len(todo) || len(ran) != len(todo) {
		t.Fatalf("started %d, ran %d; want %d", n, len(ran), len(todo))
	}
	if p := peak.Load(); p > 3 {
		t.Fatalf("peak concurrency %d, want at most 3", p)
	}
}

func TestRunStopsStartingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	n := Run(ctx, []int{0, 1, 2, 3, 4}, 1, func(ctx context.Context, i int) {
		ran.Add(1)
		if i == 1 {
			cancel()
		}
	})
	if n != 2 || ran.Load() != 2 {
		t.Fatalf("started %d, ran %d after a cancel in the second call; want 2", n, ran.Load())
	}
}

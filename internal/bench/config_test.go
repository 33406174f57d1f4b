package bench_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/bench"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// Run refuses, by field name and before it opens a store, what is out of
// range: a negative count was taken for the default, and so was a
// scenario given twice run twice.
func TestConfigRefused(t *testing.T) {
	t.Parallel()
	errOpened := errors.New("a store was opened")
	open := func(context.Context) (store.Store, func(), error) { return nil, nil, errOpened }
	for _, tc := range []struct {
		cfg  bench.Config
		want string
	}{
		{bench.Config{Scenarios: []string{bench.Latency}, LatencySamples: -1}, "Config.LatencySamples -1"},
		{bench.Config{Scenarios: []string{bench.RSS}, RSSTasks: -1}, "Config.RSSTasks -1"},
		{bench.Config{Scenarios: []string{bench.DrainSSE}, SSEClients: -1}, "Config.SSEClients -1"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, N: -1}, "Config.N -1"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, Producers: -1}, "Config.Producers -1"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, Concurrency: -1}, "Config.Concurrency -1"},
		{bench.Config{Scenarios: []string{bench.Batch}, BatchSize: -1}, "Config.BatchSize -1"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, Payload: -1}, "Config.Payload -1"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, Payload: 2 << 20}, "Config.Payload 2097152"},
		{bench.Config{Scenarios: []string{bench.Latency}, LatencySamples: 1 << 40}, "Config.LatencySamples 1099511627776"},
		{bench.Config{Scenarios: []string{bench.Enqueue}, Timeout: -time.Second}, "Config.Timeout -1s"},
		{bench.Config{Scenarios: []string{bench.Enqueue, bench.Enqueue}}, `Config.Scenarios has "enqueue" twice`},
		{bench.Config{Scenarios: []string{"nope"}}, `unknown scenario "nope"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			tc.cfg.OpenStore = open
			res, err := bench.Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || len(res) != 0 {
				t.Fatalf("Run: %d results, error %v; want none and %q", len(res), err, tc.want)
			}
		})
	}
}

// recordingStore notes the arguments of the records inserted.
type recordingStore struct {
	store.Store
	mu   sync.Mutex
	args [][]string
}

func (s *recordingStore) Insert(ctx context.Context, recs []*store.Record) ([]store.InsertResult, error) {
	s.mu.Lock()
	for _, r := range recs {
		s.args = append(s.args, r.Args)
	}
	s.mu.Unlock()
	return s.Store.Insert(ctx, recs)
}

// Payload 0 is an empty argument: it was taken for the default, 100 bytes.
func TestPayloadZeroIsEmpty(t *testing.T) {
	t.Parallel()
	var rs *recordingStore
	_, err := bench.Run(context.Background(), bench.Config{
		Scenarios: []string{bench.Enqueue},
		N:         3,
		Payload:   0,
		Out:       &strings.Builder{},
		OpenStore: func(context.Context) (store.Store, func(), error) {
			s, err := boltstore.New(t.TempDir(), nil)
			if err != nil {
				return nil, nil, err
			}
			rs = &recordingStore{Store: s}
			return rs, func() { s.Close() }, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.args) != 3 {
		t.Fatalf("%d records, want 3", len(rs.args))
	}
	for _, a := range rs.args {
		if len(a) != 1 || a[0] != "" {
			t.Fatalf("args %q: want one empty argument", a)
		}
	}
}

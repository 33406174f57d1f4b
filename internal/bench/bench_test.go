package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bgtask/bgtask/internal/bench"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Every scenario runs end to end with small counts and reports sane figures.
func TestScenariosSmoke(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	res, err := bench.Run(context.Background(), bench.Config{
		N:              500,
		BatchSize:      100,
		LatencySamples: 20,
		RSSTasks:       3000,
		Timeout:        time.Minute,
		Out:            &out,
		SyncDir:        dir,
		OpenStore: func(context.Context) (store.Store, func(), error) {
			d, err := os.MkdirTemp(dir, "store-")
			if err != nil {
				return nil, nil, err
			}
			s, err := boltstore.New(d, nil)
			if err != nil {
				return nil, nil, err
			}
			return s, func() { s.Close() }, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(bench.All) {
		t.Fatalf("%d results, want %d", len(res), len(bench.All))
	}
	for _, r := range res {
		if r.Capped || r.PeakKiB == 0 {
			t.Errorf("%s: capped or no RSS: %+v", r.Scenario, r)
		}
		switch r.Scenario {
		case bench.Enqueue, bench.Batch:
			if r.N != 500 || r.TasksPerSec <= 0 {
				t.Errorf("%s: %+v", r.Scenario, r)
			}
		case bench.Drain:
			if r.N != 500 || r.TasksPerSec <= 0 || r.AckedPerSec <= 0 {
				t.Errorf("drain: %+v", r)
			}
		case bench.Latency:
			if r.N != 20 || r.P50 <= 0 || r.P99 < r.P50 || r.SyncP50 <= 0 {
				t.Errorf("latency: %+v", r)
			}
			// The wake-up is the part after Submit returned: never more
			// than the whole.
			if r.WakeP50 <= 0 || r.WakeP99 < r.WakeP50 || r.WakeP50 > r.P50 || r.WakeP99 > r.P99 {
				t.Errorf("latency wake-up: p50 %v p99 %v of p50 %v p99 %v", r.WakeP50, r.WakeP99, r.P50, r.P99)
			}
		case bench.RSS:
			if r.N != 3000 || len(r.RSSKiB) != 3 {
				t.Errorf("rss: %+v", r)
			}
		}
	}
	if got := strings.Count(out.String(), "scenario="); got != len(bench.All) {
		t.Errorf("%d result lines:\n%s", got, out.String())
	}
}

package bgtask_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// Lease timings that stop healthy runs are refused: a server stops a run
// whose lease it has not renewed for StaleAfter - HeartbeatInterval and
// renews once per interval, so StaleAfter 3s with HeartbeatInterval 2s
// (accepted before: it only had to exceed the interval) ended every run
// "orphaned after 1 attempt", and a 1 ns interval made an idle server
// spin.
func TestLeaseTimingRefused(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		hb, stale time.Duration
		want      string
	}{
		{2 * time.Second, 3 * time.Second, "StaleAfter (3s) must be at least 3 times HeartbeatInterval (2s)"},
		{2 * time.Second, 5 * time.Second, "StaleAfter (5s) must be at least 3 times"},
		{time.Nanosecond, 2 * time.Nanosecond, "HeartbeatInterval (1ns) must be at least 10ms"},
		{0, 10 * time.Second, "StaleAfter (10s) must be at least 3 times HeartbeatInterval (5s)"}, // the default interval
		// 3 × the interval overflows: it passed as a negative product.
		{math.MaxInt64/3 + 1, 3 * time.Second, "StaleAfter (3s) must be at least 3 times"},
		{1 << 62, 3 * time.Second, "StaleAfter (3s) must be at least 3 times"},
		{math.MaxInt64, math.MaxInt64, "StaleAfter (2562047h47m16.854775807s) must be at least 3 times"},
	} {
		_, err := bgtask.NewManager(&bgtask.Config{Registry: bgtask.NewRegistry(), Store: st, HeartbeatInterval: tc.hb, StaleAfter: tc.stale})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("HeartbeatInterval %v, StaleAfter %v: %v, want an error saying %q", tc.hb, tc.stale, err, tc.want)
		}
	}
	for _, ok := range [][2]time.Duration{{0, 0}, {2 * time.Second, 6 * time.Second}, {10 * time.Millisecond, 30 * time.Millisecond}, {math.MaxInt64 / 3, math.MaxInt64}} {
		if _, err := bgtask.NewManager(&bgtask.Config{Registry: bgtask.NewRegistry(), Store: st, HeartbeatInterval: ok[0], StaleAfter: ok[1]}); err != nil {
			t.Errorf("HeartbeatInterval %v, StaleAfter %v: %v, want it accepted", ok[0], ok[1], err)
		}
	}
}

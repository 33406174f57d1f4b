package bgtask_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/bgtask/bgtask"
)

// A task that reports a NaN or infinite amount broke every reader of its
// record: JSON has no NaN, so GET answered an empty body, the list closed
// the connection and events went out with no data, on every server
// sharing the store. Such amounts are ignored (the previous amount stays;
// the message is still taken), and the record and events encode.
func TestProgressIgnoresAmountsThatAreNotFinite(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{{Name: "nan", Run: func(_ context.Context, tk *bgtask.Task) error {
		p := tk.Progress()
		p.SetTotal(10)
		p.Set(4, "four")
		p.Set(math.NaN(), "nan")
		p.SetTotal(math.Inf(1))
		p.Add(math.Inf(-1), "")
		p.Add(math.MaxFloat64, "")
		p.Add(math.MaxFloat64, "overflow") // the sum is +Inf
		if got := p.Snapshot(); got.Total != 10 || got.Current != 4+math.MaxFloat64 || got.Message != "overflow" {
			t.Errorf("progress after amounts that are not finite: %+v", got)
		}
		p.Set(5, "five")
		return nil
	}}}, nil)
	f := e.followAll()
	id := e.submit("nan")
	for _, ev := range f.until(bgtask.EventDone) {
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("event %s does not encode: %v", ev.Kind, err)
		}
	}
	info := e.waitState(id, bgtask.StateSuccess)
	if _, err := json.Marshal(info); err != nil {
		t.Fatalf("the record does not encode: %v", err)
	}
	if info.Progress != (bgtask.ProgressInfo{Current: 5, Total: 10, Message: "five"}) {
		t.Fatalf("final progress %+v, want 5 of 10, five", info.Progress)
	}
}

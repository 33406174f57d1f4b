package bgtask

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// The frames of the all-tasks stream (appendFrames, shared by every
// stream) are byte for byte what encoding/json and the SSE framing make of
// each event, whether the reader takes them from the tail's memory or
// from the store (a tail that keeps 8 entries), and also when a batch is
// cut at its byte limit: ids increase, every terminal event is there, and
// no update is lost without a later update of the same task following it.
func TestFramesAreTheEventsEncodings(t *testing.T) {
	for _, history := range []int{8, DefaultEventHistory} {
		t.Run(fmt.Sprint("history=", history), func(t *testing.T) {
			t.Parallel()
			testFrames(t, history)
		})
	}
}

func testFrames(t *testing.T, history int) {
	st, err := boltstore.New(filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	reg.MustAdd(Definition{Name: "quick", Run: func(context.Context, *Task) error { return nil }})
	reg.MustAdd(Definition{Name: "boom", Run: func(context.Context, *Task) error { return fmt.Errorf("boom \"quoted\" <b>") }})
	reg.MustAdd(Definition{Name: "steps", Run: func(ctx context.Context, tk *Task) error {
		tk.Progress().SetTotal(3)
		for i := range 3 {
			tk.Progress().Add(1, "step é "+strconv.Itoa(i))
			time.Sleep(3 * time.Millisecond)
		}
		return nil
	}})
	m, err := NewManager(&Config{Registry: reg, Store: st, EventHistory: history, ProgressInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		_ = m.Stop(sctx)
		st.Close()
	}()
	if _, err := m.Submit(ctx, "quick", nil, nil); err != nil {
		t.Fatal(err)
	}
	page, err := st.ReadLog(ctx, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	from := page.Head
	var ids []string
	for i := range 40 {
		name := []string{"quick", "boom", "steps"}[i%3]
		id, err := m.Submit(ctx, name, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		for {
			info, err := m.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Terminal() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	page, err = st.ReadLog(ctx, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	head := page.Head
	for m.tail.position() < head { // the tail has read the whole log
		time.Sleep(time.Millisecond)
	}

	r, err := m.Follow(ctx, &SubscribeOpts{After: from})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for r.Pos() < head {
		// A small limit: batches are cut within the tail's entries.
		if got, err = r.appendFrames(ctx, got, 700, nil); err != nil {
			t.Fatal(err)
		}
	}
	end := r.Pos() // the reader decided on every entry up to here

	// What each event's frame must be, from the log itself.
	want := map[uint64][]byte{}
	logged := map[uint64]store.Event{}
	for after := from; after < end; {
		page, err := st.ReadLog(ctx, after, 1000, 0)
		if err != nil || page.Truncated || len(page.Events) == 0 {
			t.Fatalf("log after %d: %v truncated=%v", after, err, page.Truncated)
		}
		for i := range page.Events {
			e := page.Events[i]
			if e.Seq > end {
				break
			}
			logged[e.Seq] = e
			ev := eventOf(&e)
			data, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			want[e.Seq] = fmt.Appendf(nil, "event: %s\nid: %d\ndata: %s\n\n", ev.Kind, ev.Seq, data)
		}
		after = page.Events[len(page.Events)-1].Seq
	}

	seen := map[uint64]bool{}
	var last uint64
	for f := range bytes.SplitAfterSeq(got, []byte("\n\n")) {
		if len(f) == 0 {
			continue // after the last frame
		}
		lines := bytes.SplitN(f, []byte("\n"), 3)
		if len(lines) < 3 || !bytes.HasPrefix(lines[1], []byte("id: ")) {
			t.Fatalf("frame %q", f)
		}
		seq, err := strconv.ParseUint(string(lines[1][4:]), 10, 64)
		if err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if !bytes.Equal(f, want[seq]) {
			t.Fatalf("frame\n%q\nwant\n%q", f, want[seq])
		}
		if seq <= last {
			t.Fatalf("id %d after %d", seq, last)
		}
		last, seen[seq] = seq, true
	}
	// A position the log never had: a reset to its head.
	r2, err := m.Follow(ctx, &SubscribeOpts{After: head + 1000})
	if err != nil {
		t.Fatal(err)
	}
	reset, err := r2.appendFrames(ctx, nil, 700, nil)
	if w := fmt.Sprintf("event: reset\nid: %d\ndata: {\"seq\":%d}\n\n", r2.Pos(), r2.Pos()); err != nil || string(reset) != w || r2.Pos() < head {
		t.Errorf("resume past the head %d: %q, %v; want %q", head, reset, err, w)
	}
	for seq, e := range logged {
		k := EventKind(e.Kind)
		switch {
		case seen[seq] || !publicKind(k):
		case k == EventUpdated:
			later := false
			for s2, e2 := range logged {
				later = later || (s2 > seq && seen[s2] && e2.TaskID == e.TaskID && EventKind(e2.Kind) == EventUpdated)
			}
			if !later {
				t.Errorf("updated event %d of %s missing, and no later update of it sent", seq, e.TaskID)
			}
		default:
			t.Errorf("%s event %d missing", k, seq)
		}
	}
}

package bgtask

import (
	"testing"

	"github.com/bgtask/bgtask/store"
)

// TestTailMemoryStaysDense: events appended with a Seq missing between
// them (a log with a hole) do not shift what memory hands out: memory
// starts again after the hole, a reader from before it is sent to the
// store, and one after it gets the right events. The tail used to index
// its ring by Seq - first Seq, so a reader after the hole got events one
// later than asked for (skipping one, a terminal one included).
func TestTailMemoryStaysDense(t *testing.T) {
	tl := &eventTail{ring: make([]tailSlot, 8), wake: make(chan struct{}), ready: true}
	evs := func(seqs ...uint64) []store.Event {
		out := make([]store.Event, len(seqs))
		for i, s := range seqs {
			out[i] = store.Event{Seq: s, Kind: store.EventDone, TaskID: "t"}
		}
		return out
	}
	tl.append(evs(10, 11, 12), false)
	tl.append(evs(14, 15, 16), false) // 13 is missing
	if got, ok, _, _ := tl.after(11, 10); ok {
		t.Fatalf("after(11) from memory = %d events; want a read of the store (memory starts after the hole)", len(got))
	}
	got, ok, _, _ := tl.after(14, 10)
	if !ok || len(got) != 2 || got[0].Seq != 15 || got[1].Seq != 16 {
		seqs := make([]uint64, len(got))
		for i, e := range got {
			seqs[i] = e.Seq
		}
		t.Fatalf("after(14) = %v, %v; want events 15 and 16", seqs, ok)
	}
}

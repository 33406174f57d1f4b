package idle

import (
	"math/rand/v2"
	"testing"
)

// The handle index agrees with a map under random adds and removes,
// including entries that stay for a long time and force compactions.
func TestHandleIndexMatchesMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var x handleIndex
	ref := map[Handle]*entry{}
	next := Handle(1)
	var live []Handle
	for step := range 200000 {
		if len(live) == 0 || rng.IntN(100) < 52 {
			e := &entry{handle: next}
			next++
			x.add(e)
			ref[e.handle] = e
			live = append(live, e.handle)
		} else {
			// Mostly FIFO, sometimes random; handle 1 is never removed.
			i := 0
			if rng.IntN(10) == 0 {
				i = rng.IntN(len(live))
			}
			if live[i] == 1 {
				i = len(live) - 1
				if live[i] == 1 {
					continue
				}
			}
			h := live[i]
			live = append(live[:i], live[i+1:]...)
			x.remove(h)
			delete(ref, h)
		}
		if step%997 == 0 {
			for h := Handle(1); h < next; h++ {
				if got, want := x.get(h), ref[h]; got != want {
					t.Fatalf("step %d: get(%d) = %v, want %v", step, h, got, want)
				}
			}
		}
	}
	if n := len(x.win) - x.head; n > 8*len(ref)+1024 { // compact keeps live >= n/8
		t.Fatalf("window holds %d slots for %d live entries", n, len(ref))
	}
	x.remove(12345678) // unknown: no-op
}

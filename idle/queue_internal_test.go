package idle

import (
	"math/rand/v2"
	"testing"
	"time"
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

// The due heap pops in (due, handle) order under random pushes and
// removals from the middle, and insertByHandle keeps a queue sorted.
func TestDueHeapAndInsertByHandle(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Unix(0, 0)
	var h dueHeap
	live := map[*entry]bool{}
	for i := range 5000 {
		e := &entry{handle: Handle(i + 1), due: base.Add(time.Duration(rng.IntN(50)))}
		h.push(e)
		live[e] = true
		if rng.IntN(3) == 0 { // remove a random live entry
			for x := range live {
				h.remove(x)
				delete(live, x)
				break
			}
		}
	}
	var q queue
	var prev *entry
	for len(h) > 0 {
		e := h.top()
		h.remove(e)
		if !live[e] {
			t.Fatalf("popped %d, which was removed", e.handle)
		}
		delete(live, e)
		if prev != nil && (e.due.Before(prev.due) || e.due.Equal(prev.due) && e.handle < prev.handle) {
			t.Fatalf("popped (%v, %d) after (%v, %d)", e.due, e.handle, prev.due, prev.handle)
		}
		prev = e
		q.insertByHandle(e)
	}
	if len(live) != 0 {
		t.Fatalf("%d entries never popped", len(live))
	}
	n := 0
	for e := q.head; e != nil; e = e.next {
		if e.next != nil && (e.next.handle < e.handle || e.next.prev != e) {
			t.Fatalf("queue out of order or badly linked at %d", e.handle)
		}
		n++
	}
	if n != q.n || (q.tail != nil && q.tail.next != nil) {
		t.Fatalf("queue holds %d entries, counts %d", n, q.n)
	}
}

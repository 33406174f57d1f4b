package idle

import (
	"testing"
	"time"
)

// No poke is lost: every wait that follows a poke returns, whichever of
// the two runs first, in both modes; extra pokes coalesce into one token.
func TestWakerLosesNoPoke(t *testing.T) {
	t.Parallel()
	for _, kernel := range []bool{false, true} {
		w := newWaker(kernel)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 20000 {
				go w.poke()
				w.wait()
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Minute): // a failsafe: a lost poke blocks for ever
			t.Fatalf("kernel %t: a wait missed its poke", kernel)
		}
		w.poke()
		w.poke() // coalesces with the first
		w.wait()
		waited := make(chan struct{})
		go func() { w.wait(); close(waited) }()
		select {
		case <-waited:
			t.Fatalf("kernel %t: two pokes left two tokens", kernel)
		case <-time.After(10 * time.Millisecond):
		}
		w.poke()
		<-waited
	}
}

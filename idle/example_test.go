package idle_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/bgtask/bgtask/idle"
)

// Decode 100 items in idle time, the MDN requestIdleCallback demo: the
// callback works while the deadline has time left, then requests itself
// again; the timeout guarantees progress even if the process never idles.
func Example() {
	foreground := idle.NewCounter(1) // the program's own jobs: Inc/Dec around each
	s, err := idle.New(&idle.Config{Sources: []idle.LoadSource{foreground}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	s.Start(ctx)
	defer s.Stop(ctx)

	items, decoded := 100, 0
	done := make(chan struct{})
	var decode func(d idle.Deadline)
	decode = func(d idle.Deadline) {
		// At least one item per call, so that a timed-out call progresses.
		for ok := true; ok && decoded < items; ok = d.TimeRemaining() > 0 {
			decoded++ // decode one item
		}
		if decoded < items {
			s.Request(decode, &idle.RequestOpts{Timeout: time.Second})
			return
		}
		close(done)
	}
	s.Request(decode, &idle.RequestOpts{Timeout: time.Second})
	<-done
	fmt.Println("decoded", decoded, "items")
	// Output: decoded 100 items
}

// A long job in its own goroutine, gated into idle slices: Yield returns at
// once while the slice has time left and blocks for the next slice when it
// has not. This is how the task manager runs idle-priority tasks.
func ExampleGate() {
	s, _ := idle.New(&idle.Config{Sources: []idle.LoadSource{idle.NewCounter(1)}})
	ctx := context.Background()
	s.Start(ctx)
	defer s.Stop(ctx)

	g := s.NewGate(&idle.RequestOpts{Timeout: 5 * time.Second})
	defer g.Close()
	sum := 0
	for i := 1; i <= 1000; i++ {
		if err := g.Yield(ctx); err != nil {
			return // cancelled
		}
		sum += i // one unit of work
	}
	fmt.Println("sum", sum)
	// Output: sum 500500
}

// Idle work that gives way to HTTP requests: the middleware counts requests
// in flight, and a callback's TimeRemaining drops to 0 the moment one
// arrives.
func ExampleInFlight_Middleware() {
	requests := idle.NewInFlight(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	srv := &http.Server{Handler: requests.Middleware(mux)}
	_ = srv // srv.ListenAndServe() in a real program

	s, _ := idle.New(&idle.Config{Sources: []idle.LoadSource{requests}})
	ctx := context.Background()
	s.Start(ctx)
	defer s.Stop(ctx)
	done := make(chan bool)
	s.Request(func(d idle.Deadline) { done <- d.TimeRemaining() > 0 }, nil)
	fmt.Println("ran with time to spare:", <-done)
	// Output: ran with time to spare: true
}

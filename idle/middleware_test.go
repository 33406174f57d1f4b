package idle_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/idle"
)

func TestInFlightCountsRequests(t *testing.T) {
	t.Parallel()
	src := idle.NewInFlight(nil)
	var notified atomic.Int32
	defer src.Watch(func() { notified.Add(1) })()
	inside, release := make(chan struct{}), make(chan struct{})
	h := src.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	done := make(chan string)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-inside
	if !src.Busy() || src.InFlight() != 1 || notified.Load() != 1 {
		t.Fatalf("during the request: Busy=%t InFlight=%d notified=%d, want true 1 1", src.Busy(), src.InFlight(), notified.Load())
	}
	close(release)
	if got := <-done; got != "ok" {
		t.Fatalf("response %q", got)
	}
	// The handler has returned before the response is complete, so the
	// count is down.
	if src.Busy() || src.InFlight() != 0 || notified.Load() != 2 {
		t.Fatalf("after the request: Busy=%t InFlight=%d notified=%d, want false 0 2", src.Busy(), src.InFlight(), notified.Load())
	}
}

func TestInFlightThresholdAndSkip(t *testing.T) {
	t.Parallel()
	src := idle.NewInFlight(&idle.InFlightConfig{Threshold: 2})
	var busyInside []bool
	var h http.Handler
	h = src.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		busyInside = append(busyInside, src.Busy())
		if r.URL.Path == "/outer" {
			h.ServeHTTP(w, httptest.NewRequest("GET", "/inner", nil))
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/outer", nil))
	if diff := cmp.Diff([]bool{false, true}, busyInside); diff != "" {
		t.Fatalf("Busy with 1 then 2 requests in flight (-want +got):\n%s", diff)
	}

	sse := httptest.NewRequest("GET", "/events", nil)
	sse.Header.Set("Accept", "text/event-stream")
	ws := httptest.NewRequest("GET", "/ws", nil)
	ws.Header.Set("Upgrade", "websocket")
	for _, r := range []*http.Request{sse, ws} {
		counted := -1
		src.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			counted = src.InFlight()
		})).ServeHTTP(httptest.NewRecorder(), r)
		if counted != 0 {
			t.Fatalf("%s counted as in flight (%d)", r.URL.Path, counted)
		}
	}
}

// arrive sends one request through src's middleware at the fake time.
func arrive(src *idle.InFlight) {
	src.Middleware(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestInFlightPredictsRegularArrivals(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	src := idle.NewInFlight(&idle.InFlightConfig{Clock: clk})
	for i := range 12 {
		arrive(src)
		if i < 8 {
			if _, ok := src.NextBusy(); ok {
				t.Fatalf("predicted after %d arrivals", i+1)
			}
		}
		clk.Advance(100 * time.Millisecond)
	}
	next, ok := src.NextBusy()
	if want := t0.Add(1200 * time.Millisecond); !ok || !next.Equal(want) {
		t.Fatalf("NextBusy() = %v, %t; want %v, true", next, ok, want)
	}
}

func TestInFlightDoesNotPredictIrregularArrivals(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	src := idle.NewInFlight(&idle.InFlightConfig{Clock: clk})
	for i := range 40 {
		arrive(src)
		clk.Advance(time.Duration(10+180*(i%2)) * time.Millisecond) // mean 100ms, deviation 90ms
		if _, ok := src.NextBusy(); ok {
			t.Fatalf("predicted irregular arrivals after %d", i+1)
		}
	}
}

// End to end: a request that arrives during an idle callback drops its
// deadline to zero, and the next callback waits for the request to end.
func TestInFlightDrivesScheduler(t *testing.T) {
	t.Parallel()
	src := idle.NewInFlight(nil)
	e := setup(t, func(c *idle.Config) { c.Sources = []idle.LoadSource{src} })
	inside, release := make(chan struct{}), make(chan struct{})
	h := src.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release
	}))
	reqDone := make(chan struct{})
	var during time.Duration
	e.s.Request(e.rec.cb("a", func(d idle.Deadline) {
		go func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			close(reqDone)
		}()
		<-inside
		during = d.TimeRemaining()
	}), nil)
	e.s.Request(e.rec.cb("b"), nil)
	e.rec.next(t)
	if during != 0 {
		t.Fatalf("TimeRemaining() with a request in flight = %v, want 0", during)
	}
	e.rec.none(t)
	close(release)
	<-reqDone
	if c := e.rec.next(t); c.Name != "b" {
		t.Fatalf("ran %q", c.Name)
	}
}

func TestInFlightPredictionOnlyWhenOneArrivalMakesBusy(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	src := idle.NewInFlight(&idle.InFlightConfig{Clock: clk, Threshold: 2})
	for range 12 {
		arrive(src)
		clk.Advance(100 * time.Millisecond)
	}
	if _, ok := src.NextBusy(); ok {
		t.Fatal("predicted with 0 in flight and a threshold of 2")
	}
	release := make(chan struct{})
	inside := make(chan struct{})
	go src.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(inside)
		<-release
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-inside
	if _, ok := src.NextBusy(); !ok {
		t.Fatal("no prediction with 1 in flight and a threshold of 2")
	}
	close(release)
}

// A request counts until its response turns out to be a long-lived
// stream: an event-stream response (an SSE client such as curl need not
// send Accept: text/event-stream) or a hijacked connection. Before, `curl
// -N /v1/events` kept bgtask serve busy, and idle tasks never ran.
func TestInFlightReleasesStreamsByTheirResponse(t *testing.T) {
	t.Parallel()
	src := idle.NewInFlight(nil)
	hold := make(chan struct{})
	inside := make(chan int, 1)
	srv := httptest.NewServer(src.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through the middleware: %v", err)
			}
		case "/flusher":
			w.Header().Set("Content-Type", "Text/Event-Stream; charset=utf-8")
			w.(http.Flusher).Flush()
		case "/hijack":
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack through the middleware: %v", err)
				return
			}
			defer conn.Close()
			inside <- src.InFlight()
			<-hold
			brw.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
			brw.Flush()
			return
		case "/plain":
			w.Write([]byte("x"))
		}
		inside <- src.InFlight()
		<-hold
	})))
	defer srv.Close()
	defer close(hold)
	for _, path := range []string{"/events", "/flusher", "/hijack", "/plain"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil) // no Accept header
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		got := <-inside
		want := 0
		if path == "/plain" {
			want = 1
		}
		if got != want {
			t.Errorf("%s: %d requests in flight while it is held, want %d", path, got, want)
		}
		cancel()
	}
}

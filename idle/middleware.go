package idle

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// InFlightConfig configures an InFlight source. The zero value is valid.
type InFlightConfig struct {
	// Threshold is the number of requests in flight at which the process
	// counts as busy. 0: 1, any request.
	Threshold int
	// Skip selects requests that are not counted. nil: DefaultSkip, which
	// leaves out long-lived streams that would otherwise keep the process
	// busy for ever.
	Skip func(*http.Request) bool
	// Clock times arrivals for the next-arrival prediction. nil: clock.Real.
	Clock clock.Clock
}

// DefaultSkip is the default InFlightConfig.Skip: it leaves out requests
// for server-sent events (Accept: text/event-stream) and protocol upgrades
// (WebSocket), which stay open while mostly idle. Whatever Skip says, a
// request stops counting once its handler answers with a
// text/event-stream response or hijacks the connection (see Middleware).
func DefaultSkip(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// InFlight is a LoadSource that counts the HTTP requests in flight through
// its Middleware: the process is busy while the count is at least the
// threshold. It also learns the rhythm of arrivals and, when they come
// regularly enough to predict (pollers, health checks, a steady client),
// announces the next expected arrival as NextBusy, so that idle periods end
// before it rather than when it lands. Irregular (Poisson-like) traffic
// gives no prediction: the live drop of TimeRemaining on arrival is then
// what protects the requests.
type InFlight struct {
	threshold int64
	skip      func(*http.Request) bool
	clock     clock.Clock
	n         atomic.Int64
	next      atomic.Int64 // predicted next arrival, Unix ns; 0: none
	w         watchers

	mu   sync.Mutex // guards the estimator
	est  arrivals
	last time.Time
}

// NewInFlight returns an InFlight source.
func NewInFlight(cfg *InFlightConfig) *InFlight {
	if cfg == nil {
		cfg = &InFlightConfig{}
	}
	f := &InFlight{
		threshold: int64(max(cfg.Threshold, 1)),
		skip:      cfg.Skip,
		clock:     clock.OrReal(cfg.Clock),
	}
	if f.skip == nil {
		f.skip = DefaultSkip
	}
	return f
}

// Middleware returns next wrapped so that every request it serves, unless
// skipped, counts as foreground work while it runs — until it turns out to
// be a long-lived stream: a response with Content-Type text/event-stream
// (an SSE client need not send Accept: text/event-stream; curl does not)
// or a hijacked connection stops counting when its header is written or
// the connection is taken. The writer next gets supports
// http.ResponseController (Flush, Hijack, deadlines) through Unwrap, and
// http.Flusher and http.Hijacker directly.
func (f *InFlight) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		f.begin()
		cw := &countedWriter{rw: w, f: f}
		defer cw.release()
		next.ServeHTTP(cw, r)
	})
}

// countedWriter is the writer of a counted request: release ends the
// count, once.
type countedWriter struct {
	rw       http.ResponseWriter
	f        *InFlight
	released atomic.Bool
	wrote    atomic.Bool
}

func (c *countedWriter) release() {
	if c.released.CompareAndSwap(false, true) {
		c.f.end()
	}
}

// checkStream releases the count when the response is an event stream.
func (c *countedWriter) checkStream() {
	if !c.wrote.CompareAndSwap(false, true) {
		return
	}
	if ct := c.rw.Header().Get("Content-Type"); strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream") {
		c.release()
	}
}

func (c *countedWriter) Header() http.Header { return c.rw.Header() }

func (c *countedWriter) WriteHeader(code int) {
	if code >= 200 {
		c.checkStream()
	}
	c.rw.WriteHeader(code)
}

func (c *countedWriter) Write(b []byte) (int, error) {
	c.checkStream()
	return c.rw.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (c *countedWriter) Unwrap() http.ResponseWriter { return c.rw }

// Flush implements http.Flusher when the server's writer can flush.
func (c *countedWriter) Flush() {
	c.checkStream()
	_ = http.NewResponseController(c.rw).Flush()
}

// Hijack implements http.Hijacker: the connection leaves the count.
func (c *countedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(c.rw).Hijack()
	if err == nil {
		c.release()
	}
	return conn, brw, err
}

func (f *InFlight) begin() {
	if f.n.Add(1) == f.threshold {
		f.w.notify()
	}
	f.arrived(f.clock.Now())
}

func (f *InFlight) end() {
	if f.n.Add(-1) == f.threshold-1 {
		f.w.notify()
	}
}

func (f *InFlight) arrived(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() {
		f.est.add(now.Sub(f.last))
	}
	f.last = now
	if gap, ok := f.est.predict(); ok {
		f.next.Store(now.Add(gap).UnixNano())
	} else {
		f.next.Store(0)
	}
}

// InFlight returns the number of requests in flight.
func (f *InFlight) InFlight() int { return int(f.n.Load()) }

// Busy reports whether at least the threshold of requests is in flight.
func (f *InFlight) Busy() bool { return f.n.Load() >= f.threshold }

// NextBusy returns the predicted time of the next arrival, if arrivals are
// regular enough to predict and one more request would reach the
// threshold.
func (f *InFlight) NextBusy() (time.Time, bool) {
	if f.n.Load() < f.threshold-1 {
		return time.Time{}, false
	}
	if n := f.next.Load(); n != 0 {
		return time.Unix(0, n), true
	}
	return time.Time{}, false
}

// Watch registers fn to be called when Busy flips.
func (f *InFlight) Watch(fn func()) (stop func()) { return f.w.add(fn) }

// arrivals estimates the gap between arrivals with the exponentially
// weighted mean and mean deviation that TCP uses for round-trip times
// (RFC 6298, gains 1/8 and 1/4).
type arrivals struct {
	mean, dev time.Duration
	n         int
}

// predictMinSamples is how many gaps the estimator needs before it
// predicts.
const predictMinSamples = 8

func (a *arrivals) add(gap time.Duration) {
	if a.n == 0 {
		a.mean, a.dev = gap, gap/2
	} else {
		diff := gap - a.mean
		a.mean += diff / 8
		a.dev += (abs(diff) - a.dev) / 4
	}
	a.n++
}

// predict returns the expected gap to the next arrival when arrivals are
// regular: their mean deviation is under a quarter of their mean. For
// Poisson arrivals it is about three quarters of the mean, so they are
// never predicted.
func (a *arrivals) predict() (time.Duration, bool) {
	if a.n < predictMinSamples || a.dev*4 >= a.mean {
		return 0, false
	}
	return a.mean, true
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

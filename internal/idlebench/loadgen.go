package idlebench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// genCmd is one job for the load generator.
type genCmd struct {
	Op          string        `json:"op"` // "hello", "closed" or "open"
	URL         string        `json:"url,omitempty"`
	Duration    time.Duration `json:"duration,omitempty"`
	Concurrency int           `json:"concurrency,omitempty"` // closed loop
	Rate        float64       `json:"rate,omitempty"`        // open loop, requests/s
	Poisson     bool          `json:"poisson,omitempty"`     // open loop: exponential gaps
	Seed        uint64        `json:"seed,omitempty"`
	StartAt     int64         `json:"start_at,omitempty"` // open loop: wall-clock start, Unix ns
}

// genResult is what the generator measured. Latencies of the open loop
// run from each request's scheduled arrival time, not from when it was
// actually sent, so that a generator that falls behind does not hide
// queueing (coordinated omission).
type genResult struct {
	Requests  int             `json:"requests"`
	Errors    int             `json:"errors"`
	Latencies []time.Duration `json:"latencies,omitempty"`
	Scheduled []int64         `json:"scheduled,omitempty"` // open loop: each request's scheduled time, Unix ns
	// LagP50 and LagP99 are the percentiles of how late the generator
	// sent requests after their scheduled time (open loop): its own
	// share of the latencies.
	LagP50, LagP99 time.Duration
	CPU            time.Duration `json:"cpu"` // the generator's own CPU time, if it runs in its own process
	Elapsed        time.Duration `json:"elapsed"`
	Err            string        `json:"err,omitempty"`
}

// generator runs load-generation jobs: in this process or in a child.
type generator interface {
	do(ctx context.Context, cmd genCmd) (genResult, error)
	close() error
}

// loadGen is the generator itself.
type loadGen struct {
	client *http.Client
}

func newLoadGen() *loadGen {
	return &loadGen{client: &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 1024,
			DisableCompression:  true,
		},
		Timeout: time.Minute,
	}}
}

func (g *loadGen) do(ctx context.Context, cmd genCmd) (genResult, error) {
	switch cmd.Op {
	case "hello":
		return genResult{}, nil
	case "closed":
		return g.closedLoop(ctx, cmd), nil
	case "open":
		return g.openLoop(ctx, cmd), nil
	}
	return genResult{}, fmt.Errorf("idlebench: unknown generator op %q", cmd.Op)
}

func (g *loadGen) close() error {
	g.client.CloseIdleConnections()
	return nil
}

// sentHeader carries the time a request was sent (Unix nanoseconds), so
// that the server can tell how long it took to reach the handler.
const sentHeader = "X-Sent"

// get sends one request and reads the whole response.
func (g *loadGen) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(sentHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// closedLoop keeps Concurrency requests in flight for Duration: the
// server's capacity.
func (g *loadGen) closedLoop(ctx context.Context, cmd genCmd) genResult {
	var ok, failed atomic.Int64
	cpu0, start := processCPU(), time.Now()
	deadline := start.Add(cmd.Duration)
	var wg sync.WaitGroup
	for range max(cmd.Concurrency, 1) {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if g.get(ctx, cmd.URL) != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return genResult{
		Requests: int(ok.Load()),
		Errors:   int(failed.Load()),
		CPU:      processCPU() - cpu0,
		Elapsed:  time.Since(start),
	}
}

// openLoop sends requests at Rate for Duration from StartAt (or now),
// whatever the server does, at constant or exponentially distributed
// (Poisson) intervals.
func (g *loadGen) openLoop(ctx context.Context, cmd genCmd) genResult {
	if cmd.StartAt != 0 {
		select {
		case <-time.After(time.Until(time.Unix(0, cmd.StartAt))):
		case <-ctx.Done():
		}
	}
	rng := rand.New(rand.NewPCG(cmd.Seed, cmd.Seed^0x9e3779b97f4a7c15))
	var offsets []time.Duration
	gap := float64(time.Second) / cmd.Rate
	for t := 0.0; ; {
		if cmd.Poisson {
			t += rng.ExpFloat64() * gap
		} else {
			t += gap
		}
		if time.Duration(t) >= cmd.Duration {
			break
		}
		offsets = append(offsets, time.Duration(t))
	}
	lat := make([]time.Duration, len(offsets))
	lag := make([]time.Duration, 0, len(offsets))
	var failed atomic.Int64
	var wg sync.WaitGroup
	cpu0, start := processCPU(), time.Now()
	if cmd.StartAt != 0 {
		start = time.Unix(0, cmd.StartAt) // the parent's segments are aligned to it
	}
	// Go's timers wake a thread blocked in epoll_wait with millisecond
	// resolution; the dispatcher sleeps precisely on its own thread
	// instead, so that its lag does not swamp the latencies it measures.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i, off := range offsets {
		at := start.Add(off)
		if d := time.Until(at); d > 0 {
			sleepPrecise(d)
		}
		if ctx.Err() != nil {
			lat = lat[:i]
			break
		}
		lag = append(lag, time.Since(at))
		wg.Go(func() {
			if g.get(ctx, cmd.URL) != nil {
				failed.Add(1)
				lat[i] = -1
				return
			}
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	var kept []time.Duration
	var sched []int64
	for i, l := range lat {
		if l >= 0 {
			kept = append(kept, l)
			sched = append(sched, start.Add(offsets[i]).UnixNano())
		}
	}
	return genResult{
		Requests:  len(kept),
		Errors:    int(failed.Load()),
		Latencies: kept,
		Scheduled: sched,
		LagP50:    percentile(lag, 0.50),
		LagP99:    percentile(lag, 0.99),
		CPU:       processCPU() - cpu0,
		Elapsed:   time.Since(start),
	}
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// sseSocketBuffer is the socket buffer size of the drain-sse connections.
const sseSocketBuffer = 128 << 10

// runDrainStalled drains with one subscriber that never reads: it must
// cost the manager nothing.
func runDrainStalled(ctx context.Context, cfg *Config) (Result, error) {
	return drain(ctx, cfg, func(m *bgtask.Manager) (readers, error) {
		_, stop := m.Subscribe(nil)
		return readers{detach: stop}, nil
	})
}

// runDrainSSE drains with cfg.SSEClients clients following /v1/events
// over loopback HTTP, each reading and discarding every event.
func runDrainSSE(ctx context.Context, cfg *Config) (Result, error) {
	return drain(ctx, cfg, func(m *bgtask.Manager) (readers, error) {
		return attachSSE(ctx, m, cfg.SSEClients, true)
	})
}

// runDrainSSEStalled drains with cfg.SSEClients clients connected to
// /v1/events that read nothing.
func runDrainSSEStalled(ctx context.Context, cfg *Config) (Result, error) {
	return drain(ctx, cfg, func(m *bgtask.Manager) (readers, error) {
		return attachSSE(ctx, m, cfg.SSEClients, false)
	})
}

// attachSSE serves the manager's API on a loopback port and connects n
// clients to /v1/events (reading everything, or nothing); it returns once
// every client has its stream.
func attachSSE(ctx context.Context, m *bgtask.Manager, n int, read bool) (readers, error) {
	return serveClients(ctx, httpapi.New(httpapi.Config{Manager: m}), "/v1/events", n, read)
}

// serveClients serves h on a loopback port and connects n clients to path
// (reading everything, or nothing); it returns once every client has its
// response.
func serveClients(ctx context.Context, h http.Handler, path string, n int, read bool) (readers, error) {
	// Loopback sockets autotune to megabytes of buffer per connection: a
	// client that reads nothing would still take that much from the
	// server. Buffers of ordinary size model a real stalled client.
	lc := net.ListenConfig{Control: sockBuf(sendBuffer)}
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return readers{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cctx, cancel := context.WithCancel(ctx)
	dialer := &net.Dialer{Control: sockBuf(receiveBuffer)}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true,
		DialContext: dialer.DialContext, ReadBufferSize: sseReadBuffer}}
	var total atomic.Int64
	url := "http://" + ln.Addr().String() + path
	var wg, reading sync.WaitGroup
	reading.Add(n)
	connected := make(chan error, n)
	for range n {
		wg.Go(func() {
			defer reading.Done()
			req, err := http.NewRequestWithContext(cctx, "GET", url, nil)
			if err != nil {
				connected <- err
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				connected <- err
				return
			}
			defer resp.Body.Close()
			connected <- nil
			if read {
				discard(resp.Body, &total)
			} else {
				<-cctx.Done()
			}
		})
	}
	stop := func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
		wg.Wait()
	}
	for range n {
		select {
		case err := <-connected:
			if err != nil {
				stop()
				return readers{}, fmt.Errorf("sse client: %w", err)
			}
		case <-time.After(30 * time.Second):
			stop()
			return readers{}, errors.New("sse clients did not connect within 30s")
		}
	}
	return readers{detach: stop, read: total.Load, wait: reading.Wait}, nil
}

// sseReadBuffer is the read buffer of each drain-sse client: its
// connection's (the HTTP transport's) and its own.
const sseReadBuffer = 64 << 10

// discard reads body to its end with one large buffer and throws the
// bytes away, counting them: the least a client of the stream does (the
// HTTP transport still decodes the chunked framing; nothing parses the
// events).
func discard(body io.Reader, total *atomic.Int64) {
	buf := make([]byte, sseReadBuffer)
	for {
		n, err := body.Read(buf)
		total.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// runSSEFloor moves the bytes drain-sse's clients read, without a manager:
// a handler writes each of cfg.SSEClients clients (connected and reading
// as in drain-sse) as many bytes as the frames of a drain of cfg.N tasks
// (a started and a done event each, of a size measured on representative
// events), copied per client from one shared block into the client's
// batch and written 128 KiB at a time, as /v1/events writes a busy stream.
// Its CPU time is the floor of what drain-sse's streams add to a drain.
func runSSEFloor(ctx context.Context, cfg *Config) (Result, error) {
	per := int64(cfg.N) * int64(len(sampleFrame(bgtask.EventStarted))+len(sampleFrame(bgtask.EventDone)))
	block := bytes.Repeat(sampleFrame(bgtask.EventStarted), (floorBatch/len(sampleFrame(bgtask.EventStarted)))+1)[:floorBatch]
	start := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		select {
		case <-start:
		case <-r.Context().Done():
			return
		}
		buf := make([]byte, 0, floorBatch)
		for left := per; left > 0; {
			k := min(left, floorBatch)
			buf = append(buf[:0], block[:k]...)
			if _, err := w.Write(buf); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			left -= k
		}
	})
	rd, err := serveClients(ctx, h, "/", cfg.SSEClients, true)
	if err != nil {
		return Result{}, err
	}
	defer rd.detach()
	stopProfile, err := startProfile(cfg.CPUProfile)
	if err != nil {
		return Result{}, err
	}
	defer stopProfile()
	cpu0, read0 := cpuTime(), rd.read()
	t0 := time.Now()
	close(start)
	done := make(chan struct{})
	go func() { rd.wait(); close(done) }()
	r := Result{N: cfg.N}
	select {
	case <-done:
	case <-ctx.Done():
		r.Capped = true
	}
	r.Elapsed, r.CPU, r.StreamBytes = time.Since(t0), cpuTime()-cpu0, rd.read()-read0
	return r, nil
}

// floorBatch is the write size of sse-floor: /v1/events' most per write.
const floorBatch = 128 << 10

// sampleFrame is the /v1/events frame of a representative event of a
// drain's no-op task.
func sampleFrame(kind bgtask.EventKind) []byte {
	ev := bgtask.Event{Seq: 40000, Kind: kind, TaskID: "01a22d5b-cf05-7b93-a02d-6876d2cbfbbe", Name: "noop",
		State: bgtask.StateOngoing, Attempt: 1, Time: time.Date(2026, 11, 30, 16, 0, 0, 123456789, time.UTC)}
	if kind.Terminal() {
		code := 0
		ev.State, ev.ExitCode = bgtask.StateSuccess, &code
	}
	return fmt.Appendf(nil, "event: %s\nid: %d\ndata: %s\n\n", ev.Kind, ev.Seq, ev.JSON())
}

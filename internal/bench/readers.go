package bench

import (
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
	// Loopback sockets autotune to megabytes of buffer per connection: a
	// client that reads nothing would still take that much from the
	// server. Buffers of ordinary size model a real stalled client.
	lc := net.ListenConfig{Control: sockBuf(sendBuffer)}
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return readers{}, err
	}
	api := httpapi.New(httpapi.Config{Manager: m})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cctx, cancel := context.WithCancel(ctx)
	dialer := &net.Dialer{Control: sockBuf(receiveBuffer)}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true,
		DialContext: dialer.DialContext, ReadBufferSize: sseReadBuffer}}
	var total atomic.Int64
	url := "http://" + ln.Addr().String() + "/v1/events"
	var wg sync.WaitGroup
	connected := make(chan error, n)
	for range n {
		wg.Go(func() {
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
	return readers{detach: stop, read: total.Load}, nil
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

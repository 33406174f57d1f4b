// Package bench measures a bgtask manager on a store, the way `river bench`
// measures River: enqueue one by one, enqueue in batches, drain N queued
// no-op tasks, submit→start latency at low load, and resident memory while
// a long stream of tasks runs through with retention. `bgtask bench` runs
// it; every scenario is bounded in count and time.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// Scenario names.
const (
	Enqueue = "enqueue"
	Batch   = "batch"
	Drain   = "drain"
	Latency = "latency"
	RSS     = "rss"
	// DrainStalled is drain with one in-process subscriber that never
	// reads.
	DrainStalled = "drain-stalled"
	// DrainSSE is drain with SSEClients clients reading /v1/events.
	DrainSSE = "drain-sse"
	// DrainSSEStalled is drain with SSEClients clients connected to
	// /v1/events that read nothing.
	DrainSSEStalled = "drain-sse-stalled"
	// SSEFloor moves the bytes of drain-sse's streams to as many clients
	// without a manager: the floor of drain-sse's cost.
	SSEFloor = "sse-floor"
)

// All lists every scenario in run order.
var All = []string{Enqueue, Batch, Drain, DrainStalled, DrainSSEStalled, DrainSSE, SSEFloor, Latency, RSS}

// Limits of Config's counts, so that a mistyped value is refused before
// anything runs instead of allocating for it (bgtask bench's flags name
// them in their help).
const (
	// MaxTasks bounds N and RSSTasks.
	MaxTasks = 1_000_000_000
	// MaxProducers bounds Producers (one goroutine each).
	MaxProducers = 10_000
	// MaxBatchSize bounds BatchSize (one SubmitParams each, built once).
	MaxBatchSize = 100_000
	// MaxBatchBytes bounds BatchSize × (Payload+1): the arguments of one
	// SubmitMany, written in one go.
	MaxBatchBytes = 256 << 20
	// MaxPayload is the largest Payload: one argument of that many bytes
	// is bgtask.MaxArgsBytes, which counts one byte per argument besides
	// its length.
	MaxPayload = bgtask.MaxArgsBytes - 1
	// MaxLatencySamples bounds LatencySamples (two durations each, held
	// for the percentiles).
	MaxLatencySamples = 1_000_000
	// MaxSSEClients bounds SSEClients: each is a goroutine, two loopback
	// sockets and 128 KiB of read buffers.
	MaxSSEClients = 4096
)

// Config sets what to measure. Zero values mean the documented defaults;
// negative values and values above the limits are refused.
type Config struct {
	// OpenStore opens a fresh, empty store for one scenario. Required.
	OpenStore func(ctx context.Context) (store.Store, func(), error)
	// Scenarios to run, in order, each once. Default All.
	Scenarios []string
	// N is the task count of enqueue, batch and drain. Default 20000.
	N int
	// Concurrency is the manager's worker slots (drain, latency, rss).
	// Default 100, at most bgtask.MaxMaxWorkers.
	Concurrency int
	// Producers submit concurrently in the enqueue scenario. Default 1.
	Producers int
	// BatchSize is the SubmitMany batch size. Default 1000.
	BatchSize int
	// Payload is the size in bytes of each task's single argument; 0 is
	// an empty argument (bgtask bench's default is 100).
	Payload int
	// LatencySamples is the number of measured tasks in latency.
	// Default 2000 (after 50 warm-up tasks).
	LatencySamples int
	// RSSTasks is the number of tasks run through in rss. Default 1000000.
	RSSTasks int
	// Timeout caps each scenario. Default 120 s.
	Timeout time.Duration
	// Out receives one line per result. Default os.Stdout.
	Out io.Writer
	// SyncDir, if set, is where the latency scenario measures the disk's
	// own write+fdatasync latency, the floor of a durable submit.
	SyncDir string
	// SSEClients is the number of /v1/events clients of drain-sse.
	// Default 200.
	SSEClients int
	// CPUProfile, if set, is a file that receives the CPU profile of the
	// timed part of the drain scenarios and sse-floor (one scenario per
	// file).
	CPUProfile string
}

// Result is one scenario's figures.
type Result struct {
	Scenario    string        `json:"scenario"`
	N           int           `json:"n"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	TasksPerSec float64       `json:"tasks_per_s,omitempty"`
	// Drain: time until the store had no ONGOING record.
	AckedPerSec float64       `json:"acked_tasks_per_s,omitempty"`
	P50         time.Duration `json:"p50_ns,omitempty"`
	P95         time.Duration `json:"p95_ns,omitempty"`
	P99         time.Duration `json:"p99_ns,omitempty"`
	Max         time.Duration `json:"max_ns,omitempty"`
	// WakeP50 and WakeP99 (latency scenario) are the part of submit→start
	// after Submit returned: the wake-up of the worker, without the
	// durable commit that precedes it.
	WakeP50 time.Duration `json:"wake_p50_ns,omitempty"`
	WakeP99 time.Duration `json:"wake_p99_ns,omitempty"`
	// SyncP50 and SyncP99 are the disk's write+fdatasync latency measured
	// in the same run (latency scenario): the floor of a durable submit.
	SyncP50 time.Duration `json:"sync_p50_ns,omitempty"`
	SyncP99 time.Duration `json:"sync_p99_ns,omitempty"`
	// RSS samples in KiB: at 10%, 50% and 100% of the tasks, and the peak.
	RSSKiB  []int64 `json:"rss_kib,omitempty"`
	PeakKiB int64   `json:"peak_rss_kib"`
	Capped  bool    `json:"capped,omitempty"`
	// CPU is the CPU time (user and system) the process used in the timed
	// part of a drain: the manager's, and the in-process readers' of the
	// drain-* variants.
	CPU time.Duration `json:"cpu_ns,omitempty"`
	// StreamBytes is what the drain-sse clients read in the timed part
	// (all clients together, HTTP chunk framing included).
	StreamBytes int64 `json:"stream_bytes,omitempty"`
}

func (c *Config) defaults() {
	if len(c.Scenarios) == 0 {
		c.Scenarios = All
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.N, 20000)
	def(&c.Concurrency, 100)
	def(&c.Producers, 1)
	def(&c.BatchSize, 1000)
	def(&c.LatencySamples, 2000)
	def(&c.RSSTasks, 1000000)
	def(&c.SSEClients, 200)
	if c.Timeout == 0 {
		c.Timeout = 120 * time.Second
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
}

// check refuses what defaults left out of range.
func (c *Config) check() error {
	if c.OpenStore == nil {
		return fmt.Errorf("bench: Config.OpenStore is required")
	}
	seen := map[string]bool{}
	for _, sc := range c.Scenarios {
		if _, ok := scenarios[sc]; !ok {
			return fmt.Errorf("bench: unknown scenario %q (want %s)", sc, strings.Join(All, ", "))
		}
		if seen[sc] {
			return fmt.Errorf("bench: Config.Scenarios has %q twice", sc)
		}
		seen[sc] = true
	}
	for _, f := range []struct {
		name    string
		v, from int
		to      int
	}{
		{"N", c.N, 1, MaxTasks},
		{"Concurrency", c.Concurrency, 1, bgtask.MaxMaxWorkers},
		{"Producers", c.Producers, 1, MaxProducers},
		{"BatchSize", c.BatchSize, 1, MaxBatchSize},
		{"Payload", c.Payload, 0, MaxPayload},
		{"LatencySamples", c.LatencySamples, 1, MaxLatencySamples},
		{"RSSTasks", c.RSSTasks, 1, MaxTasks},
		{"SSEClients", c.SSEClients, 1, MaxSSEClients},
	} {
		if f.v < f.from || f.v > f.to {
			return fmt.Errorf("bench: Config.%s %d: want %d to %d", f.name, f.v, f.from, f.to)
		}
	}
	if int64(c.BatchSize)*int64(c.Payload+1) > MaxBatchBytes {
		return fmt.Errorf("bench: Config.BatchSize %d × (Payload %d + 1) is over %d bytes", c.BatchSize, c.Payload, MaxBatchBytes)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("bench: Config.Timeout %v is negative", c.Timeout)
	}
	return nil
}

// Run runs the configured scenarios and returns their results.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var out []Result
	for _, sc := range cfg.Scenarios {
		fn := scenarios[sc]
		sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		r, err := fn(sctx, &cfg)
		cancel()
		if err != nil {
			return out, fmt.Errorf("bench %s: %w", sc, err)
		}
		r.Scenario = sc
		if r.PeakKiB == 0 {
			r.PeakKiB = peakRSSKiB()
		}
		fmt.Fprintln(cfg.Out, r.Line())
		out = append(out, r)
	}
	return out, nil
}

var scenarios = map[string]func(context.Context, *Config) (Result, error){
	Enqueue:         runEnqueue,
	Batch:           runBatch,
	Drain:           runDrain,
	Latency:         runLatency,
	RSS:             runRSS,
	DrainStalled:    runDrainStalled,
	DrainSSE:        runDrainSSE,
	DrainSSEStalled: runDrainSSEStalled,
	SSEFloor:        runSSEFloor,
}

// Line formats a result as key=value pairs.
func (r Result) Line() string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	fmt.Fprintf(&b, "scenario=%s n=%d elapsed_s=%.3f", r.Scenario, r.N, r.Elapsed.Seconds())
	if r.TasksPerSec > 0 {
		kv("tasks_per_s", int64(r.TasksPerSec))
	}
	if r.AckedPerSec > 0 {
		kv("acked_tasks_per_s", int64(r.AckedPerSec))
	}
	if r.P50 > 0 {
		kv("p50_ms", ms(r.P50))
		kv("p95_ms", ms(r.P95))
		kv("p99_ms", ms(r.P99))
		kv("max_ms", ms(r.Max))
	}
	if r.WakeP50 > 0 {
		kv("wake_p50_ms", ms(r.WakeP50))
		kv("wake_p99_ms", ms(r.WakeP99))
	}
	if r.SyncP50 > 0 {
		kv("fdatasync_p50_ms", ms(r.SyncP50))
		kv("fdatasync_p99_ms", ms(r.SyncP99))
	}
	if len(r.RSSKiB) > 0 {
		parts := make([]string, len(r.RSSKiB))
		for i, v := range r.RSSKiB {
			parts[i] = strconv.FormatInt(v/1024, 10)
		}
		kv("rss_mib_at_10_50_100pct", strings.Join(parts, ","))
	}
	kv("peak_rss_mib", r.PeakKiB/1024)
	if r.CPU > 0 {
		kv("cpu_s", strconv.FormatFloat(r.CPU.Seconds(), 'f', 3, 64))
	}
	if r.StreamBytes > 0 {
		kv("stream_mib", r.StreamBytes>>20)
	}
	if r.Capped {
		kv("capped", true)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func summarize(r *Result, lat []time.Duration) {
	slices.Sort(lat)
	r.P50, r.P95, r.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
}

// noopRegistry registers the no-op task the scenarios run; onRun, if set,
// is called first in every run.
func noopRegistry(onRun func()) *bgtask.Registry {
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "noop", Run: func(context.Context, *bgtask.Task) error {
		if onRun != nil {
			onRun()
		}
		return nil
	}})
	return reg
}

func payloadArgs(size int) []string {
	return []string{strings.Repeat("x", size)}
}

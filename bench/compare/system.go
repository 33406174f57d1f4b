package main

import (
	"context"
	"sort"
	"strings"
	"time"
)

// System is one background-task system under test. To add one more system,
// write one more file with a type that implements System and register its
// constructor in systemRegistry below; main.go's scenarios (enqueue, drain,
// latency, idle) and all timing code are shared, so every system is measured
// by exactly the same loops.
type System interface {
	// Name is the label printed in every result line (e.g. "asynq").
	Name() string
	// Knobs describes the tuning in effect (printed once per run).
	Knobs() string
	// Setup connects to the backing store and prepares it (e.g. migrations).
	// It is called once per process before anything else.
	Setup(ctx context.Context) error
	// Reset removes every task/job so that the next run starts from an empty
	// store. Called by the orchestrator between runs; no worker is running then.
	Reset(ctx context.Context) error
	// EnqueueModes lists the insert paths to measure in scenario "enqueue".
	// "single" (one task per call, one after the other) must be one of them.
	EnqueueModes() []string
	// PrefillMode is the insert path used to load N tasks before a drain run
	// (not timed); normally the fastest batch path.
	PrefillMode() string
	// Enqueue inserts n tasks, each carrying payload, using the named insert
	// path; batch is the batch size for batch paths. It must stop early when
	// ctx is done and return how many tasks were durably accepted.
	Enqueue(ctx context.Context, mode string, n, batch int, payload []byte) (int, error)
	// StartWorker starts consuming with the given concurrency. onTask must be
	// called as the first thing in every handler invocation; the handler then
	// returns success (a no-op task). The returned stop function shuts the
	// worker down gracefully.
	StartWorker(ctx context.Context, concurrency int, onTask func()) (stop func(context.Context) error, err error)
	// Outstanding is how many tasks the store still considers unfinished
	// (pending, running, scheduled or to be retried).
	Outstanding(ctx context.Context) (int, error)
	// Close releases connections.
	Close() error
}

// Knob values shared by all systems' constructors. A profile fills them; an
// explicit flag overrides the profile's value.
type Knobs struct {
	Profile string

	RedisAddr    string
	RedisAOFAddr string
	RedisDB      int
	// asynq: Config.TaskCheckInterval (0 = library default, 1s)
	AsynqTaskCheckInterval time.Duration

	PGDSN string
	// river: Config.FetchCooldown / Config.FetchPollInterval (0 = library
	// defaults, 100ms / 1s)
	RiverFetchCooldown     time.Duration
	RiverFetchPollInterval time.Duration
	// pgxpool MaxConns (0 = pgx default: max(4, NumCPU))
	PGMaxConns int

	// bgtask: directory for the embedded store ("" = a temporary directory
	// made by the orchestrator and removed at its end)
	BgtaskDir string
}

// releaser is implemented by a System whose store admits one process at a
// time (bgtask's embedded store holds a file lock). The orchestrator calls
// Release right before it starts a child process; the system closes its
// store there and reopens it when it next needs it.
type releaser interface {
	Release() error
}

// systemRegistry maps the names accepted by -systems to constructors.
var systemRegistry = map[string]func(k Knobs) System{
	// asynq on Redis without persistence
	"asynq": func(k Knobs) System { return newAsynqSystem("asynq", k.RedisAddr, k) },
	// asynq on Redis with appendonly yes, appendfsync everysec
	"asynq-aof": func(k Knobs) System { return newAsynqSystem("asynq-aof", k.RedisAOFAddr, k) },
	// river on PostgreSQL with default (synchronous) commits
	"river": func(k Knobs) System { return newRiverSystem("river", k.PGDSN, k) },
	// river with synchronous_commit=off for its connections (durability
	// comparable to Redis AOF everysec: a crash may lose the last ~0.6 s)
	"river-async": func(k Knobs) System {
		return newRiverSystem("river-async", addDSNParam(k.PGDSN, "synchronous_commit", "off"), k)
	},
	// bgtask's Manager on its embedded store (bbolt file, fdatasync on
	// every group commit: nothing acknowledged is lost)
	"bgtask": func(k Knobs) System { return newBgtaskSystem("bgtask", k) },
	// bgtask's Manager on its Redis store, on the asynq-aof Redis
	// (appendonly, appendfsync everysec), the next database
	"bgtask-redis": func(k Knobs) System { return newBgtaskRedisSystem("bgtask-redis", k) },
}

func systemNames() string {
	var names []string
	for n := range systemRegistry {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func addDSNParam(dsn, key, val string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + key + "=" + val
}

// makePayload returns a JSON object of exactly size bytes (minimum ~30).
func makePayload(size int) []byte {
	head := `{"task":"noop","pad":"`
	tail := `"}`
	padLen := size - len(head) - len(tail)
	if padLen < 0 {
		padLen = 0
	}
	return []byte(head + strings.Repeat("x", padLen) + tail)
}

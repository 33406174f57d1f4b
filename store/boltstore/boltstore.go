// Package boltstore is the embedded bgtask store: one bbolt file in a data
// directory, opened by one process at a time, durable on return of every
// mutating call, with group commit.
//
// All writes go through one writer goroutine. It takes every operation that
// is waiting, applies all of them in one bbolt transaction, commits it
// (bbolt's commit syncs the pages, then the meta page) and then answers
// every caller, so concurrent callers share one commit and concurrency,
// not disk latency, sets throughput. There is no artificial
// delay: a lone caller's transaction starts at once. Reads (Get, List) run
// in their own read-only transactions, concurrently with the writer.
//
// The engine choice (bbolt over Pebble) and the measurements behind it are
// in docs/store.md.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Defaults of Config.
const (
	// DefaultFileName is the file New opens inside a directory.
	DefaultFileName = "bgtask.db"
	// DefaultLockTimeout is how long New waits for another process to
	// release the file.
	DefaultLockTimeout = time.Second
	// DefaultMaxBatch caps the operations applied in one transaction.
	DefaultMaxBatch = 1000
	// DefaultMmapSize is the initial memory map size. It is address space,
	// not memory; a large one spares remaps, which block readers.
	DefaultMmapSize = 1 << 30
	// DefaultLogMaxEvents bounds the event log's length.
	DefaultLogMaxEvents = 100_000
	// DefaultLogMaxAge bounds the age of event log entries.
	DefaultLogMaxAge = time.Hour
)

// ErrLocked is returned by New when another process has the file open.
var ErrLocked = errors.New("boltstore: database file is locked by another process")

// Config configures a Store. The zero value uses every default.
type Config struct {
	// Logger receives diagnostics. Default: discard.
	Logger *slog.Logger
	// LockTimeout bounds how long New waits for the file lock held by
	// another process before returning ErrLocked. Default
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatch caps the operations the writer applies in one transaction
	// (one fsync). Default DefaultMaxBatch.
	MaxBatch int
	// MmapSize is the initial size of the memory map. Default
	// DefaultMmapSize.
	MmapSize int
	// LogMaxEvents bounds the number of entries the event log keeps (it
	// may hold up to an eighth more between trims). Default
	// DefaultLogMaxEvents.
	LogMaxEvents int
	// LogMaxAge bounds the age of the entries the event log keeps, by the
	// store's clock. Default DefaultLogMaxAge.
	LogMaxAge time.Duration
	// Clock is the store's clock: lease renewals, start and finish times,
	// event times and retention use it. Default clock.Real.
	Clock clock.Clock
}

func (c *Config) withDefaults() (Config, error) {
	var out Config
	if c != nil {
		out = *c
	}
	if out.LockTimeout < 0 {
		return out, errors.New("boltstore: Config.LockTimeout must not be negative")
	}
	if out.LogMaxEvents < 0 {
		return out, errors.New("boltstore: Config.LogMaxEvents must not be negative")
	}
	if out.LogMaxAge < 0 {
		return out, errors.New("boltstore: Config.LogMaxAge must not be negative")
	}
	if out.MaxBatch < 0 {
		return out, errors.New("boltstore: Config.MaxBatch must not be negative")
	}
	if out.MmapSize < 0 {
		return out, errors.New("boltstore: Config.MmapSize must not be negative")
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if out.LockTimeout == 0 {
		out.LockTimeout = DefaultLockTimeout
	}
	if out.LogMaxEvents == 0 {
		out.LogMaxEvents = DefaultLogMaxEvents
	}
	if out.LogMaxAge == 0 {
		out.LogMaxAge = DefaultLogMaxAge
	}
	out.Clock = clock.OrReal(out.Clock)
	if out.MaxBatch == 0 {
		out.MaxBatch = DefaultMaxBatch
	}
	if out.MmapSize == 0 {
		out.MmapSize = DefaultMmapSize
	}
	return out, nil
}

// Store is the embedded store. Create it with New.
type Store struct {
	cfg   Config
	log   *slog.Logger
	clock clock.Clock
	db    *bolt.DB
	path  string

	// ops is the writer's queue; sendMu guards sending on it against Close
	// closing it (senders hold it read-locked).
	ops        chan *op
	sendMu     sync.RWMutex
	closed     atomic.Bool
	writerDone chan struct{}
	countsMu   sync.Mutex
	counts     [4]int64 // by stateIndex; written by the writer after commit
	events     eventLog
	// live holds the incarnations that used the store since it was opened
	// (guarded by liveMu): their holders are alive, every other holder of
	// a lease is a process that had the file before and died.
	liveMu      sync.Mutex
	live        map[string]struct{}
	stats       struct{ commits, ops, txs atomic.Uint64 }
	closeResult error
	closeOnce   sync.Once
}

var _ store.Store = (*Store)(nil)

// New opens (creating if needed) the store at path. If path ends in ".db"
// it is the file; otherwise it is a data directory (created with mode 0700
// if missing) holding DefaultFileName. Only one process can have the file
// open: New waits up to Config.LockTimeout and then returns an error
// wrapping ErrLocked. A file that is not a bgtask store returns an error.
//
// A missing file is created (under a temporary name, then linked in place,
// so a crash never leaves a partial file). An existing file is checked
// before bbolt maps it: both meta pages, the file's size against the
// high-water mark, every page of the B+tree, and every record and event
// log entry decoding. A file that fails, an empty one included, is refused
// with an error wrapping ErrDamaged (a *DamageError naming the file and
// the first problem) and is left byte for byte as it was. The check reads
// the whole file once (bbolt reads its tree at open anyway).
func New(path string, cfg *Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	file := path
	if !strings.HasSuffix(path, ".db") {
		file = filepath.Join(path, DefaultFileName)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data directory: %w", err)
	}
	db, err := openDB(file, c)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:        c,
		log:        c.Logger,
		clock:      c.Clock,
		db:         db,
		live:       make(map[string]struct{}),
		path:       file,
		ops:        make(chan *op, c.MaxBatch),
		writerDone: make(chan struct{}),
	}
	first, head, err := s.init()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.events.init(first, head)
	go s.writer()
	s.log.Debug("boltstore opened", "path", file, "log_first", first, "log_head", head)
	return s, nil
}

// openDB opens the existing file (creating a new store first if there is
// none), locks it, checks it (checkFile, then the contents) and only then
// lets bbolt map it. A damaged file is returned as a *DamageError and is
// neither mapped nor written.
func openDB(file string, c Config) (db *bolt.DB, err error) {
	if err := createIfMissing(file); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", file, err)
	}
	if err := lockFile(f, c.LockTimeout); err != nil {
		f.Close()
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, file, c.LockTimeout)
		}
		return nil, fmt.Errorf("boltstore: lock %s: %w", file, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", file, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("boltstore: open %s: not a regular file (%v)", file, fi.Mode().Type())
	}
	if chk := checkFile(f, fi.Size(), 1); len(chk.problems) > 0 {
		f.Close()
		return nil, &DamageError{File: file, Problem: chk.problems[0]}
	}
	// Second line of defence, for what the check cannot see: bbolt's
	// panics, and memory faults in the mapping (a file shortened while
	// we open it), become errors. (A panic in a goroutine of bbolt's own
	// cannot be recovered; the check above is what prevents those.)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			f.Close()
			db, err = nil, &DamageError{File: file, Problem: fmt.Sprintf("bbolt failed reading it: %v", p)}
		}
	}()
	handed := false
	db, err = bolt.Open(file, 0o600, &bolt.Options{
		// bbolt locks the file again: flock locks belong to the open
		// file description, so it gets the lock this one holds.
		OpenFile: func(string, int, os.FileMode) (*os.File, error) {
			if handed {
				return nil, errors.New("boltstore: bbolt opened the file twice")
			}
			handed = true
			return f, nil
		},
		Timeout: c.LockTimeout,
		// The freelist is rebuilt at open instead of written by every
		// commit: less I/O per commit, a scan of the file at open.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// bbolt syncs with fdatasync on Linux, which also makes a new
		// file size durable, so the extra fsync after growing the file
		// is not needed.
		NoGrowSync:      true,
		InitialMmapSize: c.MmapSize,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, file, c.LockTimeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, &DamageError{File: file, Problem: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("boltstore: open %s: %w", file, err)
	}
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		problems = checkContent(tx, 1, nil)
		return nil
	})
	if err == nil && len(problems) > 0 {
		err = &DamageError{File: file, Problem: problems[0]}
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// createIfMissing creates a new, empty store file if there is no file at
// all: under a temporary name, then linked in place, so that a crash never
// leaves a partial store file behind. An existing file, even an empty one,
// is left alone (New refuses an empty file: it is a store that lost its
// contents, not a new one).
func createIfMissing(file string) error {
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		return nil // exists, or an error that the open will report
	}
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".new-*")
	if err != nil {
		return fmt.Errorf("boltstore: create %s: %w", file, err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	tmp.Close()
	db, err := bolt.Open(name, 0o600, &bolt.Options{NoFreelistSync: true, NoGrowSync: true})
	if err != nil {
		return fmt.Errorf("boltstore: create %s: %w", file, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("boltstore: create %s: %w", file, err)
	}
	if err := os.Link(name, file); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("boltstore: create %s: %w", file, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// lockFile takes an exclusive flock on f, retrying for up to timeout (0:
// once); it returns bolterrors.ErrTimeout when another holder keeps it.
func lockFile(f *os.File, timeout time.Duration) error {
	return flockRetry(f, lockEx, timeout)
}

func flockRetry(f *os.File, how int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := flockNB(f, how)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if !time.Now().Before(deadline) {
			return bolterrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// init creates the buckets, checks the format (upgrading an older index
// format), and loads the counts and the event log's bounds.
func (s *Store) init() (first, head uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &DamageError{File: s.path, Problem: fmt.Sprintf("bbolt failed reading it: %v", p)}
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				if errors.Is(err, bolterrors.ErrIncompatibleValue) {
					return &DamageError{File: s.path, Problem: fmt.Sprintf("a value where the bucket %q belongs", name)}
				}
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(metaFormat); {
		case v == nil && isEmpty(tx.Bucket(bucketRecords)):
			if err := meta.Put(metaFormat, []byte{formatVersion}); err != nil {
				return err
			}
		case len(v) == 1 && v[0] == 1:
			if err := s.upgradeIndexes(tx); err != nil {
				return err
			}
		case len(v) != 1 || v[0] != formatVersion:
			return fmt.Errorf("boltstore: %s: unsupported format version %v", s.path, v)
		}
		if err := decodeCounts(meta.Get(metaCounts), &s.counts); err != nil {
			return err
		}
		head = decodeSeq(meta.Get(metaSeq))
		first = head + 1
		if k, _ := tx.Bucket(bucketEvents).Cursor().First(); len(k) == 8 {
			first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: open %s: %w", s.path, err)
	}
	return first, head, nil
}

// upgradeIndexes rebuilds every index from the records (format 1 to 2):
// indexes are derived data. The message sequence of format 1 (a
// microsecond clock) is not an event log position; the log starts empty.
func (s *Store) upgradeIndexes(tx *bolt.Tx) error {
	for _, name := range indexBuckets {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	w := newWtx(tx, time.Time{}, 0)
	err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		w.apply(nil, indexEntries(r))
		return w.failed
	})
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaSeq, encodeSeq(0)); err != nil {
		return err
	}
	s.log.Info("boltstore: upgraded the index format", "path", s.path, "from", 1, "to", formatVersion)
	return meta.Put(metaFormat, []byte{formatVersion})
}

// Stats counts the work of the writer since New.
type Stats struct {
	// Commits is the number of durable transactions (one fsync each).
	Commits uint64
	// Ops is the number of mutating calls they applied; Ops/Commits is
	// the mean group commit size.
	Ops uint64
	// Transactions is the number of write transactions the writer began,
	// committed or not (one that changed nothing, an empty claim, is
	// rolled back: no fsync).
	Transactions uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Ops: s.stats.ops.Load(), Transactions: s.stats.txs.Load()}
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the writer after it has applied every queued operation,
// closes every subscription, and closes the file. Further calls return
// store.ErrClosed.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.sendMu.Lock()
		s.closed.Store(true)
		close(s.ops)
		s.sendMu.Unlock()
		<-s.writerDone
		s.events.close()
		s.closeResult = s.db.Close()
	})
	if !first {
		return store.ErrClosed
	}
	return s.closeResult
}

func checkCtx(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

func isEmpty(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k == nil
}

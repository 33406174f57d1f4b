package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultCheckProblems is how many problems Check lists before it stops.
const DefaultCheckProblems = 50

// Report is what Check found in a store file.
type Report struct {
	// File is the database file checked.
	File string
	// Size is the file's size in bytes.
	Size int64
	// PageSize is bbolt's page size in bytes, Pages the high-water mark
	// (pages in use, including free ones), Txid the current transaction
	// ID; zero when the meta pages could not be read.
	PageSize int
	Pages    uint64
	Txid     uint64
	// Reachable counts the pages reachable from the root (overflow pages
	// included); the other pages below the high-water mark are free.
	Reachable uint64
	// Format is the store's format version (0: none written yet).
	Format int
	// Records counts the records by state; Events is the number of
	// entries in the event log and FirstEvent…LastEvent their sequence
	// numbers; Servers the announced servers.
	Records               map[store.State]int
	Events                int
	FirstEvent, LastEvent uint64
	Servers               int
	// Problems lists what is wrong, at most DefaultCheckProblems; empty
	// for a sound file.
	Problems []string
}

// OK reports whether the check found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Check reads the whole store file at path (a file, or a data directory
// holding DefaultFileName) without writing to it and reports what it
// found: the file's structure as New checks it (meta pages, size against
// the high-water mark, every page of the B+tree), bbolt's own consistency
// check (tx.Check: also the free pages), and the store's contents: format,
// every record, event and server announcement decodes, every index entry
// matches its record and every record has its index entries, the counts
// match the records.
//
// Check takes a shared lock on the file: it waits up to lockTimeout (0:
// does not wait) and returns an error wrapping ErrLocked while a server
// has the store open; check a copy instead (docs/store.md says how to take
// one while serving). It returns an error only when it could not check
// (no such file, locked, unreadable); a damaged file is a Report with
// Problems, never a panic.
func Check(path string, lockTimeout time.Duration) (*Report, error) {
	file := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		file = filepath.Join(path, DefaultFileName)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("boltstore: check: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("boltstore: check: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("boltstore: check %s: not a regular file", file)
	}
	if err := flockRetry(f, lockSh, lockTimeout); err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (a server has it open: check a copy)", ErrLocked, file)
		}
		return nil, fmt.Errorf("boltstore: check: lock %s: %w", file, err)
	}
	rep := &Report{File: file, Size: fi.Size(), Records: map[store.State]int{}}
	chk := checkFile(f, fi.Size(), DefaultCheckProblems)
	rep.PageSize, rep.Pages, rep.Txid = int(chk.ps), chk.hwm, chk.meta.txid
	rep.Reachable = chk.pages + 2
	rep.Problems = chk.problems
	if !rep.OK() {
		return rep, nil
	}
	rep.Problems = checkWithBolt(f, file, rep)
	return rep, nil
}

// checkWithBolt opens the file read-only with bbolt (on the descriptor
// that holds the shared lock) and runs tx.Check and checkContent.
func checkWithBolt(f *os.File, file string, rep *Report) (problems []string) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			problems = append(problems, fmt.Sprintf("bbolt failed reading the file: %v", p))
		}
	}()
	dup, err := dupFD(f)
	if err != nil {
		return []string{fmt.Sprintf("dup: %v", err)}
	}
	db, err := bolt.Open(file, 0o400, &bolt.Options{
		ReadOnly: true,
		OpenFile: func(string, int, os.FileMode) (*os.File, error) {
			return os.NewFile(uintptr(dup), file), nil
		},
		Timeout: time.Second,
	})
	if err != nil {
		return []string{fmt.Sprintf("bbolt cannot open it: %v", err)}
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(problems) < DefaultCheckProblems {
				problems = append(problems, "bbolt: "+err.Error())
			}
		}
		if len(problems) == 0 {
			problems = checkContent(tx, DefaultCheckProblems, rep)
		}
		return nil
	})
	return problems
}

// checkContent checks the store's contents in tx: the format, and that
// every record and event decodes. With rep (Check) it also fills the
// report, checks the indexes and counts against the records, and decodes
// the server announcements. It returns at most max problems.
func checkContent(tx *bolt.Tx, max int, rep *Report) []string {
	var problems []string
	addf := func(format string, args ...any) bool {
		problems = append(problems, fmt.Sprintf(format, args...))
		return len(problems) >= max
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		// A file New created and never initialised, or another
		// program's: New's own checks tell them apart.
		if rep != nil && tx.Bucket(bucketRecords) != nil {
			addf("bucket %q is missing", bucketMeta)
		}
		return problems
	}
	format := meta.Get(metaFormat)
	records := tx.Bucket(bucketRecords)
	switch {
	case format == nil && records != nil && !isEmpty(records):
		if addf("records but no format version") {
			return problems
		}
	case format == nil:
	case len(format) != 1 || format[0] < 1:
		if addf("impossible format version %v", format) {
			return problems
		}
	case format[0] > formatVersion:
		// A newer bgtask's file, not a damaged one: New refuses it as
		// such.
		if rep != nil {
			addf("format version %d is newer than this bgtask's (%d)", format[0], formatVersion)
		}
		return problems
	default:
		if rep != nil {
			rep.Format = int(format[0])
		}
	}
	var counts [4]int64
	if err := decodeCounts(meta.Get(metaCounts), &counts); err != nil {
		if addf("meta %q: %v", metaCounts, err) {
			return problems
		}
	}
	seq := meta.Get(metaSeq)
	if seq != nil && len(seq) != 8 {
		if addf("meta %q: %d bytes, want 8", metaSeq, len(seq)) {
			return problems
		}
	}
	if rep != nil {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				if addf("bucket %q is missing", name) {
					return problems
				}
			}
		}
	}

	// Records, and the index entries they imply.
	var want [numIndexes]map[string]string
	for i := range want {
		want[i] = map[string]string{}
	}
	var byState [4]int64
	if b := records; b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeRecord(v)
			switch {
			case err != nil:
				if addf("record %q does not decode", clip(k)) {
					return problems
				}
				continue
			case r.ID != string(k):
				if addf("record under key %q has ID %q", clip(k), r.ID) {
					return problems
				}
				continue
			}
			if !slices.Contains(countStates[:], r.State) {
				if addf("record %q: unknown state %q", clip(k), r.State) {
					return problems
				}
				continue
			}
			byState[stateIndex(r.State)]++
			if rep == nil {
				continue
			}
			rep.Records[r.State]++
			for _, e := range indexEntries(r) {
				want[e.bucket][string(e.key)] = string(e.val)
			}
		}
	}

	// Events, in chunks: key the first entry's sequence number.
	var last uint64
	if b := tx.Bucket(bucketEvents); b != nil {
		c := b.Cursor()
		var buf []store.Event
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var err error
			buf, err = decodeChunk(k, v, 0, math.MaxInt, buf[:0])
			if err != nil {
				if addf("event log: %v", err) {
					return problems
				}
				continue
			}
			if len(buf) == 0 {
				continue
			}
			if first := buf[0].Seq; first <= last && last > 0 {
				if addf("event log: chunk %d overlaps the previous one (up to %d)", first, last) {
					return problems
				}
			}
			if rep != nil {
				if rep.Events == 0 {
					rep.FirstEvent = buf[0].Seq
				}
				rep.Events += len(buf)
			}
			last = buf[len(buf)-1].Seq
		}
	}
	if rep == nil {
		return problems
	}
	rep.LastEvent = last
	if seq != nil && last > decodeSeq(seq) {
		if addf("event log: entry %d is past the last sequence number %d", last, decodeSeq(seq)) {
			return problems
		}
	}
	if format == nil || format[0] != formatVersion {
		return problems // indexes of older formats are rebuilt at open
	}
	if byState != counts {
		if addf("meta %q says %v (ongoing, success, failure, cancelled), the records %v", metaCounts, counts, byState) {
			return problems
		}
	}
	for i, name := range indexBuckets {
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			wv, ok := want[i][string(k)]
			switch {
			case !ok:
				if addf("index %q: entry %q matches no record", name, clip(k)) {
					return problems
				}
			case !bytes.Equal([]byte(wv), v):
				if addf("index %q: entry %q has value %q, its record says %q", name, clip(k), clip(v), wv) {
					return problems
				}
			}
			delete(want[i], string(k))
		}
		for k := range want[i] {
			if addf("index %q: entry %q of a record is missing", name, clip([]byte(k))) {
				return problems
			}
		}
	}
	if b := tx.Bucket(bucketServers); b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if _, ok := decodeAnnouncement(v); !ok {
				addf("server %q: announcement does not decode", clip(k))
			} else {
				rep.Servers++
			}
			return nil
		})
	}
	return problems
}

// String formats the report for people: one line per figure, then the
// problems.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "file:     %s (%d bytes)\n", r.File, r.Size)
	switch {
	case r.PageSize > 0 && r.OK():
		fmt.Fprintf(&b, "bbolt:    page size %d, %d pages in use (%d reachable, the rest free), transaction %d\n",
			r.PageSize, r.Pages, r.Reachable, r.Txid)
	case r.PageSize > 0:
		fmt.Fprintf(&b, "bbolt:    page size %d, %d pages in use, transaction %d\n", r.PageSize, r.Pages, r.Txid)
	}
	if r.OK() || r.Format > 0 {
		fmt.Fprintf(&b, "format:   %d\n", r.Format)
		fmt.Fprintf(&b, "records:  %d ongoing, %d success, %d failure, %d cancelled\n",
			r.Records[store.Ongoing], r.Records[store.Success], r.Records[store.Failure], r.Records[store.Cancelled])
		if r.Events > 0 {
			fmt.Fprintf(&b, "events:   %d (%d–%d)\n", r.Events, r.FirstEvent, r.LastEvent)
		} else {
			fmt.Fprintf(&b, "events:   0\n")
		}
		fmt.Fprintf(&b, "servers:  %d announced\n", r.Servers)
	}
	if r.OK() {
		b.WriteString("result:   OK\n")
		return b.String()
	}
	fmt.Fprintf(&b, "result:   DAMAGED (%d problem%s", len(r.Problems), map[bool]string{true: "", false: "s"}[len(r.Problems) == 1])
	if len(r.Problems) >= DefaultCheckProblems {
		b.WriteString(", the check stopped there")
	}
	b.WriteString(")\n")
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	return b.String()
}

// Backup writes a consistent copy of the store to file while the store
// stays in use: the copy is the state of the last commit before the call,
// read in one read-only transaction (writers go on meanwhile; the file may
// grow a little, as pages freed during the copy are reused only after it).
// It writes file+".tmp" (mode 0600), syncs it, renames it to file and
// syncs the directory, so file is always an old copy or a whole new one.
// It returns the bytes written, or store.ErrClosed after Close.
func (s *Store) Backup(ctx context.Context, file string) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	if err := checkCtx(ctx); err != nil {
		return 0, err
	}
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("boltstore: backup: %w", err)
	}
	var n int64
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("boltstore: backup to %s: %w", file, err)
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}

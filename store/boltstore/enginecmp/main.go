// Command enginecmp compares storage engines for the bgtask embedded store on
// the operations that matter: durable single insert latency, batch insert
// throughput and claim+finish throughput with group commit.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

type txn interface {
	get(k []byte) ([]byte, bool)
	put(k, v []byte)
	del(k []byte)
	firstN(prefix []byte, n int) [][]byte
}

type engine interface {
	update(fn func(txn)) error
	close()
}

// ---- bbolt
type boltEng struct{ db *bolt.DB }
type boltTx struct{ b *bolt.Bucket }

func (t boltTx) get(k []byte) ([]byte, bool) { v := t.b.Get(k); return v, v != nil }
func (t boltTx) put(k, v []byte)             { must(t.b.Put(k, v)) }
func (t boltTx) del(k []byte)                { must(t.b.Delete(k)) }
func (t boltTx) firstN(p []byte, n int) [][]byte {
	var out [][]byte
	c := t.b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(out) < n; k, _ = c.Next() {
		out = append(out, slices.Clone(k))
	}
	return out
}
func (e boltEng) update(fn func(txn)) error {
	return e.db.Update(func(tx *bolt.Tx) error { fn(boltTx{tx.Bucket([]byte("b"))}); return nil })
}
func (e boltEng) close() { e.db.Close() }

func openBolt(dir string) engine {
	db, err := bolt.Open(filepath.Join(dir, "b.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType, NoGrowSync: os.Getenv("NOGROWSYNC") != "", InitialMmapSize: 1 << 30, NoSync: os.Getenv("NOSYNC") != ""})
	must(err)
	must(db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err }))
	return boltEng{db}
}

// ---- pebble
type pebbleEng struct{ db *pebble.DB }
type pebbleTx struct{ b *pebble.Batch }

func (t pebbleTx) get(k []byte) ([]byte, bool) {
	v, c, err := t.b.Get(k)
	if err == pebble.ErrNotFound {
		return nil, false
	}
	must(err)
	v = slices.Clone(v)
	c.Close()
	return v, true
}
func (t pebbleTx) put(k, v []byte) { must(t.b.Set(k, v, nil)) }
func (t pebbleTx) del(k []byte)    { must(t.b.Delete(k, nil)) }
func (t pebbleTx) firstN(p []byte, n int) [][]byte {
	up := append(slices.Clone(p), 0xff)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: up})
	must(err)
	defer it.Close()
	var out [][]byte
	for ok := it.First(); ok && len(out) < n; ok = it.Next() {
		out = append(out, slices.Clone(it.Key()))
	}
	return out
}
func (e pebbleEng) update(fn func(txn)) error {
	b := e.db.NewIndexedBatch()
	fn(pebbleTx{b})
	return b.Commit(pebble.Sync)
}
func (e pebbleEng) close() { e.db.Close() }
func openPebble(dir string) engine {
	db, err := pebble.Open(filepath.Join(dir, "p"), &pebble.Options{})
	must(err)
	return pebbleEng{db}
}

// ---- group commit writer
type op struct {
	fn   func(txn)
	done chan error
}

var commits, batched atomic.Int64

type writer struct {
	e  engine
	ch chan op
	wg sync.WaitGroup
}

func newWriter(e engine) *writer {
	w := &writer{e: e, ch: make(chan op, 4096)}
	w.wg.Add(1)
	go w.loop()
	return w
}
func (w *writer) loop() {
	defer w.wg.Done()
	for o := range w.ch {
		ops := []op{o}
	drain:
		for len(ops) < 1000 {
			select {
			case o2, ok := <-w.ch:
				if !ok {
					break drain
				}
				ops = append(ops, o2)
			default:
				break drain
			}
		}
		commits.Add(1)
		batched.Add(int64(len(ops)))
		err := w.e.update(func(t txn) {
			for _, o := range ops {
				o.fn(t)
			}
		})
		for _, o := range ops {
			o.done <- err
		}
	}
}
func (w *writer) do(fn func(txn)) error {
	d := make(chan error, 1)
	w.ch <- op{fn, d}
	return <-d
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func key(parts ...[]byte) []byte { return bytes.Join(parts, []byte("/")) }
func ts(t time.Time) []byte      { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

var payload = bytes.Repeat([]byte("x"), 100)

func record(id []byte) []byte {
	return fmt.Appendf(nil, `{"id":%q,"name":"noop","args":[%q],"state":"ONGOING","attempt":0,"created_at":"2026-01-01T00:00:00Z"}`, id, payload)
}

func insert(t txn, id []byte) {
	t.put(key([]byte("rec"), id), record(id))
	t.put(key([]byte("q"), []byte("noop"), id), nil)
	t.put(key([]byte("st"), []byte("ONGOING"), id), nil)
}

func claim(t txn, n int) [][]byte {
	ks := t.firstN([]byte("q/noop/"), n)
	ids := make([][]byte, 0, len(ks))
	now := ts(time.Now())
	for _, k := range ks {
		id := k[len("q/noop/"):]
		v, _ := t.get(key([]byte("rec"), id))
		v = append(slices.Clone(v), 'c')
		t.put(key([]byte("rec"), id), v)
		t.del(k)
		t.put(key([]byte("own"), now, id), nil)
		ids = append(ids, id)
	}
	return ids
}

func finish(t txn, id []byte, hb []byte) {
	v, _ := t.get(key([]byte("rec"), id))
	v = append(slices.Clone(v), 'f')
	t.put(key([]byte("rec"), id), v)
	t.del(key([]byte("own"), hb, id))
	t.del(key([]byte("st"), []byte("ONGOING"), id))
	t.put(key([]byte("st"), []byte("SUCCESS"), id), nil)
	t.put(key([]byte("fin"), ts(time.Now()), id), nil)
}

func newID() []byte { return []byte(uuid.Must(uuid.NewV7()).String()) }

func pct(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

func main() {
	eng := flag.String("engine", "bolt", "bolt or pebble")
	n := flag.Int("n", 200000, "tasks for drain")
	dirFlag := flag.String("dir", "", "directory for the database (default: the OS temp dir)")
	prof := flag.String("cpuprofile", "", "")
	flag.Parse()
	if *prof != "" {
		f, _ := os.Create(*prof)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	dir, _ := os.MkdirTemp(*dirFlag, "enginecmp")
	defer os.RemoveAll(dir)
	var e engine
	switch *eng {
	case "bolt":
		e = openBolt(dir)
	case "pebble":
		e = openPebble(dir)
	}
	w := newWriter(e)

	// 1. single insert latency, one client.
	var lat []time.Duration
	for range 2000 {
		id := newID()
		t0 := time.Now()
		must(w.do(func(t txn) { insert(t, id) }))
		lat = append(lat, time.Since(t0))
	}
	fmt.Printf("%s single insert: p50=%v p99=%v\n", *eng, pct(lat, .5), pct(lat, .99))

	// 2. batch insert, 1000 per call, sequential and 4 concurrent.
	for _, conc := range []int{1, 4} {
		total := *n
		t0 := time.Now()
		var wg sync.WaitGroup
		per := total / conc
		for range conc {
			wg.Go(func() {
				for i := 0; i < per; i += 1000 {
					ids := make([][]byte, 1000)
					for j := range ids {
						ids[j] = newID()
					}
					must(w.do(func(t txn) {
						for _, id := range ids {
							insert(t, id)
						}
					}))
				}
			})
		}
		wg.Wait()
		el := time.Since(t0)
		fmt.Printf("%s batch insert conc=%d: %.0f rec/s\n", *eng, conc, float64(per*conc)/el.Seconds())
	}
	// now ~ 2000 + 2n queued. Drain 2n with claimers + 100 finishers.
	type claimed struct{ id, hb []byte }
	work := make(chan claimed, 200)
	var done atomic.Int64
	t0 := time.Now()
	target := int64(2 * *n)
	go func() {
		for done.Load() < target {
			var ids [][]byte
			hb := ts(time.Now())
			must(w.do(func(t txn) { ids = claim(t, 100) }))
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				work <- claimed{id, hb}
			}
		}
		close(work)
	}()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for c := range work {
				must(w.do(func(t txn) { finish(t, c.id, c.hb) }))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("%s claim+finish (100 finishers): %d in %v = %.0f tasks/s\n", *eng, done.Load(), el.Round(time.Millisecond), float64(done.Load())/el.Seconds())
	fmt.Printf("commits=%d ops=%d avg=%.1f\n", commits.Load(), batched.Load(), float64(batched.Load())/float64(commits.Load()))
	close(w.ch)
	w.wg.Wait()
	e.close()
	var sz int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			sz += fi.Size()
		}
		return nil
	})
	fmt.Printf("%s on-disk size: %d MB\n", *eng, sz>>20)
}

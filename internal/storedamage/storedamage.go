// Package storedamage makes a populated embedded store file (boltstore) and
// damaged copies of it: truncations at several offsets, bytes flipped in
// the meta pages, in branch and leaf pages of the records' B+tree and in a
// record, and an empty file. The tests of boltstore.New and of
// `bgtask serve` use them to check that every one is refused.
package storedamage

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// Case is one damaged copy of a store file.
type Case struct {
	// Name says what was done, e.g. "truncated-to-8192" or
	// "flip-records-leaf-count".
	Name string
	// Data is the damaged file's content.
	Data []byte
}

// Healthy creates a store in dir (dir/bgtask.db) holding n tasks with
// 1 KiB of arguments each, a third of them claimed (ONGOING with an
// owner) and the rest queued, closes it and returns the file's bytes.
func Healthy(dir string, n int) ([]byte, error) {
	s, err := boltstore.New(dir, nil)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	arg := strings.Repeat("x", 1024)
	for i := range n {
		r := &store.Record{
			ID:        uuid.Must(uuid.NewV7()).String(),
			Name:      "job",
			Args:      []string{fmt.Sprint(i), arg},
			CreatedAt: time.Unix(1_700_000_000, 0),
			Priority:  store.PriorityNormal,
		}
		if i%3 == 0 {
			r.Owner, r.Incarnation = "server-1", "life-1"
		}
		if _, err := s.Insert(ctx, []*store.Record{r}); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, boltstore.DefaultFileName))
}

// layout is what Cases needs to know of a bbolt file.
type layout struct {
	ps          int
	hwm         int
	rootLeaf    int // the root bucket's page: a leaf of bucket entries
	recordsRoot int // the records bucket's root page: a branch page
	recordsLeaf int // a leaf page of the records bucket
}

func u16(b []byte, off int) int { return int(binary.NativeEndian.Uint16(b[off:])) }
func u32(b []byte, off int) int { return int(binary.NativeEndian.Uint32(b[off:])) }
func u64(b []byte, off int) int { return int(binary.NativeEndian.Uint64(b[off:])) }

func parse(good []byte) (layout, error) {
	var l layout
	l.ps = u32(good, 16+8)
	if l.ps < 1024 || len(good) < 2*l.ps {
		return l, fmt.Errorf("storedamage: not a bbolt file (page size %d)", l.ps)
	}
	meta := 16
	if u64(good, l.ps+16+48) > u64(good, 16+48) { // the higher txid is current
		meta = l.ps + 16
	}
	l.hwm = u64(good, meta+40)
	l.rootLeaf = u64(good, meta+16)
	page := func(id int) []byte { return good[id*l.ps : (id+1)*l.ps] }
	root := page(l.rootLeaf)
	if u16(root, 8) != 0x02 {
		return l, fmt.Errorf("storedamage: root page %d is not a leaf", l.rootLeaf)
	}
	for i := range u16(root, 10) {
		e := 16 + 16*i
		pos, ksize := u32(root, e+4), u32(root, e+8)
		if string(root[e+pos:e+pos+ksize]) == "records" {
			l.recordsRoot = u64(root, e+pos+ksize)
		}
	}
	if l.recordsRoot == 0 {
		return l, fmt.Errorf("storedamage: no records bucket with a page of its own")
	}
	br := page(l.recordsRoot)
	if u16(br, 8) != 0x01 {
		return l, fmt.Errorf("storedamage: the records bucket's root %d is not a branch page: store more records", l.recordsRoot)
	}
	// Down the first children to a leaf.
	l.recordsLeaf = u64(br, 16+8)
	for range 8 {
		if u16(page(l.recordsLeaf), 8) != 0x01 {
			break
		}
		l.recordsLeaf = u64(page(l.recordsLeaf), 16+8)
	}
	if u16(page(l.recordsLeaf), 8) != 0x02 {
		return l, fmt.Errorf("storedamage: page %d is not a leaf", l.recordsLeaf)
	}
	return l, nil
}

// Cases returns the damaged copies of good, a healthy store file (as made
// by Healthy: its records bucket must span several pages). Every one is
// damage that New must detect.
func Cases(good []byte) ([]Case, error) {
	l, err := parse(good)
	if err != nil {
		return nil, err
	}
	used := l.hwm * l.ps
	var cs []Case
	for _, n := range []int{0, 100, l.ps, 2 * l.ps, 3 * l.ps, used / 2, used - l.ps, used - 1} {
		cs = append(cs, Case{Name: fmt.Sprintf("truncated-to-%d", n), Data: append([]byte(nil), good[:n]...)})
	}
	flip := func(name string, off int) {
		d := append([]byte(nil), good...)
		d[off] ^= 0xFF
		cs = append(cs, Case{Name: "flip-" + name, Data: d})
	}
	leaf := l.recordsLeaf * l.ps
	e0 := leaf + 16 // the leaf's first element
	pos, ksize := u32(good, e0+4), u32(good, e0+8)
	branch := l.recordsRoot * l.ps
	rootLeaf := l.rootLeaf * l.ps
	rpos, rksize := u32(good, rootLeaf+16+4), u32(good, rootLeaf+16+8)
	for _, f := range []struct {
		name string
		off  int
	}{
		{"meta0-magic", 16},
		{"meta0-pagesize", 16 + 9},
		{"meta0-highwater", 16 + 40},
		{"meta0-checksum", 16 + 56},
		{"meta1-root", l.ps + 16 + 16},
		{"meta1-txid", l.ps + 16 + 48},
		{"root-leaf-type", rootLeaf + 8},
		{"root-leaf-bucket-page", rootLeaf + 16 + rpos + rksize + 3},
		{"records-branch-id", branch},
		{"records-branch-count", branch + 11},
		{"records-branch-child", branch + 16 + 8 + 5},
		{"records-branch-key-offset", branch + 16 + 1},
		{"records-leaf-type", leaf + 8},
		{"records-leaf-count", leaf + 11},
		{"records-leaf-value-offset", e0 + 4 + 1},
		{"records-leaf-key-size", e0 + 8 + 1},
		{"record-codec-version", e0 + pos + ksize},
	} {
		flip(f.name, f.off)
	}
	return cs, nil
}

package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// The file check. bbolt trusts its file: it memory-maps it, follows page
// IDs without bounds checks and panics (sometimes in a goroutine of its own,
// where nothing can recover it) or faults (SIGBUS past the end of a
// truncated file) on damage. So New reads the whole B+tree with plain reads
// before bbolt maps the file, checking every bound bbolt relies on, and
// refuses a file that fails; Check does the same and more.
//
// The layout read here is bbolt's file format version 2 (common.Version),
// unchanged since 2014: pages of PageSize bytes; pages 0 and 1 are meta
// pages, the one with the higher transaction ID that validates is current;
// every other page reachable from its root bucket is a branch or leaf page.
// Integers are in the machine's byte order.

// ErrDamaged is wrapped by the error New and Check return for a file that
// is not a sound database: truncated, overwritten, bytes flipped, or empty.
// New never opens such a file and never writes to it.
var ErrDamaged = errors.New("damaged database file")

// DamageError reports a damaged database file: the file and the first
// problem found. It wraps ErrDamaged.
type DamageError struct {
	File    string
	Problem string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("boltstore: %s is damaged: %s", e.File, e.Problem)
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

// bbolt's on-disk constants (go.etcd.io/bbolt/internal/common).
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16 // branch and leaf page elements
	metaSize         = 64
	inBucketSize     = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	minPageSize      = 1024
	maxPageSize      = 1 << 24
	// maxTreeDepth bounds the recursion: a B+tree of 4 KiB pages holding
	// every page a 64-bit file can address is far shallower.
	maxTreeDepth = 64
	// maxBucketDepth bounds bucket nesting (bgtask nests one level).
	maxBucketDepth = 16
)

var nativeEndian = binary.NativeEndian

// boltMeta is a decoded meta page.
type boltMeta struct {
	magic, version, pageSize, flags uint32
	root, sequence                  uint64
	freelist, pgid, txid, checksum  uint64
	sum                             uint64 // computed
}

func parseMeta(b []byte) boltMeta {
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:56])
	return boltMeta{
		magic:    nativeEndian.Uint32(m[0:]),
		version:  nativeEndian.Uint32(m[4:]),
		pageSize: nativeEndian.Uint32(m[8:]),
		flags:    nativeEndian.Uint32(m[12:]),
		root:     nativeEndian.Uint64(m[16:]),
		sequence: nativeEndian.Uint64(m[24:]),
		freelist: nativeEndian.Uint64(m[32:]),
		pgid:     nativeEndian.Uint64(m[40:]),
		txid:     nativeEndian.Uint64(m[48:]),
		checksum: nativeEndian.Uint64(m[56:]),
		sum:      h.Sum64(),
	}
}

// problem says what is wrong with a meta page, "" if nothing.
func (m boltMeta) problem() string {
	switch {
	case m.magic != boltMagic:
		return "bad magic number (not a bbolt database page)"
	case m.version != boltVersion:
		return fmt.Sprintf("unsupported bbolt format version %d (want %d)", m.version, boltVersion)
	case m.checksum != m.sum:
		return "checksum mismatch"
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		return fmt.Sprintf("impossible page size %d", m.pageSize)
	}
	return ""
}

// fileChecker reads a bbolt file with bounds-checked plain reads.
type fileChecker struct {
	r    io.ReaderAt
	size int64
	// max is the number of problems after which the check stops.
	max      int
	problems []string

	ps   uint64 // page size
	hwm  uint64 // pages in use (the current meta's high-water mark)
	meta boltMeta
	seen []uint64 // bitset of the pages reached
	// Figures for the report.
	pages, branchPages, leafPages, overflowPages, buckets, keys uint64
}

// addf records a problem; it reports whether the check should stop.
func (c *fileChecker) addf(format string, args ...any) bool {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	return c.full()
}

func (c *fileChecker) full() bool { return len(c.problems) >= c.max }

// checkFile checks a bbolt file of size bytes read through r: meta pages,
// size against the high-water mark, and every page reachable from the
// root. It stops after max problems.
func checkFile(r io.ReaderAt, size int64, max int) *fileChecker {
	c := &fileChecker{r: r, size: size, max: max}
	if !c.checkMetas() {
		return c
	}
	c.seen = make([]uint64, (c.hwm+63)/64)
	c.mark(0, 0)
	c.mark(1, 0)
	if c.meta.freelist != noFreelist {
		if _, ok := c.page(c.meta.freelist, freelistPageFlag, "freelist"); !ok {
			return c
		}
	}
	c.tree(c.meta.root, nil, nil, "root bucket", 0, 0)
	return c
}

// checkMetas reads and validates both meta pages and the file size; on
// success c.ps, c.hwm and c.meta describe the current meta page.
func (c *fileChecker) checkMetas() bool {
	if c.size == 0 {
		c.addf("the file is empty (0 bytes); a store file never is")
		return false
	}
	if c.size < 2*minPageSize {
		c.addf("the file is %d bytes, too short for a database (two meta pages of at least %d bytes)", c.size, minPageSize)
		return false
	}
	var b0 [pageHeaderSize + metaSize]byte
	if _, err := c.r.ReadAt(b0[:], 0); err != nil {
		c.addf("reading meta page 0: %v", err)
		return false
	}
	m0 := parseMeta(b0[:])
	p0 := m0.problem()
	ps := uint64(m0.pageSize)
	if p0 != "" {
		// Find meta page 1 as bbolt does, trying every page size.
		ps = 0
		for sz := uint64(minPageSize); sz <= maxPageSize && int64(sz)+int64(len(b0)) <= c.size; sz <<= 1 {
			var b [pageHeaderSize + metaSize]byte
			if _, err := c.r.ReadAt(b[:], int64(sz)); err == nil && parseMeta(b[:]).problem() == "" && uint64(parseMeta(b[:]).pageSize) == sz {
				ps = sz
				break
			}
		}
		if ps == 0 {
			if m0.magic != boltMagic {
				c.addf("no valid meta page: not a bbolt database file, or its first pages are overwritten (meta page 0: %s)", p0)
			} else {
				c.addf("both meta pages are damaged (meta page 0: %s)", p0)
			}
			return false
		}
		c.addf("meta page 0: %s (meta page 1 is valid; bbolt would silently fall back to it and lose the newest commit if it was the current one)", p0)
		return false
	}
	if int64(2*ps) > c.size {
		c.addf("the file is %d bytes, shorter than its two meta pages of %d bytes: truncated", c.size, ps)
		return false
	}
	var b1 [pageHeaderSize + metaSize]byte
	if _, err := c.r.ReadAt(b1[:], int64(ps)); err != nil {
		c.addf("reading meta page 1: %v", err)
		return false
	}
	m1 := parseMeta(b1[:])
	if p1 := m1.problem(); p1 != "" {
		c.addf("meta page 1: %s (meta page 0 is valid; bbolt would silently fall back to it and lose the newest commit if it was the current one)", p1)
		return false
	}
	if m1.pageSize != m0.pageSize {
		c.addf("the meta pages disagree on the page size (%d and %d)", m0.pageSize, m1.pageSize)
		return false
	}
	cur := m0
	if m1.txid > m0.txid {
		cur = m1
	}
	c.ps, c.meta, c.hwm = ps, cur, cur.pgid
	for i, m := range []boltMeta{m0, m1} {
		switch {
		case m.pgid < 4 || m.pgid > uint64(1<<62)/ps:
			return !c.addf("meta page %d: impossible high-water mark of %d pages", i, m.pgid)
		case uint64(c.size) < m.pgid*ps:
			return !c.addf("the file is %d bytes, but meta page %d (transaction %d) says it holds %d pages of %d bytes (%d bytes): truncated",
				c.size, i, m.txid, m.pgid, ps, m.pgid*ps)
		case m.root < 2 || m.root >= m.pgid:
			return !c.addf("meta page %d: root page %d outside the file's pages 2–%d", i, m.root, m.pgid-1)
		case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
			return !c.addf("meta page %d: freelist page %d outside the file's pages 2–%d", i, m.freelist, m.pgid-1)
		}
	}
	return true
}

// mark records pages id…id+overflow as reached; it reports false (with a
// problem) if one was reached before.
func (c *fileChecker) mark(id uint64, overflow uint64) bool {
	for p := id; p <= id+overflow; p++ {
		if c.seen[p/64]&(1<<(p%64)) != 0 {
			c.addf("page %d is referenced twice", p)
			return false
		}
		c.seen[p/64] |= 1 << (p % 64)
	}
	return true
}

// page reads page id and checks its header: its own ID, the wanted type
// (flags; 0 for branch or leaf), and its overflow within the file.
func (c *fileChecker) page(id uint64, want uint16, what string) ([]byte, bool) {
	if id < 2 || id >= c.hwm {
		c.addf("%s: page %d is outside the file's pages 2–%d", what, id, c.hwm-1)
		return nil, false
	}
	// One read for the common page without overflow; the check of the
	// high-water mark against the file size makes it in bounds.
	h := make([]byte, c.ps)
	if _, err := c.r.ReadAt(h, int64(id*c.ps)); err != nil {
		c.addf("%s: reading page %d: %v", what, id, err)
		return nil, false
	}
	pid := nativeEndian.Uint64(h[0:])
	flags := nativeEndian.Uint16(h[8:])
	overflow := uint64(nativeEndian.Uint32(h[12:]))
	switch {
	case pid != id:
		c.addf("%s: page %d says it is page %d", what, id, pid)
		return nil, false
	case want != 0 && flags != want,
		want == 0 && flags != branchPageFlag && flags != leafPageFlag:
		c.addf("%s: page %d has type flags %#x, want %s", what, id, flags, pageKind(want))
		return nil, false
	case id+overflow >= c.hwm:
		c.addf("%s: page %d runs %d pages past the high-water mark %d", what, id, id+overflow+1-c.hwm, c.hwm)
		return nil, false
	}
	if !c.mark(id, overflow) {
		return nil, false
	}
	buf := h
	if overflow > 0 {
		buf = make([]byte, (1+overflow)*c.ps)
		copy(buf, h)
		if _, err := c.r.ReadAt(buf[c.ps:], int64((id+1)*c.ps)); err != nil {
			c.addf("%s: reading page %d: %v", what, id, err)
			return nil, false
		}
	}
	c.pages += 1 + overflow
	c.overflowPages += overflow
	if flags == freelistPageFlag {
		return buf, c.freelist(id, buf)
	}
	return buf, true
}

func pageKind(flags uint16) string {
	switch flags {
	case freelistPageFlag:
		return "a freelist page"
	case 0:
		return "a branch or leaf page"
	}
	return fmt.Sprintf("flags %#x", flags)
}

// freelist checks a freelist page's page IDs.
func (c *fileChecker) freelist(id uint64, buf []byte) bool {
	count := uint64(nativeEndian.Uint16(buf[10:]))
	off := uint64(pageHeaderSize)
	if count == 0xFFFF {
		count = nativeEndian.Uint64(buf[off:])
		off += 8
	}
	if count > (uint64(len(buf))-off)/8 {
		return !c.addf("freelist page %d: %d IDs do not fit in it", id, count)
	}
	for i := range count {
		if f := nativeEndian.Uint64(buf[off+8*i:]); f < 2 || f >= c.hwm {
			return !c.addf("freelist page %d: free page %d outside the file's pages 2–%d", id, f, c.hwm-1)
		}
	}
	return true
}

// tree checks the B+tree rooted at page id: every key within [lo, hi)
// (nil: unbounded) and in order, every child and nested bucket. It returns
// the largest key seen and whether the walk may go on.
func (c *fileChecker) tree(id uint64, lo, hi []byte, what string, depth, bucketDepth int) ([]byte, bool) {
	if depth > maxTreeDepth {
		return nil, !c.addf("%s: B+tree deeper than %d levels at page %d (a cycle?)", what, maxTreeDepth, id)
	}
	buf, ok := c.page(id, 0, what)
	if !ok {
		return nil, !c.full()
	}
	flags := nativeEndian.Uint16(buf[8:])
	if flags == branchPageFlag {
		c.branchPages++
	} else {
		c.leafPages++
	}
	elems, ok := c.elements(id, buf, flags, what)
	if !ok {
		return nil, !c.full()
	}
	if flags == branchPageFlag && len(elems) == 0 {
		return nil, !c.addf("%s: branch page %d has no elements", what, id)
	}
	prev := lo
	var last []byte
	for i, e := range elems {
		if !c.keyInOrder(id, i, e.key, prev, hi, what) {
			return nil, !c.full()
		}
		prev, last = e.key, e.key
		if flags == branchPageFlag {
			next := hi
			if i+1 < len(elems) {
				next = elems[i+1].key
			}
			max, ok := c.tree(e.child, e.key, next, what, depth+1, bucketDepth)
			if !ok {
				return nil, false
			}
			if max != nil {
				prev = max
			}
			last = max
			continue
		}
		c.keys++
		if e.flags&bucketLeafFlag != 0 && !c.bucket(id, e, what, bucketDepth) {
			return nil, false
		}
	}
	return last, true
}

// element is one element of a branch or leaf page.
type element struct {
	flags uint32
	key   []byte
	value []byte // leaf only
	child uint64 // branch only
}

// elements decodes a page's elements, checking every offset against the
// page's bytes (buf, header included).
func (c *fileChecker) elements(id uint64, buf []byte, flags uint16, what string) ([]element, bool) {
	count := uint64(nativeEndian.Uint16(buf[10:]))
	n := uint64(len(buf))
	if pageHeaderSize+count*elementSize > n {
		return nil, !c.addf("%s: page %d: %d elements do not fit in its %d bytes", what, id, count, n)
	}
	out := make([]element, count)
	for i := range count {
		off := pageHeaderSize + i*elementSize
		e := buf[off : off+elementSize]
		if flags == branchPageFlag {
			pos, ksize := uint64(nativeEndian.Uint32(e[0:])), uint64(nativeEndian.Uint32(e[4:]))
			if off+pos+ksize > n {
				return nil, !c.addf("%s: branch page %d, element %d: key at offset %d+%d runs past the page", what, id, i, off+pos, ksize)
			}
			out[i] = element{key: buf[off+pos : off+pos+ksize], child: nativeEndian.Uint64(e[8:])}
			continue
		}
		fl := nativeEndian.Uint32(e[0:])
		pos, ksize, vsize := uint64(nativeEndian.Uint32(e[4:])), uint64(nativeEndian.Uint32(e[8:])), uint64(nativeEndian.Uint32(e[12:]))
		if fl&^bucketLeafFlag != 0 {
			return nil, !c.addf("%s: leaf page %d, element %d: unknown flags %#x", what, id, i, fl)
		}
		if off+pos+ksize+vsize > n {
			return nil, !c.addf("%s: leaf page %d, element %d: key and value at offset %d+%d+%d run past the page", what, id, i, off+pos, ksize, vsize)
		}
		k := off + pos
		out[i] = element{flags: fl, key: buf[k : k+ksize], value: buf[k+ksize : k+ksize+vsize]}
	}
	return out, true
}

// keyInOrder checks key i of page id against the previous key (or the
// lower bound) and the upper bound hi.
func (c *fileChecker) keyInOrder(id uint64, i int, key, prev, hi []byte, what string) bool {
	switch {
	case len(key) == 0:
		return !c.addf("%s: page %d, element %d: empty key", what, id, i)
	case prev != nil && i == 0 && bytes.Compare(prev, key) > 0,
		prev != nil && i > 0 && bytes.Compare(prev, key) >= 0:
		return !c.addf("%s: page %d, element %d: key %q out of order (after %q)", what, id, i, clip(key), clip(prev))
	case hi != nil && bytes.Compare(key, hi) >= 0:
		return !c.addf("%s: page %d, element %d: key %q not below its parent's next key %q", what, id, i, clip(key), clip(hi))
	}
	return true
}

// bucket checks a nested bucket stored in leaf element e of page id.
func (c *fileChecker) bucket(id uint64, e element, what string, bucketDepth int) bool {
	name := fmt.Sprintf("bucket %q", clip(e.key))
	if bucketDepth > 0 {
		name = what + "/" + name
	}
	if bucketDepth >= maxBucketDepth {
		return !c.addf("%s: nested deeper than %d buckets", name, maxBucketDepth)
	}
	if len(e.value) < inBucketSize {
		return !c.addf("%s (page %d): bucket header of %d bytes, want %d", name, id, len(e.value), inBucketSize)
	}
	c.buckets++
	root := nativeEndian.Uint64(e.value)
	if root != 0 {
		_, ok := c.tree(root, nil, nil, name, 0, bucketDepth+1)
		return ok
	}
	// An inline bucket: a leaf page inside the value, holding no buckets.
	inline := e.value[inBucketSize:]
	if len(inline) < pageHeaderSize {
		return !c.addf("%s (page %d): inline bucket of %d bytes, too short for a page", name, id, len(inline))
	}
	if fl := nativeEndian.Uint16(inline[8:]); fl != leafPageFlag {
		return !c.addf("%s (page %d): inline bucket page has type flags %#x, want a leaf", name, id, fl)
	}
	elems, ok := c.elements(id, inline, leafPageFlag, name+" (inline)")
	if !ok {
		return !c.full()
	}
	var prev []byte
	for i, ie := range elems {
		if ie.flags != 0 {
			return !c.addf("%s (page %d): inline bucket holds a bucket", name, id)
		}
		if !c.keyInOrder(id, i, ie.key, prev, nil, name+" (inline)") {
			return !c.full()
		}
		prev = ie.key
		c.keys++
	}
	return true
}

// clip shortens a key for a message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

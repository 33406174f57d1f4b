package boltstore

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// head is the current key of one cursor in a k-way merge over index
// prefixes; key is the sort key after the prefix (ID, or time8+ID).
type head struct {
	c      *bolt.Cursor
	prefix []byte
	key    []byte
	val    []byte
}

func (h *head) set(k, v []byte) {
	if k == nil || !bytes.HasPrefix(k, h.prefix) {
		h.key, h.val = nil, nil
		return
	}
	h.key, h.val = k[len(h.prefix):], v
}

// minHead returns the live head with the smallest key, or nil.
func minHead(hs []*head) *head {
	var m *head
	for _, h := range hs {
		if h.key != nil && (m == nil || bytes.Compare(h.key, m.key) < 0) {
			m = h
		}
	}
	return m
}

func heads(b *bolt.Bucket, slots [][]byte) []*head {
	hs := make([]*head, len(slots))
	for i, p := range slots {
		h := &head{c: b.Cursor(), prefix: p}
		h.set(h.c.Seek(p))
		hs[i] = h
	}
	return hs
}

// queued returns up to limit queued record IDs from the given (name, tag)
// slots, oldest (smallest ID) first. A record queued under several tags
// appears once.
func queued(queue *bolt.Bucket, slots [][]byte, limit int) []string {
	hs := heads(queue, slots)
	var ids []string
	seen := make(map[string]struct{})
	for len(ids) < limit {
		h := minHead(hs)
		if h == nil {
			break
		}
		id := string(h.key)
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
		h.set(h.c.Next())
	}
	return ids
}

// orphans returns up to limit IDs of records owned by another server than
// owner whose heartbeat is before staleBefore, oldest heartbeat first.
func (w *wtx) orphans(slots [][]byte, owner string, staleBefore time.Time, limit int) []string {
	hs := heads(w.index[ixOwned], slots)
	bound := appendTime8(nil, staleBefore)
	var ids []string
	seen := make(map[string]struct{})
	for len(ids) < limit {
		h := minHead(hs)
		if h == nil {
			break
		}
		if bytes.Compare(h.key[:8], bound) >= 0 {
			h.key = nil // the rest of this slot is fresh
			continue
		}
		id := string(h.key[8:])
		if _, dup := seen[id]; !dup && string(h.val) != owner {
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
		h.set(h.c.Next())
	}
	return ids
}

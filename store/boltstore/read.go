package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
)

// List limits.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	err := s.db.View(fn)
	if err != nil && s.closed.Load() {
		return store.ErrClosed
	}
	return err
}

func getRecord(tx *bolt.Tx, id string) (*store.Record, error) {
	v := tx.Bucket(bucketRecords).Get([]byte(id))
	if v == nil {
		return nil, store.ErrNotFound
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("boltstore: record %q: %w", id, err)
	}
	return r, nil
}

// Get returns the record with that ID, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*store.Record, error) {
	var r *store.Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRecord(tx, id)
		return err
	})
	return r, err
}

// Counts returns the number of records per state (all four states).
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	s.countsMu.Lock()
	c := s.counts
	s.countsMu.Unlock()
	out := make(store.Counts, len(c))
	for i, n := range c {
		out[countStates[i]] = int(n)
	}
	return out, nil
}

// List returns one page of records, newest first.
func (s *Store) List(ctx context.Context, p store.ListParams) (*store.ListPage, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		limit = maxListLimit
	}
	page := &store.ListPage{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		page.Records = page.Records[:0]
		ids := listIDs(tx, p, limit+1)
		more := len(ids) > limit
		if more {
			ids = ids[:limit]
		}
		for _, id := range ids {
			r, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			page.Records = append(page.Records, r)
		}
		page.NextCursor = ""
		if more {
			page.NextCursor = ids[len(ids)-1]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// listIDs returns up to n IDs below p.Cursor, descending, from the index
// that matches the filter. An ID prefix narrows every index's key prefix
// (index keys end with the ID), so only matching entries are read.
func listIDs(tx *bolt.Tx, p store.ListParams, n int) []string {
	idp := p.IDPrefix
	if idp != "" {
		switch {
		case p.Cursor == "" || p.Cursor > idp && !strings.HasPrefix(p.Cursor, idp):
			p.Cursor = "" // every match sorts below the cursor
		case strings.HasPrefix(p.Cursor, idp):
			p.Cursor = p.Cursor[len(idp):]
			if p.Cursor == "" {
				return nil // nothing sorts below the prefix itself
			}
		default:
			return nil // the cursor sorts below every match
		}
	}
	// withID appends the ID prefix to an index prefix.
	withID := func(prefix []byte) []byte { return append(prefix, idp...) }
	var hs []*head
	switch {
	case p.State != "" && p.Name != "":
		hs = []*head{descHead(tx.Bucket(bucketStateName), withID(appendStr(appendStr(nil, string(p.State)), p.Name)), p.Cursor)}
	case p.State != "":
		b := tx.Bucket(bucketStateName)
		for _, name := range namesIn(b, appendStr(nil, string(p.State))) {
			hs = append(hs, descHead(b, withID(appendStr(appendStr(nil, string(p.State)), name)), p.Cursor))
		}
	case p.Name != "":
		for _, st := range countStates {
			hs = append(hs, descHead(tx.Bucket(bucketStateName), withID(appendStr(appendStr(nil, string(st)), p.Name)), p.Cursor))
		}
	default:
		hs = []*head{descHead(tx.Bucket(bucketRecords), withID(nil), p.Cursor)}
	}
	var ids []string
	for len(ids) < n {
		h := maxHead(hs)
		if h == nil {
			break
		}
		ids = append(ids, idp+string(h.key))
		h.set(h.c.Prev())
	}
	return ids
}

// CountsByName returns the number of records per task name and state. It
// reads every key of the state/name index (no record is decoded): about
// 0.1 µs per record, so some 10 ms per 100,000 records, under a read
// transaction that never blocks the writer.
func (s *Store) CountsByName(ctx context.Context) (store.NameCounts, error) {
	out := store.NameCounts{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		clear(out)
		b := tx.Bucket(bucketStateName)
		for _, st := range countStates {
			sp := appendStr(nil, string(st))
			for _, name := range namesIn(b, sp) {
				prefix := appendStr(bytes.Clone(sp), name)
				n := 0
				c := b.Cursor()
				for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
					n++
				}
				if n == 0 {
					continue
				}
				if out[name] == nil {
					out[name] = store.Counts{}
				}
				out[name][st] = n
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// namesIn lists the distinct names in the state_name keys under the state
// prefix, seeking from one name to the next.
func namesIn(b *bolt.Bucket, prefix []byte) []string {
	var names []string
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		rest := k[len(prefix):]
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			break // not a key this package wrote
		}
		name := rest[w : w+int(n)]
		names = append(names, string(name))
		end := prefixEnd(appendStr(bytes.Clone(prefix), string(name)))
		if end == nil {
			break
		}
		k, _ = c.Seek(end)
	}
	return names
}

// descHead positions a cursor on the last key with prefix that sorts
// below prefix+cursor (the last key with prefix if cursor is "").
func descHead(b *bolt.Bucket, prefix []byte, cursor string) *head {
	h := &head{c: b.Cursor(), prefix: prefix}
	var k, v []byte
	if cursor == "" {
		// The first key after every key with this prefix, if any.
		if end := prefixEnd(prefix); end != nil {
			k, _ = h.c.Seek(end)
		}
	} else {
		k, _ = h.c.Seek(append(bytes.Clone(prefix), cursor...))
	}
	if k == nil {
		k, v = h.c.Last()
	} else {
		k, v = h.c.Prev()
	}
	h.set(k, v)
	return h
}

// prefixEnd returns the smallest key greater than every key with prefix
// (nil for an empty prefix: past the end).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// maxHead returns the live head with the largest key, or nil.
func maxHead(hs []*head) *head {
	var m *head
	for _, h := range hs {
		if h.key != nil && (m == nil || bytes.Compare(h.key, m.key) > 0) {
			m = h
		}
	}
	return m
}

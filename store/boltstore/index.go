package boltstore

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
)

// Buckets. Every record lives in bucketRecords under its ID; the others are
// indexes whose keys end with the record ID (values empty unless noted), so
// that every operation seeks to a prefix and reads only what it returns.
// The indexes are derived data: New rebuilds them from the records when the
// index format changes.
var (
	bucketMeta    = []byte("meta")    // metaFormat, metaCounts, metaSeq
	bucketRecords = []byte("records") // id → encoded record
	// bucketQueue: ONGOING records without owner, claimable, FIFO per
	// (name, priority, tag slot): str(name) prio slot id.
	bucketQueue = []byte("queue")
	// bucketOwned: ONGOING records with owner, for the orphan search, oldest
	// renewal first per (name, priority, tag slot): str(name) prio slot
	// time8(hb) id → incarnation.
	bucketOwned = []byte("owned")
	// bucketOwner: ONGOING records by owner, for Recover and Servers:
	// str(owner) id → incarnation.
	bucketOwner = []byte("owner")
	// bucketStateName: str(state) str(name) id, for List filtered by
	// state, name or both. (By state alone, List merges the names found
	// by skipping from one name to the next: O(names) seeks, cheaper
	// than a second index written on every state change.)
	bucketStateName = []byte("state_name")
	// bucketFinished: terminal records by finish time, for retention:
	// time8(finished_at) id.
	bucketFinished = []byte("finished")
	// bucketIdem: idempotency key → id.
	bucketIdem = []byte("idempotency")
	// bucketEvents: the event log, seq8 → encoded event.
	bucketEvents = []byte("events")
	// bucketServers: announced servers, id → encoded announcement.
	bucketServers = []byte("servers")

	allBuckets = [][]byte{bucketMeta, bucketRecords, bucketQueue, bucketOwned, bucketOwner,
		bucketStateName, bucketFinished, bucketIdem, bucketEvents, bucketServers}
)

// Meta keys.
var (
	metaFormat = []byte("format")
	metaCounts = []byte("counts")
	// metaSeq is the Seq of the newest log entry ever appended.
	metaSeq = []byte("seq")
)

// formatVersion is stored in metaFormat; New refuses newer versions and
// upgrades older ones. Version 2 added the priority to the queue and owned
// keys, the owner index, the event log and the servers bucket.
const formatVersion = 2

// Tag slot bytes: an untagged record is indexed once under slotUntagged, a
// tagged one once per distinct tag under slotTag + str(tag).
const (
	slotUntagged = 0
	slotTag      = 1
)

// Priority bytes of the queue and owned keys.
const (
	prioNormal = 0
	prioIdle   = 1
)

func prioOf(r *store.Record) byte {
	if r.Idle() {
		return prioIdle
	}
	return prioNormal
}

// bucket indexes, in entry.bucket.
const (
	ixQueue = iota
	ixOwned
	ixOwner
	ixStateName
	ixFinished
	ixIdem
	numIndexes
)

var indexBuckets = [numIndexes][]byte{bucketQueue, bucketOwned, bucketOwner,
	bucketStateName, bucketFinished, bucketIdem}

// entry is one index key of a record.
type entry struct {
	bucket int
	key    []byte
	val    []byte
}

// indexEntries lists every index entry of r (nil r: none).
func indexEntries(r *store.Record) []entry {
	if r == nil {
		return nil
	}
	es := make([]entry, 0, 6)
	sn := appendStr(appendStr(make([]byte, 0, 16+len(r.Name)+len(r.ID)), string(r.State)), r.Name)
	es = append(es, entry{ixStateName, append(sn, r.ID...), nil})
	switch {
	case r.State == store.Ongoing && r.Owner == "":
		for _, slot := range tagSlots(r.Name, prioOf(r), r.Tags) {
			es = append(es, entry{ixQueue, append(slot, r.ID...), nil})
		}
	case r.State == store.Ongoing:
		for _, slot := range tagSlots(r.Name, prioOf(r), r.Tags) {
			k := appendTime8(slot, r.HeartbeatAt)
			es = append(es, entry{ixOwned, append(k, r.ID...), []byte(r.Incarnation)})
		}
		es = append(es, entry{ixOwner, append(appendStr(nil, r.Owner), r.ID...), []byte(r.Incarnation)})
	case r.State.Terminal():
		k := appendTime8(make([]byte, 0, 8+len(r.ID)), r.FinishedAt)
		es = append(es, entry{ixFinished, append(k, r.ID...), nil})
	}
	if r.IdempotencyKey != "" {
		es = append(es, entry{ixIdem, []byte(r.IdempotencyKey), []byte(r.ID)})
	}
	return es
}

// tagSlots returns the (name, priority, slot) prefixes under which a record
// with these tags is queued or owned.
func tagSlots(name string, prio byte, tags []string) [][]byte {
	base := append(appendStr(nil, name), prio)
	if len(tags) == 0 {
		return [][]byte{append(base, slotUntagged)}
	}
	out := make([][]byte, 0, len(tags))
	for i, t := range tags {
		if slices.Contains(tags[:i], t) {
			continue
		}
		k := append(slices.Clip(base), slotTag)
		out = append(out, appendStr(k, t))
	}
	return out
}

// claimSlots returns the (name, priority, slot) prefixes a server with
// these names and tags may claim from: untagged records of each name, and
// tagged ones sharing a tag.
func claimSlots(names, tags []string, prio byte) [][]byte {
	var out [][]byte
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			continue
		}
		out = append(out, tagSlots(n, prio, nil)...)
		if len(tags) > 0 {
			out = append(out, tagSlots(n, prio, tags)...)
		}
	}
	return out
}

// claimable reports whether a server with these names and tags may claim
// r.
func claimable(r *store.Record, names, tags []string) bool {
	if !slices.Contains(names, r.Name) {
		return false
	}
	if len(r.Tags) == 0 {
		return true
	}
	for _, t := range r.Tags {
		if slices.Contains(tags, t) {
			return true
		}
	}
	return false
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var (
	minTime8 = time.Unix(0, math.MinInt64)
	maxTime8 = time.Unix(0, math.MaxInt64)
)

// appendTime8 appends t as 8 bytes that sort like the times: nanoseconds
// since the epoch with the sign bit flipped; zero and out-of-range times
// clamp to the ends.
func appendTime8(b []byte, t time.Time) []byte {
	var v uint64
	switch {
	case t.IsZero() || !t.After(minTime8):
		v = 0
	case !t.Before(maxTime8):
		v = math.MaxUint64
	default:
		v = uint64(t.UnixNano()) ^ (1 << 63)
	}
	return binary.BigEndian.AppendUint64(b, v)
}

// diffEntries returns the entries of old not in new (to delete) and of new
// not in old (to put).
func diffEntries(old, new []entry) (del, put []entry) {
	for _, o := range old {
		if !containsEntry(new, o) {
			del = append(del, o)
		}
	}
	for _, n := range new {
		if !containsEntry(old, n) {
			put = append(put, n)
		}
	}
	return del, put
}

func containsEntry(es []entry, e entry) bool {
	for _, x := range es {
		if x.bucket == e.bucket && bytes.Equal(x.key, e.key) && bytes.Equal(x.val, e.val) {
			return true
		}
	}
	return false
}

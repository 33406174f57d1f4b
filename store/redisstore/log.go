package redisstore

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/redis/go-redis/v9"
)

// Page sizes of ReadLog: for a limit of 0 or less, and the most one call
// returns (so that no read holds Redis long).
const (
	defaultLogPage = 100
	maxLogPage     = 10_000
)

// ReadLog returns up to limit entries (at most 10,000) with Seq > after;
// see store.Store.
// With nothing to return and wait > 0 it blocks in XREAD BLOCK on its own
// connection, so an append wakes it at once; when ctx ends first, CLIENT
// UNBLOCK releases that connection.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int, wait time.Duration) (store.LogPage, error) {
	switch {
	case limit <= 0:
		limit = defaultLogPage
	case limit > maxLogPage:
		limit = maxLogPage
	}
	page, err := s.readLog(ctx, after, limit)
	if err != nil {
		return store.LogPage{}, err
	}
	if len(page.Events) > 0 || page.Truncated || wait <= 0 {
		return page, nil
	}
	return s.waitLog(ctx, after, limit, wait, page)
}

// entryMax is the most events one log entry holds (ENTRYMAX in
// lua/2_log.lua): an entry is the events of one call.
const entryMax = 64

// readLog reads the head and the entries after after in one MULTI/EXEC
// (atomic, one round trip): plain GET and XRANGE, not a function call,
// so that the entries go from the stream to the reply without passing
// through Lua. A reader whose position is past the head (a Redis that
// lost its data) reads from the start, in a second round trip.
func (s *Store) readLog(ctx context.Context, after uint64, limit int) (store.LogPage, error) {
	if s.closed.Load() {
		return store.LogPage{}, store.ErrClosed
	}
	var seq *redis.StringCmd
	var ranges []*redis.XMessageSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		seq = p.Get(ctx, s.cfg.Prefix+"seq")
		ranges = s.logRange(ctx, p, after, limit)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return store.LogPage{}, s.wrap(ctx, err)
	}
	head, _ := strconv.ParseUint(seq.Val(), 10, 64)
	page := store.LogPage{Head: head}
	from := after
	if after > head {
		page.Truncated = true
		from = 0
		if ranges, err = s.logRangeCmds(ctx, 0, limit); err != nil {
			return store.LogPage{}, s.wrap(ctx, err)
		}
	}
	for _, r := range ranges {
		if err := r.Err(); err != nil {
			return store.LogPage{}, s.wrap(ctx, err)
		}
		if page.Events, err = decodeEntries(page.Events, r.Val(), from, limit); err != nil {
			return store.LogPage{}, err
		}
	}
	if after < head && (len(page.Events) == 0 || page.Events[0].Seq != after+1) {
		page.Truncated = true
	}
	return page, nil
}

// logRange queues on p the reads of the entries that hold the first
// limit events after after: those whose last event is at most
// after + limit (at most limit entries), then the next one, which may
// hold the rest. Reading by Seq rather than by a count of entries keeps a
// page at about limit events whatever the entries hold (1 to entryMax).
func (s *Store) logRange(ctx context.Context, p redis.Cmdable, after uint64, limit int) []*redis.XMessageSliceCmd {
	key := s.cfg.Prefix + "log"
	upto := after + uint64(limit)
	if upto < after { // overflow
		upto = math.MaxUint64
	}
	return []*redis.XMessageSliceCmd{
		p.XRangeN(ctx, key, "(0-"+strconv.FormatUint(after, 10), "0-"+strconv.FormatUint(upto, 10), int64(limit)),
		p.XRangeN(ctx, key, "(0-"+strconv.FormatUint(upto, 10), "+", 1),
	}
}

// logRangeCmds runs logRange's reads in one round trip.
func (s *Store) logRangeCmds(ctx context.Context, after uint64, limit int) ([]*redis.XMessageSliceCmd, error) {
	var ranges []*redis.XMessageSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ranges = s.logRange(ctx, p, after, limit)
		return nil
	})
	return ranges, err
}

// decodeEntries appends to evs the events after after of msgs, up to
// limit events in all.
func decodeEntries(evs []store.Event, msgs []redis.XMessage, after uint64, limit int) ([]store.Event, error) {
	for _, m := range msgs {
		if len(evs) >= limit {
			break
		}
		var err error
		if evs, err = decodeEntry(evs, m.ID, m.Values, after); err != nil {
			return evs, err
		}
	}
	if len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, nil
}

// waitLog blocks until an entry after after is appended, wait passes or
// ctx ends. page is what the non-blocking read found (its Head).
func (s *Store) waitLog(ctx context.Context, after uint64, limit int, wait time.Duration, page store.LogPage) (store.LogPage, error) {
	conn := s.rdb.Conn()
	defer conn.Close()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		return store.LogPage{}, s.wrap(ctx, err)
	}
	read := make(chan struct{})
	defer close(read)
	stop := context.AfterFunc(ctx, func() { s.unblock(id, read) })
	defer stop()
	// Entries hold up to entryMax events: this many entries hold about
	// limit events at most (a page is cut at limit).
	streams, err := conn.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.cfg.Prefix + "log", "0-" + strconv.FormatUint(after, 10)},
		Count:   int64(max(1, limit/entryMax)),
		Block:   max(wait, time.Millisecond),
	}).Result()
	switch {
	case ctx.Err() != nil:
		return page, ctx.Err()
	case err == redis.Nil:
		return page, nil
	case err != nil:
		return store.LogPage{}, s.wrap(ctx, err)
	}
	for _, st := range streams {
		if page.Events, err = decodeEntries(page.Events, st.Messages, after, limit); err != nil {
			return store.LogPage{}, err
		}
	}
	if n := len(page.Events); n > 0 {
		page.Truncated = page.Events[0].Seq != after+1
		page.Head = max(page.Head, page.Events[n-1].Seq)
	}
	return page, nil
}

// unblock releases client id from its blocking read (CLIENT UNBLOCK)
// once ctx has ended. The read may not have reached Redis yet, so it
// tries again every few milliseconds until one unblocks it or read is
// closed (bounded: a read blocks for wait at most anyway).
func (s *Store) unblock(id int64, read <-chan struct{}) {
	for range 2000 {
		// A fresh context: the caller's has ended.
		if n, err := s.rdb.ClientUnblock(context.Background(), id).Result(); n == 1 || errors.Is(err, redis.ErrClosed) {
			return
		}
		select {
		case <-read:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

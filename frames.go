package bgtask

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/bgtask/bgtask/internal/sse"
)

func init() {
	sse.ReadFrames = func(ctx context.Context, reader any, dst []byte, maxBytes int, idle <-chan time.Time) ([]byte, error) {
		return reader.(*EventReader).appendFrames(ctx, dst, maxBytes, idle)
	}
}

// frameBatch caps the entries appendFrames takes from memory at once.
const frameBatch = 1024

// appendFrames appends the server-sent event frames of the next events of
// a reader of all tasks (see sse.ReadFrames). Events in the tail's memory
// are taken as shared entries, whose frames are encoded once for every
// stream: a stream's cost per event is a copy of its frame.
func (r *EventReader) appendFrames(ctx context.Context, dst []byte, maxBytes int, idle <-chan time.Time) ([]byte, error) {
	n0 := len(dst)
	maxBytes = max(maxBytes, 1)
	for range 1_000_000 { // bounded: each round appends, reads or waits
		t := r.m.tail
		if r.checked && t.followed() {
			ents, ok, wake, stopped := t.entriesAfter(r.cursor, frameBatch, r.ents[:0])
			r.ents = ents
			if stopped && len(dst) > n0 {
				return dst, nil // the store is read on the next call
			}
			// Stopped with nothing taken: the store is read once more
			// below (r.read), and says ErrStopped when nothing is left.
			if ok && !stopped {
				if len(ents) > 0 {
					var more bool
					dst, more = r.takeFrames(dst, ents, n0+maxBytes)
					clear(ents) // hold no entries the ring dropped
					if more {
						continue // more may be in memory
					}
					return dst, nil
				}
				if len(dst) > n0 {
					return dst, nil
				}
				select {
				case <-wake:
					continue
				case <-idle:
					return dst, nil
				case <-ctx.Done():
					return dst, ctx.Err()
				}
			}
		}
		if len(dst) > n0 {
			return dst, nil
		}
		// Not in memory: the store (which waits) or a reset.
		prev := r.cursor
		evs, wake, err := r.read(ctx)
		if err != nil {
			return dst, err
		}
		if len(evs) > 0 && evs[0].Kind != EventReset && r.checked && t.followed() {
			// The tail may have read these events meanwhile (a stream
			// that waited on the store while the manager started): take
			// them from its memory, encoded once for every stream.
			ents, ok, _, stopped := t.entriesAfter(prev, 1, r.ents[:0])
			r.ents = ents
			if ok && !stopped && len(ents) > 0 {
				clear(ents)
				r.cursor = prev
				continue
			}
		}
		for i := range evs {
			ev := &evs[i]
			if ev.Kind == EventReset {
				data := append(strconv.AppendUint([]byte(`{"seq":`), ev.Seq, 10), '}')
				dst = sse.AppendFrame(dst, string(EventReset), ev.Seq, data)
				continue
			}
			dst = append(dst, ev.frame()...)
		}
		if len(dst) > n0 {
			return dst, nil
		}
		if wake != nil {
			select {
			case <-wake:
			case <-idle:
				return dst, nil
			case <-ctx.Done():
				return dst, ctx.Err()
			}
		}
	}
	return dst, ctx.Err()
}

// takeFrames is take for shared entries: it appends the frames of the
// events of ents the reader delivers, and advances past them, until dst
// holds limit bytes or more. more is true if it took all of ents and dst
// has room for more.
func (r *EventReader) takeFrames(dst []byte, ents []*tailEntry, limit int) (_ []byte, more bool) {
	// Updates superseded by a later update of the same task in ents are
	// skipped, as take does; look for them only when there are updates.
	var later map[string]bool
	keep := r.keep[:0]
	for _, e := range ents {
		keep = append(keep, publicKind(e.ev.Kind) && (r.taskID == "" || e.ev.TaskID == r.taskID))
	}
	for i := len(ents) - 1; i >= 0; i-- {
		if ev := &ents[i].ev; keep[i] && ev.Kind == EventUpdated {
			if later[ev.TaskID] {
				keep[i] = false
				continue
			}
			if later == nil {
				later = make(map[string]bool)
			}
			later[ev.TaskID] = true
		}
	}
	r.keep = keep
	// Grow dst once for the frames it takes, not frame by frame; a busy
	// stream (a batch past 16 KiB) at once to its limit, rather than in
	// steps as its batches grow.
	need := 0
	for i, e := range ents {
		if len(dst)+need >= limit {
			break
		}
		if keep[i] {
			need += len(e.ev.frame())
		}
	}
	if need > cap(dst)-len(dst) && len(dst)+need > 16<<10 {
		need = max(need, limit-len(dst)+4<<10)
	}
	dst = slices.Grow(dst, need)
	for i, e := range ents {
		if len(dst) >= limit {
			return dst, false
		}
		if keep[i] {
			// A superseded update skipped here is still followed by the
			// update that superseded it, in this call or the next.
			dst = append(dst, e.ev.frame()...)
		}
		r.cursor = e.ev.Seq
	}
	return dst, len(dst) < limit
}

package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/quote"
	"github.com/bgtask/bgtask/store"
)

// Limits of GET /v1/tasks/{id}/log.
const (
	// DefaultTaskLogLimit is the number of events returned without ?limit=.
	DefaultTaskLogLimit = 500
	// MaxTaskLogLimit caps ?limit=.
	MaxTaskLogLimit = 1000
	// taskLogPage is the number of log entries read per store call.
	taskLogPage = 1000
	// taskLogSkew is how long before its CreatedAt a task's first event may
	// be stamped (the record's time is the submitting server's clock, the
	// log's the store's).
	taskLogSkew = 5 * time.Minute
	// taskLogWait bounds the wait for the events of a record just read.
	taskLogWait = 2 * time.Second
)

// TaskLogResponse is the body of GET /v1/tasks/{id}/log.
type TaskLogResponse struct {
	// Events are the task's events the store's log still holds, oldest
	// first: the last Limit of them.
	Events []bgtask.Event `json:"events"`
	// Complete is false when events are missing: the log no longer reaches
	// back to the task's first event (it keeps a bounded window), or the
	// task had more than Limit events.
	Complete bool `json:"complete"`
	// EventSeq is the task's EventSeq when it was read: its event stream
	// resumed from there (Last-Event-ID) continues the list without a gap.
	EventSeq uint64 `json:"event_seq"`
}

// taskLog serves GET /v1/tasks/{id}/log: the task's own history, from the
// store's event log. Cost: a binary search of the log for the task's
// creation time (about 17 single-entry reads for a 100,000-entry log), then
// a read of the entries from there to the task's last event (every task's
// entries in that span, bounded by the log's window).
func (s *Server) taskLog(w http.ResponseWriter, r *http.Request) {
	limit := DefaultTaskLogLimit
	// limit at most once, no other parameter: checkQuery.
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxTaskLogLimit {
			s.writeError(w, r, badRequest(CodeBadRequest, fmt.Sprintf("limit: want an integer from 1 to %d, got %s", MaxTaskLogLimit, quote.Q(l))))
			return
		}
		limit = n
	}
	info, err := s.m.Get(r.Context(), pathTaskID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := readTaskLog(r.Context(), s.m.Store(), info, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func readTaskLog(ctx context.Context, st store.Store, info *bgtask.TaskInfo, limit int) (*TaskLogResponse, error) {
	res := &TaskLogResponse{Events: []bgtask.Event{}, Complete: true, EventSeq: info.EventSeq}
	if info.EventSeq == 0 {
		return res, nil
	}
	first, err := st.ReadLog(ctx, 0, 1, 0)
	if err != nil {
		return nil, err
	}
	oldest := uint64(1)
	if first.Truncated {
		if len(first.Events) == 0 {
			res.Complete = false
			return res, nil
		}
		oldest = first.Events[0].Seq
	}
	if oldest > info.EventSeq {
		res.Complete = false
		return res, nil
	}
	// The first entry stamped at or after the task's creation (less the
	// skew): entries are appended in store-clock order.
	since := info.CreatedAt.Add(-taskLogSkew)
	lo, hi := oldest, info.EventSeq
	for range 64 { // bounded: halves [lo, hi] each round
		if lo >= hi {
			break
		}
		mid := lo + (hi-lo)/2
		p, err := st.ReadLog(ctx, mid-1, 1, 0)
		if err != nil {
			return nil, err
		}
		if p.Truncated || len(p.Events) == 0 {
			lo = mid + 1 // trimmed meanwhile: look later
			continue
		}
		if p.Events[0].Time.Before(since) {
			lo = p.Events[0].Seq + 1
		} else {
			hi = mid
		}
	}
	// Entries before lo are older than the task: none of its events was
	// trimmed if the search stopped after the window's start, or if the
	// first event found is the task's first (its first start, or an event
	// before any).
	whole := oldest == 1 || lo > oldest
	missed := false // entries trimmed during the read, or beyond the limit
	var ring []bgtask.Event
	after := lo - 1
	waited := false
	for n := 0; n < 1<<20; n++ { // bounded: each round moves after forward, or waits once
		p, err := st.ReadLog(ctx, after, taskLogPage, 0)
		if err != nil {
			return nil, err
		}
		if p.Truncated {
			missed = true
		}
		if len(p.Events) == 0 && !waited {
			// The record can be read a moment before its last events: wait
			// for them, once.
			waited = true
			if p, err = st.ReadLog(ctx, after, taskLogPage, taskLogWait); err != nil {
				return nil, err
			}
		}
		if len(p.Events) == 0 {
			missed = true
			break
		}
		for i := range p.Events {
			e := &p.Events[i]
			if e.Seq > info.EventSeq {
				break
			}
			if e.TaskID != info.ID || e.Kind.Control() {
				continue
			}
			if ring == nil && !missed && (e.Attempt == 0 || e.Kind == store.EventStarted && e.Attempt == 1) {
				whole = true
			}
			ring = append(ring, bgtask.EventFromLog(e))
			if len(ring) > 2*limit {
				ring = append(ring[:0], ring[len(ring)-limit:]...)
				missed = true
			}
		}
		after = p.Events[len(p.Events)-1].Seq
		if after >= info.EventSeq {
			break
		}
	}
	if len(ring) > limit {
		ring = ring[len(ring)-limit:]
		missed = true
	}
	res.Complete = whole && !missed
	res.Events = append(res.Events, ring...)
	return res, nil
}

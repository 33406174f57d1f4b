package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bgtask/bgtask"
)

// Read endpoints for the dashboard's overview: counts per task name and
// the throughput of the last hour.

// NameCountsResponse is the body of GET /v1/stats/names: the number of
// tasks per task name and state (a name lists only the states it has tasks
// in).
type NameCountsResponse struct {
	Names map[string]map[bgtask.State]int `json:"names"`
}

func (s *Server) nameCounts(w http.ResponseWriter, r *http.Request) {
	c, err := s.m.CountsByName(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NameCountsResponse{Names: c})
}

// ThroughputMinutes is how many minutes GET /v1/throughput covers.
const ThroughputMinutes = 60

// backfillWait bounds the first request's read of the log.
const backfillWait = 2 * time.Second

// ThroughputResponse is the body of GET /v1/throughput: the tasks that
// ended in each of the last ThroughputMinutes minutes (oldest first, the
// current minute last), by terminal state. A partial success counts as
// SUCCESS.
type ThroughputResponse struct {
	Minutes []ThroughputMinute `json:"minutes"`
	// Since is the time from which the counts are complete: the oldest
	// entry of the event log when the server first counted (if the log
	// had been trimmed), or the start of the hour, whichever is later.
	// Minutes before it may be short.
	Since time.Time `json:"since"`
}

// ThroughputMinute is one minute of ThroughputResponse.
type ThroughputMinute struct {
	// Start is the minute's first instant (UTC).
	Start time.Time `json:"start"`
	// Counts holds the tasks that ended in the minute, per terminal state
	// (states with none are absent).
	Counts map[bgtask.State]int `json:"counts"`
}

// throughput counts terminal events per minute, from the event log: it
// starts on the first request, reading the log from its oldest entry (so
// that the hour before the server started is counted as far as the log
// reaches back), then follows it. Cost: O(1) per event, 60 × 3 counters.
type throughput struct {
	mu      sync.Mutex
	running bool
	since   time.Time
	gap     bool                           // a reset was read: since moves to the next event
	minutes [ThroughputMinutes]minuteCount // ring, by Unix minute mod 60
}

type minuteCount struct {
	minute int64 // Unix minute
	n      [3]int
}

var terminalStates = [3]bgtask.State{bgtask.StateSuccess, bgtask.StateFailure, bgtask.StateCancelled}

// start follows the log from its oldest entry, once (again after the
// manager stopped a previous reader). It reads what the log holds before
// it returns (for at most backfillWait), so that the first answer counts
// the past hour as far as the log reaches back.
func (t *throughput) start(m *bgtask.Manager) {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return
	}
	ctx := context.Background()
	head, err := m.Store().ReadLog(ctx, 0, 1, 0)
	if err != nil {
		t.mu.Unlock()
		return
	}
	rd, err := m.Follow(ctx, &bgtask.SubscribeOpts{After: 1})
	if err != nil {
		t.mu.Unlock()
		return
	}
	t.running = true
	t.since = time.Now()
	if !head.Truncated {
		t.since = time.Time{} // the log holds every event ever: nothing missed
	}
	t.mu.Unlock()
	first := true
	bctx, cancel := context.WithTimeout(ctx, backfillWait)
	defer cancel()
	for range 1 << 20 { // bounded: each round reads, or the wait ends
		if rd.Pos() >= head.Head {
			break
		}
		evs, err := rd.Next(bctx)
		if err != nil {
			break
		}
		t.add(evs, first && head.Truncated)
		first = false
	}
	go func() {
		for range 1 << 62 { // bounded by the manager's life: Next fails once it stops
			evs, err := rd.Next(context.Background())
			if err != nil {
				break
			}
			t.add(evs, first && head.Truncated)
			first = false
		}
		t.mu.Lock()
		t.running = false
		t.mu.Unlock()
	}()
}

// add counts evs' terminal events; the first batch read tells how far back
// the counts are complete.
func (t *throughput) add(evs []bgtask.Event, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ev := range evs {
		if ev.Kind == bgtask.EventReset {
			// The reader fell behind the log's window: events were missed.
			t.since, t.gap = time.Now(), true
			continue
		}
		if first && i == 0 || t.gap {
			t.since, t.gap = ev.Time, false
		}
		var k int
		switch ev.Kind {
		case bgtask.EventDone, bgtask.EventPartialSuccess:
			k = 0
		case bgtask.EventFailed:
			k = 1
		case bgtask.EventCancelled:
			k = 2
		default:
			continue
		}
		mn := ev.Time.Unix() / 60
		slot := &t.minutes[mn%ThroughputMinutes]
		switch {
		case slot.minute == mn:
		case slot.minute < mn:
			*slot = minuteCount{minute: mn}
		default:
			continue // older than the hour the slot holds
		}
		slot.n[k]++
	}
}

// snapshot returns the last hour, up to now.
func (t *throughput) snapshot(now time.Time) ThroughputResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := now.Unix() / 60
	res := ThroughputResponse{Minutes: make([]ThroughputMinute, 0, ThroughputMinutes), Since: t.since}
	start := time.Unix((cur-ThroughputMinutes+1)*60, 0).UTC()
	if res.Since.Before(start) {
		res.Since = start
	}
	for mn := cur - ThroughputMinutes + 1; mn <= cur; mn++ {
		m := ThroughputMinute{Start: time.Unix(mn*60, 0).UTC(), Counts: map[bgtask.State]int{}}
		if slot := t.minutes[mn%ThroughputMinutes]; slot.minute == mn {
			for k, n := range slot.n {
				if n > 0 {
					m.Counts[terminalStates[k]] = n
				}
			}
		}
		res.Minutes = append(res.Minutes, m)
	}
	return res
}

// public reports whether r asks for the dashboard's page or one of its
// assets. They hold no data, so they are served without the token: a
// page opened without it asks for it (a login prompt) instead of showing
// a raw 401.
func (s *Server) public(r *http.Request) bool {
	return s.dashboard && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, DashboardAssetPrefix))
}

func (s *Server) throughputHandler(w http.ResponseWriter, r *http.Request) {
	s.tp.start(s.m)
	writeJSON(w, http.StatusOK, s.tp.snapshot(time.Now()))
}

package bgtask

import (
	"sync"
	"time"

	"github.com/bgtask/bgtask/store"
)

// runSet holds this server's runs from launch until their outcome is
// written (or given up on): their leases are renewed and reported as held
// for that whole time. Once stopAll has set a cause, every run added later
// is stopped with it at once, so that a run launched by a Submit racing
// Stop is cancelled like the others.
type runSet struct {
	mu    sync.Mutex // guards the fields below
	byID  map[string]*running
	cause error
	empty chan struct{} // closed while byID is empty; replaced when a run is added
	// abandoned holds the leases of runs stopped because their lease could
	// not be renewed in time, until Recover takes their records back as a
	// new attempt (store.ClaimParams.Abandoned); at most maxAbandoned.
	abandoned map[string]store.Lease
	// lost holds the IDs of records whose lease this server lost while it
	// ran them (at most maxAbandoned): an earlier life of this server's ID
	// cannot hold one of those, so Recover taking one back from this
	// server's ID means another live server uses the ID (sameIDTaken).
	lost map[string]struct{}
}

// maxAbandoned bounds runSet.abandoned: records taken over by another
// server never come back to this one's Recover.
const maxAbandoned = 10000

// abandon notes that l's run started and was given up without an outcome.
func (s *runSet) abandon(l store.Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abandoned = putBounded(s.abandoned, l.ID, l)
}

// putBounded sets m[k] = v (making m if nil), first dropping any one
// entry when m already holds maxAbandoned.
func putBounded[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = make(map[string]V)
	}
	if len(m) >= maxAbandoned {
		for id := range m { // drop any one
			delete(m, id)
			break
		}
	}
	m[k] = v
	return m
}

// abandonedLeases lists the leases noted by abandon.
func (s *runSet) abandonedLeases() []store.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Lease, 0, len(s.abandoned))
	for _, l := range s.abandoned {
		out = append(out, l)
	}
	return out
}

// leaseLost acts on the store's word that r's lease is no longer current
// (see running.leaseLost), noting its record in lost.
func (s *runSet) leaseLost(r *running) {
	s.mu.Lock()
	s.lost = putBounded(s.lost, r.rec.ID, struct{}{})
	s.mu.Unlock()
	r.leaseLost()
}

// sameIDTaken returns the IDs among cs, recovered from this server's own
// ID, that this incarnation was running under another lease or had lost
// while running them, leaving out those it abandoned itself: another
// live server with this server's ID took them. Call it before recovered,
// which forgets the abandoned leases.
func (s *runSet) sameIDTaken(cs []store.Claimed, serverID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range cs {
		if _, abandoned := s.abandoned[c.Record.ID]; c.PrevOwner != serverID || abandoned {
			continue
		}
		_, lost := s.lost[c.Record.ID]
		r, running := s.byID[c.Record.ID]
		if lost || running && r.lease != c.Lease {
			out = append(out, c.Record.ID)
		}
	}
	return out
}

// recovered forgets the abandoned leases of records Recover took back.
func (s *runSet) recovered(cs []store.Claimed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		delete(s.abandoned, c.Record.ID)
	}
}

func newRunSet() *runSet {
	e := make(chan struct{})
	close(e)
	return &runSet{byID: make(map[string]*running), empty: e}
}

// add registers r (stopping it at once if stopAll was called).
func (s *runSet) add(r *running) {
	s.mu.Lock()
	if len(s.byID) == 0 {
		s.empty = make(chan struct{})
	}
	s.byID[r.rec.ID] = r
	cause := s.cause
	s.mu.Unlock()
	if cause != nil {
		r.stop(cause)
	}
}

// remove unregisters r (not another run of the same ID).
func (s *runSet) remove(r *running) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[r.rec.ID] != r {
		return
	}
	delete(s.byID, r.rec.ID)
	if len(s.byID) == 0 {
		close(s.empty)
	}
}

func (s *runSet) get(id string) *running {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

func (s *runSet) all() []*running {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*running, 0, len(s.byID))
	for _, r := range s.byID {
		out = append(out, r)
	}
	return out
}

func (s *runSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// leases returns the leases of every registered run.
func (s *runSet) leases() []store.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Lease, 0, len(s.byID))
	for _, r := range s.byID {
		out = append(out, r.lease)
	}
	return out
}

// stopAll stops every run with cause, now and whenever one is added later.
func (s *runSet) stopAll(cause error) {
	s.mu.Lock()
	if s.cause == nil {
		s.cause = cause
	}
	rs := make([]*running, 0, len(s.byID))
	for _, r := range s.byID {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.stop(cause)
	}
}

// stopRuns stops the runs with these IDs.
func (s *runSet) stopRuns(ids []string, cause error) {
	for _, id := range ids {
		if r := s.get(id); r != nil {
			r.stop(cause)
		}
	}
}

// wait waits until no run is registered (true), or done is closed or
// timeout fires (false). Either channel may be nil.
func (s *runSet) wait(done <-chan struct{}, timeout <-chan time.Time) bool {
	for range 1_000_000 { // bounded: each round sees the set empty or waits
		s.mu.Lock()
		empty := s.empty
		s.mu.Unlock()
		select {
		case <-empty:
			s.mu.Lock()
			n := len(s.byID)
			s.mu.Unlock()
			if n == 0 {
				return true
			}
		case <-done:
			return false
		case <-timeout:
			return false
		}
	}
	return false
}

// slots are the worker slots (normal priority) and idle slots (idle
// priority) this server fills: counts of free slots, so that taking them
// all costs the same whatever MaxWorkers is.
type slots struct {
	mu   sync.Mutex
	left [2]int // free slots: [0] normal, [1] idle
}

// maxTake caps the slots one takeAll takes, and so the records one claim
// asks the store for: a server with many free slots claims in rounds.
const maxTake = 1000

func newSlots(normal, idle int) *slots {
	return &slots{left: [2]int{normal, idle}}
}

func kind(idle bool) int {
	if idle {
		return 1
	}
	return 0
}

// tryTake takes one slot if one is free.
func (s *slots) tryTake(idle bool) bool {
	return s.take(idle, 1) == 1
}

// takeAll takes every free slot of the kind, at most maxTake, and returns
// how many.
func (s *slots) takeAll(idle bool) int {
	return s.take(idle, maxTake)
}

func (s *slots) take(idle bool, most int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(s.left[kind(idle)], most)
	s.left[kind(idle)] -= n
	return n
}

// free frees n slots of the kind.
func (s *slots) free(idle bool, n int) {
	s.mu.Lock()
	s.left[kind(idle)] += n
	s.mu.Unlock()
}

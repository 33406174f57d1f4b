package storetest

import (
	"errors"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
)

// waitTimeout bounds every wait for the log; the suite never sleeps.
const waitTimeout = 10 * time.Second

func (e *env) insert(recs ...*store.Record) []store.InsertResult {
	e.t.Helper()
	res, err := e.s.Insert(e.t.Context(), recs)
	if err != nil {
		e.t.Fatalf("Insert: %v", err)
	}
	if len(res) != len(recs) {
		e.t.Fatalf("Insert returned %d results for %d records", len(res), len(recs))
	}
	return res
}

// run inserts a record of name already owned by sv and returns it as
// stored with its lease.
func (e *env) run(sv server, name string) (*store.Record, store.Lease) {
	e.t.Helper()
	r := Owned(name, sv.id, sv.inc)
	res := e.insert(r)
	if res[0].Lease.IsZero() {
		e.t.Fatalf("Insert of an owned record returned no lease")
	}
	return e.get(r.ID), res[0].Lease
}

func (e *env) get(id string) *store.Record {
	e.t.Helper()
	r, err := e.s.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

func (e *env) wantNotFound(id string) {
	e.t.Helper()
	if r, err := e.s.Get(e.t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("Get(%s) = %+v, %v; want ErrNotFound", id, r, err)
	}
}

func (e *env) list(p store.ListParams) *store.ListPage {
	e.t.Helper()
	page, err := e.s.List(e.t.Context(), p)
	if err != nil {
		e.t.Fatalf("List(%+v): %v", p, err)
	}
	return page
}

func (e *env) counts() store.Counts {
	e.t.Helper()
	c, err := e.s.Counts(e.t.Context())
	if err != nil {
		e.t.Fatalf("Counts: %v", err)
	}
	return c
}

func (e *env) wantCounts(ongoing, success, failure, cancelled int) {
	e.t.Helper()
	c := e.counts()
	got := [4]int{c[store.Ongoing], c[store.Success], c[store.Failure], c[store.Cancelled]}
	if want := [4]int{ongoing, success, failure, cancelled}; got != want {
		e.t.Fatalf("Counts ONGOING/SUCCESS/FAILURE/CANCELLED = %v, want %v", got, want)
	}
}

func (e *env) claim(p store.ClaimParams) []store.Claimed {
	e.t.Helper()
	got, err := e.s.Claim(e.t.Context(), p)
	if err != nil {
		e.t.Fatalf("Claim(%+v): %v", p, err)
	}
	if len(got) > p.Limit+p.IdleLimit {
		e.t.Fatalf("Claim(Limit %d, IdleLimit %d) returned %d records", p.Limit, p.IdleLimit, len(got))
	}
	return got
}

func (e *env) recover(p store.ClaimParams, held ...store.Lease) []store.Claimed {
	e.t.Helper()
	got, err := e.s.Recover(e.t.Context(), p, held)
	if err != nil {
		e.t.Fatalf("Recover(%+v): %v", p, err)
	}
	return got
}

// finish ends the record held by l in state st and returns it.
func (e *env) finish(l store.Lease, st store.State) *store.Record {
	e.t.Helper()
	res := e.finishAll(store.Completion{Lease: l, State: st, ExitCode: exitOf(st)})
	if res[0].Err != nil {
		e.t.Fatalf("Finish(%s, %s): %v", l, st, res[0].Err)
	}
	return e.get(l.ID)
}

func exitOf(st store.State) int {
	if st == store.Success {
		return 0
	}
	return 1
}

func (e *env) finishAll(cs ...store.Completion) []store.FinishResult {
	e.t.Helper()
	res, err := e.s.Finish(e.t.Context(), cs)
	if err != nil {
		e.t.Fatalf("Finish: %v", err)
	}
	if len(res) != len(cs) {
		e.t.Fatalf("Finish returned %d results for %d completions", len(res), len(cs))
	}
	return res
}

// ended inserts a record of name and ends it in state st (through a run
// by a throw-away server), returning it as stored.
func (e *env) ended(name string, st store.State) *store.Record {
	e.t.Helper()
	_, l := e.run(server{"ender", "ender-1"}, name)
	return e.finish(l, st)
}

func (e *env) renew(leases ...store.Lease) store.RenewResult {
	e.t.Helper()
	res, err := e.s.Renew(e.t.Context(), leases)
	if err != nil {
		e.t.Fatalf("Renew: %v", err)
	}
	return res
}

func (e *env) update(patches ...store.Patch) []store.Lease {
	e.t.Helper()
	lost, err := e.s.Update(e.t.Context(), patches)
	if err != nil {
		e.t.Fatalf("Update: %v", err)
	}
	return lost
}

func (e *env) release(patches ...store.Patch) []store.Lease {
	e.t.Helper()
	lost, err := e.s.Release(e.t.Context(), patches)
	if err != nil {
		e.t.Fatalf("Release: %v", err)
	}
	return lost
}

// readLog reads every log entry after after (non-blocking, all pages).
func (e *env) readLog(after uint64) store.LogPage {
	e.t.Helper()
	var all store.LogPage
	for range 100_000 {
		page, err := e.s.ReadLog(e.t.Context(), after, 1000, 0)
		if err != nil {
			e.t.Fatalf("ReadLog(%d): %v", after, err)
		}
		all.Truncated = all.Truncated || page.Truncated
		all.Head = page.Head
		all.Events = append(all.Events, page.Events...)
		if len(page.Events) == 0 {
			return all
		}
		after = page.Events[len(page.Events)-1].Seq
	}
	e.t.Fatal("ReadLog never ran out of entries")
	return all
}

// head returns the log's newest Seq.
func (e *env) head() uint64 {
	e.t.Helper()
	page, err := e.s.ReadLog(e.t.Context(), 0, 1, 0)
	if err != nil {
		e.t.Fatalf("ReadLog: %v", err)
	}
	return page.Head
}

// eventsSince returns the log entries appended after seq, as kind:taskID
// strings for readable diffs, with the entries themselves.
func (e *env) eventsSince(seq uint64) ([]string, []store.Event) {
	e.t.Helper()
	page := e.readLog(seq)
	if page.Truncated {
		e.t.Fatalf("ReadLog(%d) reports a truncated log", seq)
	}
	out := make([]string, len(page.Events))
	for i, ev := range page.Events {
		out[i] = string(ev.Kind) + ":" + ev.TaskID
	}
	return out, page.Events
}

func ev(k store.EventKind, id string) string { return string(k) + ":" + id }

func claimedIDs(cs []store.Claimed) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.Record.ID)
	}
	return ids
}

func pageIDs(p *store.ListPage) []string {
	ids := make([]string, 0, len(p.Records))
	for _, r := range p.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func recIDs(recs ...*store.Record) []string {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

func leaseIDs(ls []store.Lease) []string {
	ids := make([]string, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

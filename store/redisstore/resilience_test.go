package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/redisstore"
	"github.com/bgtask/bgtask/store/storetest"
)

// noRetries makes go-redis fail a call at its first network error, so
// that a test sees ErrUnavailable at once instead of after its retries.
const noRetries = "?max_retries=-1&dial_timeout=1s&read_timeout=500ms&write_timeout=500ms"

func newStore(t *testing.T, url string, cfg *redisstore.Config) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(t.Context(), url, cfg)
	if err != nil {
		t.Fatalf("redisstore.New(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// calls runs one call of every Store method and returns their errors.
func calls(ctx context.Context, s store.Store) map[string]error {
	id := storetest.NewID()
	l := store.Lease{ID: id, Owner: "o", Incarnation: "o/1", Fence: 1}
	p := store.ClaimParams{Owner: "o", Incarnation: "o/1", Names: []string{"job"}, Limit: 1}
	errs := map[string]error{}
	_, errs["Insert"] = s.Insert(ctx, []*store.Record{storetest.NewRecord("job")})
	_, errs["Get"] = s.Get(ctx, id)
	_, errs["List"] = s.List(ctx, store.ListParams{})
	_, errs["Counts"] = s.Counts(ctx)
	_, errs["Claim"] = s.Claim(ctx, p)
	_, errs["Recover"] = s.Recover(ctx, p, nil)
	_, errs["Renew"] = s.Renew(ctx, []store.Lease{l})
	_, errs["Update"] = s.Update(ctx, []store.Patch{{Lease: l}})
	_, errs["Finish"] = s.Finish(ctx, []store.Completion{{Lease: l, State: store.Success}})
	_, errs["Release"] = s.Release(ctx, []store.Patch{{Lease: l}})
	_, errs["RequestCancel"] = s.RequestCancel(ctx, id)
	_, errs["Retry"] = s.Retry(ctx, id, store.RetryParams{})
	_, errs["DeleteFinished"] = s.DeleteFinished(ctx, time.Hour, 10)
	_, errs["ReadLog"] = s.ReadLog(ctx, 0, 10, 0)
	_, errs["ReadLogWait"] = s.ReadLog(ctx, 1_000_000, 10, time.Second)
	errs["Announce"] = s.Announce(ctx, store.ServerInfo{ID: "o", Incarnation: "o/1"}, time.Minute)
	errs["Withdraw"] = s.Withdraw(ctx, "o", "o/1")
	_, errs["Servers"] = s.Servers(ctx)
	return errs
}

// TestUnavailable: with Redis gone (killed, then frozen) every call
// returns an error wrapping store.ErrUnavailable, and works again once
// Redis is back.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	s := newStore(t, srv.URL(0)+noRetries, nil)
	ctx := t.Context()
	for name, err := range calls(ctx, s) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNothingToRetry) {
			t.Fatalf("%s with Redis up: %v", name, err)
		}
	}
	for _, down := range []struct {
		name       string
		stop, cont func()
	}{{"killed", srv.Kill, srv.Restart}, {"paused", srv.Pause, srv.Resume}} {
		down.stop()
		for name, err := range calls(ctx, s) {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s with Redis %s: %v, want ErrUnavailable", name, down.name, err)
			}
		}
		down.cont()
		waitUp(t, s)
	}
	if _, err := redisstore.New(ctx, "redis://127.0.0.1:1/0"+noRetries, nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("New on a closed port: %v, want ErrUnavailable", err)
	}
}

// waitUp waits, in a bounded loop, until s reaches Redis again.
func waitUp(t *testing.T, s store.Store) {
	t.Helper()
	var err error
	for range 200 {
		if _, err = s.Counts(t.Context()); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond) // the pool redials on the next call: nothing to wait on
	}
	t.Fatalf("store unavailable after Redis came back: %v", err)
}

// TestRedisRestartKeepsEverything: Redis killed with SIGKILL mid-use and
// restarted from its AOF (appendfsync always): every acknowledged change
// is there, the log continues densely, leases still fence, and the same
// Store value goes on working.
func TestRedisRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{Fsync: redistest.FsyncAlways})
	s := newStore(t, srv.URL(0)+noRetries, nil)
	ctx := t.Context()
	var recs []*store.Record
	for i := range 40 {
		r := storetest.Owned("job", "web-1", "web-1/1")
		if i%2 == 1 {
			r = storetest.NewRecord("job")
		}
		recs = append(recs, r)
	}
	res, err := s.Insert(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	var cs []store.Completion
	for _, ir := range res {
		if !ir.Lease.IsZero() && len(cs) < 10 {
			cs = append(cs, store.Completion{Lease: ir.Lease, State: store.Success})
		}
	}
	if _, err := s.Finish(ctx, cs); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)

	srv.Kill()
	if _, err := s.Counts(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Counts with Redis killed: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	waitUp(t, s)

	after := snapshot(t, s)
	if before.String() != after.String() {
		t.Fatalf("state after the restart differs:\nbefore %s\nafter  %s", before, after)
	}
	// Leases survive: the old ones still fence, the queue still claims.
	fin, err := s.Finish(ctx, []store.Completion{{Lease: cs[0].Lease, State: store.Failure}})
	if err != nil || fin[0].Err != nil {
		t.Fatalf("repeated Finish after the restart = %+v, %v; want no error", fin, err)
	}
	if r, err := s.Get(ctx, cs[0].Lease.ID); err != nil || r.State != store.Success {
		t.Fatalf("after a repeated Finish with another state: %+v, %v; want the stored SUCCESS", r, err)
	}
	got, err := s.Claim(ctx, store.ClaimParams{Owner: "web-2", Incarnation: "web-2/1", Names: []string{"job"}, Limit: 100})
	if err != nil || len(got) != 20 {
		t.Fatalf("Claim after the restart = %d records, %v; want the 20 queued", len(got), err)
	}
	page, err := s.ReadLog(ctx, before.head, 100, 0)
	if err != nil || page.Truncated || len(page.Events) != 20 || page.Events[0].Seq != before.head+1 {
		t.Fatalf("log after the restart: %d entries from %d, truncated %v, %v; want 20 from %d", len(page.Events), firstSeq(page), page.Truncated, err, before.head+1)
	}
}

func firstSeq(p store.LogPage) uint64 {
	if len(p.Events) == 0 {
		return 0
	}
	return p.Events[0].Seq
}

type state struct {
	counts store.Counts
	ids    []string
	head   uint64
	events int
}

func (s state) String() string {
	var b bytes.Buffer
	b.WriteString(strings.Join(s.ids, ","))
	for _, st := range []store.State{store.Ongoing, store.Success} {
		b.WriteString(" " + string(st) + "=" + strconv.Itoa(s.counts[st]))
	}
	b.WriteString(" head=" + strconv.Itoa(int(s.head)) + " events=" + strconv.Itoa(s.events))
	return b.String()
}

func snapshot(t *testing.T, s store.Store) state {
	t.Helper()
	ctx := t.Context()
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, store.ListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	log, err := s.ReadLog(ctx, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := state{counts: c, head: log.Head, events: len(log.Events)}
	for _, r := range page.Records {
		st.ids = append(st.ids, r.ID+":"+string(r.State))
	}
	return st
}

// TestPersistenceWarning: New warns when Redis keeps nothing on disk, and
// not when AOF is on.
func TestPersistenceWarning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts redistest.Options
		warn bool
	}{{redistest.Options{NoPersistence: true}, true}, {redistest.Options{}, false}} {
		srv := redistest.Start(t, &tc.opts)
		var buf bytes.Buffer
		s := newStore(t, srv.URL(0), &redisstore.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if got := strings.Contains(buf.String(), "persistence is off"); got != tc.warn {
			t.Errorf("NoPersistence %v: warned %v, want %v (log: %q)", tc.opts.NoPersistence, got, tc.warn, buf.String())
		}
		p, err := s.Persistence(t.Context())
		if err != nil || p.Durable() == tc.warn {
			t.Errorf("Persistence() = %+v, %v", p, err)
		}
	}
}

// TestReadLogCancelAnyTime: a blocking ReadLog returns soon after its
// context ends, wherever the cancel falls: before the read reaches Redis,
// while it blocks, or in between (CLIENT UNBLOCK is repeated until the
// read is released).
func TestReadLogCancelAnyTime(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	s := newStore(t, srv.URL(0), nil)
	for i := range 60 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := s.ReadLog(ctx, 0, 10, time.Hour)
			done <- err
		}()
		// Spread the cancels over the read's first few hundred
		// microseconds.
		for range i * 20 {
			runtime.Gosched()
		}
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("ReadLog after cancel: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadLog %d kept blocking after its context ended", i)
		}
	}
}

// Every call ends by its context's deadline while Redis does not answer,
// whatever go-redis' own read and write timeouts are: /healthz's 2 s
// check took 5 s against a frozen Redis (found by a fresh user), and
// StoreTimeout or Stop's bound could be outlasted the same way. The
// timeouts here are an hour, so only a call that keeps its context's
// deadline returns.
func TestCallsEndByTheirDeadlineWhileRedisIsFrozen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	s := newStore(t, srv.URL(0)+"?max_retries=-1&read_timeout=1h&write_timeout=1h", nil)
	srv.Pause()
	defer srv.Resume()
	l := store.Lease{ID: storetest.NewID(), Owner: "o", Incarnation: "o/1", Fence: 1}
	for name, call := range map[string]func(context.Context) error{
		"Counts": func(ctx context.Context) error { _, err := s.Counts(ctx); return err },
		"Get":    func(ctx context.Context) error { _, err := s.Get(ctx, l.ID); return err },
		"Renew":  func(ctx context.Context) error { _, err := s.Renew(ctx, []store.Lease{l}); return err },
		"Finish": func(ctx context.Context) error {
			_, err := s.Finish(ctx, []store.Completion{{Lease: l, State: store.Success}})
			return err
		},
		"ReadLog":  func(ctx context.Context) error { _, err := s.ReadLog(ctx, 0, 10, 0); return err },
		"Withdraw": func(ctx context.Context) error { return s.Withdraw(ctx, "o", "o/1") },
	} {
		res := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			res <- call(ctx)
		}()
		select {
		case err := <-res:
			if err == nil {
				t.Fatalf("%s with Redis frozen: no error", name)
			}
		case <-time.After(30 * time.Second): // a failsafe: the broken call waits an hour
			t.Fatalf("%s with Redis frozen did not end by its context's deadline", name)
		}
	}
}

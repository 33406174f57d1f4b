package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/redistest"
	"github.com/bgtask/bgtask/store"
)

func fcallUsec(t *testing.T, s *Store) float64 {
	info := s.rdb.Info(context.Background(), "commandstats").Val()
	for _, line := range strings.Split(info, "\r\n") {
		if strings.HasPrefix(line, "cmdstat_fcall:") {
			for _, kv := range strings.Split(strings.TrimPrefix(line, "cmdstat_fcall:"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				if k == "usec" {
					f, _ := strconv.ParseFloat(v, 64)
					return f
				}
			}
		}
	}
	return 0
}

func TestZZProf(t *testing.T) {
	srv := redistest.Start(t, nil)
	ctx := context.Background()
	s, err := New(ctx, srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const N = 20000
	for left := N; left > 0; left -= 1000 {
		if _, err := s.Insert(ctx, queued(min(left, 1000))); err != nil {
			t.Fatal(err)
		}
	}
	var tc, tr, tf float64
	p := store.ClaimParams{Owner: "w", Incarnation: "w/1", Names: []string{"job"}, Limit: 100}
	for range N / 100 {
		a := fcallUsec(t, s)
		cl, err := s.Claim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b := fcallUsec(t, s)
		leases := make([]store.Lease, len(cl))
		cs := make([]store.Completion, len(cl))
		for i, c := range cl {
			leases[i] = c.Lease
			cs[i] = store.Completion{Lease: c.Lease, State: store.Success}
		}
		if _, err := s.Renew(ctx, leases); err != nil {
			t.Fatal(err)
		}
		c := fcallUsec(t, s)
		if _, err := s.Finish(ctx, cs); err != nil {
			t.Fatal(err)
		}
		d := fcallUsec(t, s)
		tc += b - a
		tr += c - b
		tf += d - c
	}
	t.Logf("per task: claim %.1f µs, renew %.1f µs, finish %.1f µs", tc/N, tr/N, tf/N)
}

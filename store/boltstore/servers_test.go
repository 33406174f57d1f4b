package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// A server killed before it could withdraw its announcement is not listed
// as live by the next opening of the store: the file is locked by one
// process at a time, so that incarnation is dead, though its announcement
// has not expired. (A restarted server with the same ID then has nothing
// to wait for; it listed its dead earlier life as live.)
func TestServersLeaveOutIncarnationsOfEarlierOpenings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := boltstore.New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.Announce(ctx, store.ServerInfo{ID: "web-1", Incarnation: "web-1/old"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Servers(ctx); err != nil || len(got) != 1 {
		t.Fatalf("Servers in the same opening: %+v, %v; want web-1", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	if got, err := s2.Servers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Servers after reopening: %+v, %v; want none (web-1/old is dead)", got, err)
	}
	if err := s2.Announce(ctx, store.ServerInfo{ID: "web-1", Incarnation: "web-1/new"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Servers(ctx); err != nil || len(got) != 1 || got[0].Incarnation != "web-1/new" {
		t.Fatalf("Servers after the new life announced: %+v, %v", got, err)
	}
}

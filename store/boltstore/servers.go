package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bgtask/bgtask/store"
	bolt "go.etcd.io/bbolt"
)

// announcement is a stored ServerInfo with its expiry.
type announcement struct {
	Info      store.ServerInfo `json:"info"`
	ExpiresAt time.Time        `json:"expires_at"`
}

// Announce records info as a live server until ttl from now.
func (s *Store) Announce(ctx context.Context, info store.ServerInfo, ttl time.Duration) error {
	switch {
	case info.ID == "" || info.Incarnation == "":
		return errors.New("boltstore: announce: ID and Incarnation are required")
	case len(info.ID) > maxKeyLen:
		return fmt.Errorf("boltstore: announce: ID longer than %d bytes", maxKeyLen)
	case ttl <= 0:
		return errors.New("boltstore: announce: ttl must be positive")
	}
	s.noteLive(info.Incarnation)
	return s.exec(ctx, func(w *wtx) error {
		info.SeenAt = w.now
		info.Running = nil
		v, err := json.Marshal(announcement{Info: info, ExpiresAt: w.now.Add(ttl)})
		if err != nil {
			return err
		}
		w.dirty = true
		if err := w.tx.Bucket(bucketServers).Put([]byte(info.ID), v); err != nil {
			w.fail(err)
		}
		return nil
	})
}

// Withdraw removes the announcement of id if incarnation made it.
func (s *Store) Withdraw(ctx context.Context, id, incarnation string) error {
	return s.exec(ctx, func(w *wtx) error {
		b := w.tx.Bucket(bucketServers)
		a, ok := decodeAnnouncement(b.Get([]byte(id)))
		if !ok || a.Info.Incarnation != incarnation {
			return nil
		}
		w.dirty = true
		if err := b.Delete([]byte(id)); err != nil {
			w.fail(err)
		}
		return nil
	})
}

// Servers lists the unexpired announcements by ID, each with the records
// its server holds leases on. Expired announcements are left for the next
// Announce or Withdraw of that ID to replace; they cost one key each. An
// announcement by an incarnation that has not used the store since it
// was opened is left out too: the store is opened by one process at a
// time (its file is locked), so that server is dead (killed before it
// could withdraw), though its announcement has not expired yet.
func (s *Store) Servers(ctx context.Context) ([]store.ServerInfo, error) {
	now := s.clock.Now()
	var out []store.ServerInfo
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		running := map[string][]string{}
		seen := map[string]bool{}
		c := tx.Bucket(bucketOwned).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if e, ok := parseOwned(k, v); ok && !seen[e.id] {
				seen[e.id] = true
				running[e.owner] = append(running[e.owner], e.id)
			}
		}
		return tx.Bucket(bucketServers).ForEach(func(k, v []byte) error {
			a, ok := decodeAnnouncement(v)
			if !ok || !now.Before(a.ExpiresAt) || !s.isLive(a.Info.Incarnation) {
				return nil
			}
			a.Info.Running = running[a.Info.ID]
			slices.Sort(a.Info.Running)
			out = append(out, a.Info)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeAnnouncement(v []byte) (announcement, bool) {
	var a announcement
	if v == nil || json.Unmarshal(v, &a) != nil {
		return a, false
	}
	return a, true
}

package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// Announce or Withdraw of that ID to replace; they cost one key each.
func (s *Store) Servers(ctx context.Context) ([]store.ServerInfo, error) {
	now := s.clock.Now()
	var out []store.ServerInfo
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		owners := tx.Bucket(bucketOwner).Cursor()
		return tx.Bucket(bucketServers).ForEach(func(k, v []byte) error {
			a, ok := decodeAnnouncement(v)
			if !ok || !now.Before(a.ExpiresAt) {
				return nil
			}
			prefix := appendStr(nil, a.Info.ID)
			for ok, _ := owners.Seek(prefix); ok != nil && bytes.HasPrefix(ok, prefix); ok, _ = owners.Next() {
				a.Info.Running = append(a.Info.Running, string(ok[len(prefix):]))
			}
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

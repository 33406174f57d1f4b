package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bgtask/bgtask/store"
)

// Announce records info as a live server for ttl by the store's clock.
func (s *Store) Announce(ctx context.Context, info store.ServerInfo, ttl time.Duration) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if info.ID == "" || info.Incarnation == "" {
		return fmt.Errorf("redisstore: announce: ID and Incarnation are required")
	}
	info.Running, info.SeenAt = nil, time.Time{}
	b, err := jsonServer(info)
	if err != nil {
		return err
	}
	_, err = s.run(ctx, "announce", info.ID, strconv.FormatInt(ttl.Microseconds(), 10), b)
	return err
}

// Withdraw removes the announcement of id if incarnation made it.
func (s *Store) Withdraw(ctx context.Context, id, incarnation string) error {
	_, err := s.run(ctx, "withdraw", id, incarnation)
	return err
}

// Servers lists the live servers by ID, each with the records it holds.
func (s *Store) Servers(ctx context.Context) ([]store.ServerInfo, error) {
	res, err := s.run(ctx, "servers")
	if err != nil {
		return nil, err
	}
	var out []store.ServerInfo
	for _, v := range list(res) {
		e := list(v)
		info, err := serverOf(str(e[1]))
		if err != nil {
			return nil, err
		}
		for _, id := range list(e[2]) {
			info.Running = append(info.Running, str(id))
		}
		out = append(out, info)
	}
	sortServers(out)
	return out, nil
}

func jsonServer(info store.ServerInfo) (string, error) {
	b, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("redisstore: announce: %w", err)
	}
	return string(b), nil
}

// serverOf decodes an announcement as the script stores it: the store's
// time in microseconds, a space, the ServerInfo JSON.
func serverOf(v string) (store.ServerInfo, error) {
	var info store.ServerInfo
	seen, js, _ := strings.Cut(v, " ")
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		return info, fmt.Errorf("redisstore: bad server announcement: %w", err)
	}
	info.SeenAt = micros(seen)
	return info, nil
}

func sortServers(ss []store.ServerInfo) {
	slices.SortFunc(ss, func(a, b store.ServerInfo) int { return strings.Compare(a.ID, b.ID) })
	for i := range ss {
		slices.Sort(ss[i].Running)
	}
}

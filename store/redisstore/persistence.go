package redisstore

import (
	"context"
	"strings"
)

// Persistence reports how the Redis under a Store keeps data on disk.
type Persistence struct {
	// AOF is true when the append-only file is on (appendonly yes).
	AOF bool
	// SavePoints is Redis' "save" setting ("" when RDB snapshots are off,
	// "?" when CONFIG GET is not allowed).
	SavePoints string
}

// Durable reports whether Redis keeps anything on disk: a restart of a
// Redis that is not durable starts empty.
func (p Persistence) Durable() bool { return p.AOF || p.SavePoints != "" }

// Persistence asks Redis how it persists data (INFO persistence and
// CONFIG GET save).
func (s *Store) Persistence(ctx context.Context) (Persistence, error) {
	var p Persistence
	info, err := s.rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return p, s.wrap(ctx, err)
	}
	p.AOF = strings.Contains(info, "aof_enabled:1")
	p.SavePoints = "?"
	if cfg, err := s.rdb.ConfigGet(ctx, "save").Result(); err == nil {
		p.SavePoints = strings.TrimSpace(cfg["save"])
	}
	return p, nil
}

// checkPersistence warns when Redis keeps nothing on disk: a restart of
// it loses every task, lease and event (docs/redis.md).
func (s *Store) checkPersistence(ctx context.Context) {
	p, err := s.Persistence(ctx)
	switch {
	case err != nil:
		s.cfg.Logger.WarnContext(ctx, "redisstore: cannot read Redis persistence settings", "err", err)
	case !p.Durable():
		s.cfg.Logger.WarnContext(ctx, "redisstore: Redis persistence is off (no AOF, no RDB save points): a Redis restart loses every task and event; turn on appendonly",
			"appendonly", "no", "save", p.SavePoints)
	case !p.AOF:
		s.cfg.Logger.WarnContext(ctx, "redisstore: Redis AOF is off: a Redis crash loses what changed since the last RDB snapshot; turn on appendonly",
			"save", p.SavePoints)
	}
}

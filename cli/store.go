package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/redisstore"
)

// EnvStore names the environment variable that gives the default of
// `serve --store`.
const EnvStore = "BGTASK_STORE"

// OpenStore opens the store that storeURL names: "" for the embedded
// store (boltstore) in dataDir, redis://[user:password@]host:port/db or
// rediss://… for a Redis shared by several servers (redisstore). It
// returns the store and a description for logs (without the password).
// A user's own main serving a manager calls it as `bgtask serve` does.
func OpenStore(ctx context.Context, storeURL, dataDir string, logger *slog.Logger) (store.Store, string, error) {
	if storeURL == "" {
		s, err := boltstore.New(dataDir, &boltstore.Config{Logger: logger})
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the store in %s: %w", dataDir, err)
		}
		return s, dataDir, nil
	}
	u, err := url.Parse(storeURL)
	if err != nil {
		return nil, "", fmt.Errorf("store URL: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		s, err := redisstore.New(ctx, storeURL, &redisstore.Config{Logger: logger})
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the store at %s: %w", u.Redacted(), err)
		}
		return s, u.Redacted(), nil
	}
	return nil, "", fmt.Errorf("store URL %q: want redis://HOST:PORT/DB, rediss://… or none for the embedded store", u.Redacted())
}

// storeFlagHelp is the help of --store.
var storeFlagHelp = strings.Join([]string{
	"store URL: redis://[user:pass@]HOST:PORT/DB or rediss://… to share work with other servers on one Redis;",
	"empty for the embedded store in --data-dir (default $" + EnvStore + ")",
}, " ")

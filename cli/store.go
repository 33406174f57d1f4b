package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/redisstore"
)

// EnvStore names the environment variable that gives the default of
// `serve --store`.
const EnvStore = "BGTASK_STORE"

// OpenStore opens the store that storeURL names: "" for the embedded
// store (boltstore) in dataDir, redis://[user:password@]host:port/db or
// rediss://… for a Redis shared by several servers (redisstore; its
// query options are checked, see docs/redis.md). dataDir is not used with
// a Redis URL: a non-empty one is logged as ignored (a warning), for serve
// passes it only when --data-dir is given. It returns the store and a
// description for logs (without the password).
// A user's own main serving a manager calls it as `bgtask serve` does.
func OpenStore(ctx context.Context, storeURL, dataDir string, logger *slog.Logger) (store.Store, string, error) {
	if storeURL == "" {
		s, err := boltstore.New(dataDir, &boltstore.Config{Logger: logger})
		var de *boltstore.DamageError
		if errors.As(err, &de) {
			return nil, "", notUsage{fmt.Errorf("cannot open the store in %s: %w; refused and left as it is: see `bgtask store check %s` and docs/store.md (restore a copy)", dataDir, err, de.File)}
		}
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the store in %s: %w", dataDir, err)
		}
		return s, dataDir, nil
	}
	// The scheme is read without url.Parse: its errors quote the whole
	// URL, password included; redisstore.New reports a malformed URL
	// without it.
	scheme, _, _ := strings.Cut(storeURL, ":")
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		where := redisstore.RedactURL(storeURL)
		if dataDir != "" && logger != nil {
			logger.Warn("--data-dir is ignored: the store is Redis (--store or $"+EnvStore+"), not the embedded store; leave out --data-dir (or --store, for the embedded store)", "data_dir", dataDir, "store", where)
		}
		s, err := redisstore.New(ctx, storeURL, &redisstore.Config{Logger: logger})
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the store at %s: %w", where, err)
		}
		return s, where, nil
	}
	return nil, "", fmt.Errorf("store URL %q: want redis://HOST:PORT/DB, rediss://… or none for the embedded store", redisstore.RedactURL(storeURL))
}

// storeFlagHelp is the help of --store.
var storeFlagHelp = strings.Join([]string{
	"store URL: redis://[user:pass@]HOST:PORT/DB or rediss://… to share work with other servers on one Redis;",
	"empty for the embedded store in --data-dir (default $" + EnvStore + ")",
}, " ")

func newStoreCmd(inv *invocation) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Inspect the embedded store's file",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check PATH",
		Short: "Check an embedded store file from end to end, without writing to it",
		Long: `store check reads the whole embedded store file at PATH (a bgtask.db file,
or a data directory holding one) without writing to it and prints what it
found: bbolt's structure (meta pages, file size, every page of the B+tree,
free pages), the store's format, every record, event log entry and server
announcement decoding, the indexes against the records, the counts.

Exit status: 0 when the file is sound, 1 when it is damaged (the problems are
listed) or could not be checked. A server that has the file open holds its
lock: check a copy (docs/store.md says how to take one while serving).`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rep, err := boltstore.Check(args[0], 0)
			if err != nil {
				return notUsage{err}
			}
			fmt.Fprint(inv.stdout, rep.String())
			if !rep.OK() {
				return exitStatus(bgtask.ExitFailure)
			}
			return nil
		},
	})
	return cmd
}

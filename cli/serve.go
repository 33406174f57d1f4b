package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/idle"
	"github.com/bgtask/bgtask/internal/dashboard"
	"github.com/bgtask/bgtask/internal/demo"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/taskmode"
	"github.com/bgtask/bgtask/metrics"
	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
)

// Defaults of the serve flags.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultShutdownTimeout = 30 * time.Second
)

type serveFlags struct {
	listen          string
	dataDir         string
	store           string
	token           string
	tokenFile       string
	tokenFrom       string // where the token came from, for messages
	tokenGiven      bool   // --token was set, even to ""
	maxConns        int
	demo            bool
	maxWorkers      int
	retention       time.Duration
	shutdownTimeout time.Duration
	serverID        string
	heartbeat       time.Duration
	staleAfter      time.Duration
	tags            []string
	logLevel        string
}

func newServeCmd(inv *invocation) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the task manager: HTTP API, live events, metrics and dashboard",
		Long: `serve runs the task manager on the embedded store in --data-dir, or on a
Redis shared with other servers (--store redis://HOST:PORT/DB): it accepts
tasks over the HTTP API, runs them, reports progress and events, and takes
over tasks left ONGOING by a crash (on Redis: by any server that can run
them, once their lease is stale). SIGINT, SIGTERM or SIGHUP stop it gracefully:
running tasks get --shutdown-timeout to finish while the server still answers
(reads, cancels; submissions and /healthz are 503), then retriable ones are
handed back and the others end CANCELLED; the process exits at the latest
10 s after --shutdown-timeout. A second such signal exits at once (the
running tasks are then recovered as after a crash). SIGUSR1 writes a consistent copy of the
embedded store next to its file (bgtask.db.backup) while serving.

Without a token the server answers only requests whose Host is a loopback
name (localhost, 127.0.0.1, [::1]). Binding to a non-loopback address
requires a token of at least 16 characters: prefer --token-file or
BGTASK_TOKEN to --token, which every user of the machine sees in ps.
Writes need Content-Type: application/json and are refused from pages of
other origins. See docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, from, err := inv.resolveToken(&f, cmd.Flags().Changed("token"))
			if err != nil {
				return err
			}
			f.token, f.tokenFrom, f.tokenGiven = tok, from, cmd.Flags().Changed("token")
			if !cmd.Flags().Changed("store") {
				f.store = inv.getenv(EnvStore)
			}
			if err := checkServeFlags(&f, cmd.Flags().Changed); err != nil {
				return err
			}
			return inv.serve(cmd.Context(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", DefaultListen, "address to serve the API and dashboard on")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory of the embedded store (default <state dir>/data, state dir = $XDG_STATE_HOME/bgtask or ~/.local/state/bgtask)")
	fl.StringVar(&f.store, "store", "", storeFlagHelp)
	fl.StringVar(&f.token, "token", "", "bearer token required on every endpoint but /healthz (default $BGTASK_TOKEN; visible in ps: prefer --token-file)")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the bearer token from this file (surrounding white space removed)")
	fl.IntVar(&f.maxConns, "max-connections", httpapi.DefaultMaxConnections, "connections served at once, at least 1; more wait to be accepted")
	fl.BoolVar(&f.demo, "demo", false, "also register the demo tasks (demo.decode, demo.idle-decode, demo.parallel, demo.fail, demo.slow)")
	fl.IntVar(&f.maxWorkers, "max-workers", bgtask.DefaultMaxWorkers, fmt.Sprintf("tasks run at once, 1 to %d; more wait ONGOING", bgtask.MaxMaxWorkers))
	durationVar(fl, &f.retention, "retention", bgtask.DefaultRetention, "how long finished tasks are kept; more than 0")
	durationVar(fl, &f.shutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "how long running tasks may take to finish at shutdown (0: stop them at once)")
	fl.StringVar(&f.serverID, "server-id", "", "this server's ID in task records (default <hostname>-<random>)")
	fl.StringSliceVar(&f.tags, "tags", nil, "this server's tags, comma-separated; each non-empty, without white space")
	durationVar(fl, &f.heartbeat, "heartbeat-interval", bgtask.DefaultHeartbeatInterval, "how often running tasks' leases are renewed and orphans looked for; at least 10ms, at most a third of --stale-after")
	durationVar(fl, &f.staleAfter, "stale-after", bgtask.DefaultStaleAfter, "lease age after which another server takes a task over; at least 3 times --heartbeat-interval")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// serve runs until ctx ends or a signal arrives.
func (inv *invocation) serve(ctx context.Context, f *serveFlags) error {
	logger, err := inv.logger(f.logLevel)
	if err != nil {
		return err
	}
	if err := checkListen(f); err != nil {
		return err
	}
	// Signals are caught from the start: one that arrives while the store
	// opens or the manager starts (recovered tasks may run already) stops
	// the server gracefully once it serves, instead of killing it as a
	// crash would.
	sig := make(chan os.Signal, 2)
	if inv.own {
		signal.Notify(sig, serveSignals...)
		defer signal.Stop(sig)
	}
	warnTokenFile(logger, f.tokenFile)
	logger.Debug("opening the store")
	dir := f.dataDir
	if f.store == "" {
		if dir, err = inv.dataDir(f.dataDir); err != nil {
			return err
		}
	}
	st, where, err := OpenStore(ctx, f.store, dir, logger)
	if err != nil {
		return err
	}
	forced := false // a second signal: exit without waiting for anything
	defer func() {
		if !forced {
			st.Close()
		}
	}()

	reg := inv.registry
	if f.demo {
		reg = bgtask.Chain(inv.app, demo.Registry(), inv.builtin, inv.test)
	}
	hook, err := metrics.New(nil)
	if err != nil {
		return err
	}
	inflight := idle.NewInFlight(nil)
	m, err := bgtask.NewManager(&bgtask.Config{
		Registry:   reg,
		Store:      st,
		ServerID:   f.serverID,
		Tags:       f.tags,
		MaxWorkers: f.maxWorkers,
		Retention:  f.retention,
		// Checked by checkServeFlags.
		HeartbeatInterval: f.heartbeat,
		StaleAfter:        f.staleAfter,
		Hooks:             []bgtask.Hook{hook},
		Idle:              bgtask.IdleConfig{Sources: []idle.LoadSource{inflight}},
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Config{
		Manager:   m,
		Token:     f.token,
		Metrics:   metrics.Handler(hook, metrics.Process{}),
		Dashboard: dashboard.Handler(),
		Logger:    logger,
	})
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", f.listen, err)
	}
	ln = httpapi.LimitListener(ln, f.maxConns)
	srv := api.HTTPServer(inflight.Middleware(api), slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	// The check that no live server uses this server ID can wait two
	// heartbeat intervals: a signal meanwhile stops the server before it
	// has started anything.
	if stopped, err := checkServerIDFree(ctx, m, sig, logger); stopped || err != nil {
		ln.Close()
		return err
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	if err := m.Start(runCtx); err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), "store", where, "server_id", m.ServerID(), "demo", f.demo)
	inv.diag("serving on http://%s (data in %s, pid %d)", ln.Addr(), where, os.Getpid())

	var serveErr error
	var first stopSignal
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case s := <-sig:
			if backupSignal != nil && s == backupSignal {
				backupStore(st, logger)
				continue
			}
			first = stopSignal{s, time.Now()}
			logger.Info("stopping: running tasks may finish, new submissions are refused; send the signal again to exit at once",
				"signal", s.String(), "shutdown_timeout", f.shutdownTimeout)
			break wait
		case serveErr = <-served:
			break wait
		}
	}
	forced, err = inv.shutdown(srv, m, f.shutdownTimeout, serveErr, sig, first, logger)
	return err
}

// backupStore writes a consistent copy of the embedded store next to its
// file (FILE.backup) while serving, on SIGUSR1; other stores log that
// they have no such copy.
func backupStore(st store.Store, logger *slog.Logger) {
	bs, ok := st.(*boltstore.Store)
	if !ok {
		logger.Warn("SIGUSR1: only the embedded store writes a backup copy; back Redis up with its own tools")
		return
	}
	file := bs.Path() + ".backup"
	start := time.Now()
	n, err := bs.Backup(context.Background(), file)
	if err != nil {
		logger.Error("backup failed", "err", err)
		return
	}
	logger.Info("backup written", "file", file, "bytes", n, "took", time.Since(start).Round(time.Millisecond))
}

// streamsDrainTimeout bounds how long the event streams may take, once the
// manager stopped, to send their last events and end (a client that reads
// nothing is cut off then).
const streamsDrainTimeout = 5 * time.Second

// stopSignal is the signal that started a graceful stop, and when.
type stopSignal struct {
	sig os.Signal
	at  time.Time
}

// repeatedBy reports whether s is the same stop signal arriving again
// within taskmode.RepeatWindow: one stop request delivered twice, not a
// second request.
func (f stopSignal) repeatedBy(s os.Signal) bool {
	return f.sig != nil && s == f.sig && time.Since(f.at) < taskmode.RepeatWindow
}

// errForcedStop is serve's error when a second signal ended the graceful
// stop.
var errForcedStop = errors.New("stopped by a second signal before the running tasks finished: they are recovered as orphans at the next start (or by another server on the same store)")

// shutdown stops the manager gracefully while the HTTP server goes on
// answering — reads, cancels and event streams work; submissions are 503
// "server stopping" and /healthz is 503 "stopping", so that a load
// balancer sends new work elsewhere — then shuts the HTTP server down:
// the event streams send the manager's last events and end. It returns by
// grace + bgtask.Config.TimeoutGrace + streamsDrainTimeout. A second
// signal on sig returns at once (forced); the first one (first) repeated
// within taskmode.RepeatWindow is not a second signal.
func (inv *invocation) shutdown(srv *http.Server, m *bgtask.Manager, grace time.Duration, serveErr error, sig <-chan os.Signal, first stopSignal, logger *slog.Logger) (forced bool, err error) {
	// Each connection closes after its current request: none lingers
	// past the stop.
	srv.SetKeepAlivesEnabled(false)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer func() {
		// Not on a forced exit: the cancel would end Stop's wait and
		// have it cancel the runs and write their outcomes (CANCELLED
		// "server shutdown") as the process exits. A forced stop writes
		// nothing, as a crash: the records are recovered as orphans.
		if !forced {
			cancel()
		}
	}()
	stopped := make(chan struct{})
	go func() {
		_ = m.Stop(ctx)
		close(stopped)
	}()
	for waiting := true; waiting; {
		select {
		case <-stopped:
			waiting = false
		case s := <-sig:
			if backupSignal != nil && s == backupSignal {
				logger.Info("no backup copy while stopping", "signal", s.String())
				continue
			}
			if first.repeatedBy(s) {
				logger.Debug("the stop signal again at once (sent to the process and to its group, as GNU timeout does): the same stop", "signal", s.String())
				continue
			}
			logger.Warn("second signal: exiting at once; running tasks are recovered as orphans", "signal", s.String())
			return true, errForcedStop
		}
	}
	// The manager has written the last outcomes and read its event log to
	// the end: the streams now send them (a task stream its terminal event
	// and server_close) and end. Let those bytes out before the
	// connections close; Close at once cut streams in their batch window,
	// before their last events.
	sctx, scancel := context.WithTimeout(context.Background(), streamsDrainTimeout)
	defer scancel()
	_ = srv.Shutdown(sctx)
	_ = srv.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return false, fmt.Errorf("http server: %w", serveErr)
	}
	return false, nil
}

// checkServeFlags applies serve's rules to the flags it passes on, so that
// a mistake is a usage error naming the flag (not a Config field): counts
// are at least 1, intervals more than 0 (there is no "0 means the
// default": the default is what a flag left out gets), --heartbeat-interval
// is at least bgtask.MinHeartbeatInterval and --stale-after at least
// bgtask.MinStaleAfterBeats intervals, and tags are non-empty words without
// white space. changed reports whether a flag was given.
func checkServeFlags(f *serveFlags, changed func(string) bool) error {
	if changed("server-id") {
		if err := bgtask.CheckServerID(f.serverID); err != nil {
			return usagef("serve: --server-id: %v", err)
		}
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"max-workers", f.maxWorkers}, {"max-connections", f.maxConns}} {
		if c.v < 1 {
			return usagef("serve: --%s must be at least 1, got %d", c.name, c.v)
		}
	}
	if f.maxWorkers > bgtask.MaxMaxWorkers {
		return usagef("serve: --max-workers must be at most %d, got %d", bgtask.MaxMaxWorkers, f.maxWorkers)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"heartbeat-interval", f.heartbeat}, {"stale-after", f.staleAfter}, {"retention", f.retention}} {
		if d.v <= 0 {
			return usagef("serve: --%s must be more than 0, got %v", d.name, d.v)
		}
	}
	given := func(name string) string {
		if changed(name) {
			return ""
		}
		return ", the default"
	}
	if f.heartbeat < bgtask.MinHeartbeatInterval {
		return usagef("serve: --heartbeat-interval (%v) must be at least %v", f.heartbeat, bgtask.MinHeartbeatInterval)
	}
	if f.staleAfter/bgtask.MinStaleAfterBeats < f.heartbeat { // no overflow, as in bgtask.CheckLeaseTiming
		return usagef("serve: --stale-after (%v%s) must be at least %d times --heartbeat-interval (%v%s): a run whose lease is not renewed for stale-after minus one interval is stopped",
			f.staleAfter, given("stale-after"), bgtask.MinStaleAfterBeats, f.heartbeat, given("heartbeat-interval"))
	}
	for i, tag := range f.tags {
		switch {
		case tag == "":
			return usagef("serve: --tags: tag %d is empty (want comma-separated tags, e.g. --tags gpu,eu)", i+1)
		case strings.IndexFunc(tag, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || bgtask.Invisible(r) }) >= 0:
			return usagef("serve: --tags: tag %q contains white space or an invisible character (want comma-separated tags without spaces, e.g. --tags gpu,eu)", tag)
		}
	}
	return nil
}

// checkListen refuses a non-loopback address without a strong enough
// token, and a token that could never match (see checkToken).
func checkListen(f *serveFlags) error {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT (%v)", f.listen, err)
	}
	loopback := isLoopback(host)
	if err := checkToken(f.token, f.tokenFrom, loopback, f.tokenGiven); err != nil {
		if !loopback {
			return fmt.Errorf("--listen %s is not a loopback address: %w", f.listen, err)
		}
		return err
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dataDir resolves --data-dir, defaulting to <state dir>/data.
func (inv *invocation) dataDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if d := taskmode.StateDir(inv.getenv); d != "" {
		return filepath.Join(d, "data"), nil
	}
	return "", errors.New("no --data-dir given and neither XDG_STATE_HOME nor HOME is set")
}

// logger returns a text logger on stderr at the named level.
func (inv *invocation) logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, usagef("serve: --log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: l})), nil
}

// checkServerIDFree runs m.CheckServerIDFree until it answers or a signal
// arrives on sig (then stopped is true: nothing has started, and serve
// ends cleanly).
func checkServerIDFree(ctx context.Context, m *bgtask.Manager, sig <-chan os.Signal, logger *slog.Logger) (stopped bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.CheckServerIDFree(cctx) }()
	select {
	case err := <-done:
		return false, err
	case s := <-sig:
		cancel()
		<-done
		logger.Info("stopped before serving", "signal", s.String())
		return true, nil
	}
}

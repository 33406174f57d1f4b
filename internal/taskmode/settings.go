package taskmode

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/duration"
)

// Environment variables read by task mode.
const (
	// EnvDefaultTimeout replaces the 10-minute default timeout. A Go
	// duration ("90s", "1h") or a bare number of seconds ("90", "0.5");
	// 0 disables the timeout.
	EnvDefaultTimeout = "BGTASK_DEFAULT_TIMEOUT"
	// EnvTimeoutGrace replaces the 5-second grace period between the
	// cancellation of a timed-out task and exit code 4. Same syntax.
	EnvTimeoutGrace = "BGTASK_TIMEOUT_GRACE"
	// EnvPurgeStale controls the sweep of stale ephemeral workspaces:
	// "always" (any age), "never", or an age in milliseconds.
	EnvPurgeStale = "BGTASK_PURGE_STALE_WORKSPACES"
	// EnvNoRemoveWorkspace, non-empty, keeps the ephemeral workspace.
	EnvNoRemoveWorkspace = "BGTASK_NO_REMOVE_WORKSPACE"
	// EnvIgnoreNoOutput, non-empty, lets no-output tasks write to the
	// console (like --attach-console).
	EnvIgnoreNoOutput = "BGTASK_IGNORE_NO_OUTPUT"
	// EnvLogLevel sets the level of the task's logger and of progress
	// lines: debug, info (default), warn or error.
	EnvLogLevel = "BGTASK_LOG_LEVEL"
)

// Defaults of task mode.
const (
	// DefaultTimeout bounds a run when neither the definition, --timeout
	// nor BGTASK_DEFAULT_TIMEOUT says otherwise.
	DefaultTimeout = 10 * time.Minute
	// DefaultGrace is how long a timed-out or interrupted task may take to
	// return after its context is cancelled.
	DefaultGrace = 5 * time.Second
	// DefaultStaleAge is the age from which a leftover ephemeral workspace
	// counts as stale.
	DefaultStaleAge = 60 * time.Second
	// MaxStaleSweep bounds the stale workspaces one run removes.
	MaxStaleSweep = 5
)

// settings are a run's resolved options.
type settings struct {
	timeout    time.Duration // 0: none
	grace      time.Duration
	minRuntime time.Duration
	silence    bool
	keep       bool // BGTASK_NO_REMOVE_WORKSPACE
	sweep      bool
	staleAge   time.Duration
	logLevel   slog.Level
}

// resolveSettings applies task mode's precedence rules (the definition's
// value, else the flag, else the environment, else the default). Every
// error names the flag or variable at fault.
func resolveSettings(def *bgtask.Definition, req *Request, getenv func(string) string) (*settings, error) {
	s := &settings{
		timeout:  DefaultTimeout,
		grace:    DefaultGrace,
		keep:     getenv(EnvNoRemoveWorkspace) != "",
		sweep:    true,
		staleAge: DefaultStaleAge,
		silence:  def.NoOutput && !req.AttachConsole && getenv(EnvIgnoreNoOutput) == "",
	}
	var err error
	switch {
	case def.Timeout > 0:
		s.timeout = def.Timeout
	case req.Timeout != nil:
		s.timeout = *req.Timeout
	default:
		if s.timeout, err = envDuration(getenv, EnvDefaultTimeout, DefaultTimeout); err != nil {
			return nil, err
		}
	}
	if s.grace, err = envDuration(getenv, EnvTimeoutGrace, DefaultGrace); err != nil {
		return nil, err
	}
	switch {
	case def.MinRuntime > 0:
		s.minRuntime = def.MinRuntime
	case req.MinRuntime != nil:
		s.minRuntime = *req.MinRuntime
	}
	if err := s.parsePurge(getenv(EnvPurgeStale)); err != nil {
		return nil, err
	}
	if s.logLevel, err = parseLevel(getenv(EnvLogLevel)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) parsePurge(v string) error {
	switch v {
	case "":
	case "always":
		s.staleAge = 0
	case "never":
		s.sweep = false
	default:
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%s=%q: want always, never or an age in milliseconds", EnvPurgeStale, v)
		}
		s.staleAge = time.Duration(ms) * time.Millisecond
	}
	return nil
}

func parseLevel(v string) (slog.Level, error) {
	var l slog.Level
	if v == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("%s=%q: want debug, info, warn or error", EnvLogLevel, v)
	}
	return l, nil
}

// envDuration reads a duration variable; unset or empty means def.
func envDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := ParseDuration(v)
	if err != nil {
		// NAME="value": why, as the other variables say it.
		return 0, fmt.Errorf("%s=%w", name, err) // err starts with the quoted v
	}
	return d, nil
}

// ParseDuration parses a non-negative duration: a Go duration ("90s",
// "1m30s", "250ms") or a bare number of seconds ("90", "1.5"), without
// sign or surrounding space. It is duration.Parse, bgtask's one duration
// syntax; its errors wrap duration.ErrSyntax, ErrNegative or ErrTooLarge
// and quote v.
func ParseDuration(v string) (time.Duration, error) {
	return duration.Parse(v)
}

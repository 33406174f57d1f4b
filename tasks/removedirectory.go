package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/clock"
	"github.com/bgtask/bgtask/internal/flock"
)

// RemoveDirectoryName is the name of the removeDirectory task.
const RemoveDirectoryName = "removeDirectory"

// Defaults and limits of removeDirectory.
const (
	// DefaultRemoveWait is the wait used when SECONDS does not parse.
	DefaultRemoveWait = 10 * time.Second
	// RemovePollInterval is how often removeDirectory looks for CHILD.
	RemovePollInterval = time.Second
	// LockPrefix starts the name of the lock files removeDirectory keeps in
	// PARENT while it works on a directory: PARENT/.bgtask-lock.NAME. They
	// are regular files (never swept as directories) and are unlinked when
	// the lock is released.
	LockPrefix = ".bgtask-lock."
)

// RemoveDirectory returns the definition of the built-in no-output task
//
//	removeDirectory [--test-sleep MS] PARENT CHILD SECONDS [SUFFIX]
//
// It takes a lock named after CHILD inside PARENT (another holder: exit 0
// at once), sleeps --test-sleep milliseconds if given, then looks for
// PARENT/CHILD every second for up to SECONDS (unparsable: 10). If it never
// appears: exit 0. If it is not a directory (a symlink is not): exit 3 and
// nothing is removed. Otherwise it is removed recursively (failure: exit
// 3). Then every directory in PARENT whose name ends with SUFFIX (SUFFIX
// "*": every directory) is removed under its own lock, retrying once;
// failures are logged, not fatal.
//
// CHILD and SUFFIX must be plain names (no "/", not "." or ".."); an empty
// CHILD skips the first part, an empty SUFFIX the second. Fewer than 3 or
// more than 4 positional arguments: exit 3. A missing PARENT: exit 0. All
// access goes through an os.Root on PARENT, so no symlink leads outside
// PARENT, symlinks are removed rather than followed, and PARENT itself is
// never removed.
//
// The definition is TaskModeOnly: managers refuse it unless the
// application registers a copy with the field cleared.
func RemoveDirectory() bgtask.Definition {
	return bgtask.Definition{
		Name:        RemoveDirectoryName,
		Description: "remove PARENT/CHILD once it appears, then directories in PARENT ending in SUFFIX",
		Run:         removeDirectory,
		CheckArgs: func(args []string) error {
			_, err := parseRemoveArgs(args)
			return err
		},
		NoOutput: true,
		// Deletes files named by its arguments: never on a client's word
		// unless the application opts in (see package doc).
		TaskModeOnly: true,
	}
}

// removeArgs are the parsed arguments of removeDirectory.
type removeArgs struct {
	parent    string
	child     string
	wait      time.Duration
	suffix    string
	testSleep time.Duration
}

// errUsage marks arguments that removeDirectory refuses.
var errUsage = errors.New("removeDirectory: usage: removeDirectory [--test-sleep MS] PARENT CHILD SECONDS [SUFFIX]")

func parseRemoveArgs(args []string) (*removeArgs, error) {
	a := &removeArgs{}
	args, err := a.parseFlags(args)
	if err != nil {
		return nil, err
	}
	if len(args) < 3 || len(args) > 4 {
		return nil, fmt.Errorf("%w: got %d positional arguments", errUsage, len(args))
	}
	a.parent, a.child = args[0], args[1]
	a.wait = parseSeconds(args[2])
	if len(args) == 4 {
		a.suffix = args[3]
	}
	if a.parent == "" {
		return nil, fmt.Errorf("%w: empty PARENT", errUsage)
	}
	if a.child != "" && !plainName(a.child) {
		return nil, fmt.Errorf("%w: CHILD %q is not a plain name", errUsage, a.child)
	}
	if a.suffix != "" && a.suffix != "*" && !plainName(a.suffix) {
		return nil, fmt.Errorf("%w: SUFFIX %q is not a plain name", errUsage, a.suffix)
	}
	return a, nil
}

// parseFlags consumes --test-sleep MS (or --test-sleep=MS) and "--"
// before the positional arguments.
func (a *removeArgs) parseFlags(args []string) ([]string, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		flag := args[0]
		args = args[1:]
		var ms string
		switch {
		case flag == "--":
			return args, nil
		case flag == "--test-sleep" && len(args) > 0:
			ms, args = args[0], args[1:]
		case strings.HasPrefix(flag, "--test-sleep="):
			ms = strings.TrimPrefix(flag, "--test-sleep=")
		default:
			return nil, fmt.Errorf("%w: bad flag %q", errUsage, flag)
		}
		n, err := strconv.ParseUint(ms, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%w: --test-sleep %q is not a number of milliseconds", errUsage, ms)
		}
		a.testSleep = time.Duration(n) * time.Millisecond
	}
	return args, nil
}

// parseSeconds parses SECONDS: an integer, negative meaning 0; anything
// else means DefaultRemoveWait.
func parseSeconds(s string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err != nil:
		return DefaultRemoveWait
	case n < 0:
		return 0
	case n > math.MaxInt32:
		n = math.MaxInt32
	}
	return time.Duration(n) * time.Second
}

// plainName reports whether s names an entry directly inside a directory.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// lockName is the lock file guarding the directory name inside PARENT.
// Names too long to prefix are hashed.
func lockName(name string) string {
	if len(LockPrefix)+len(name) > 255 {
		sum := sha256.Sum256([]byte(name))
		name = "#" + hex.EncodeToString(sum[:])
	}
	return LockPrefix + name
}

func removeDirectory(ctx context.Context, t *bgtask.Task) error {
	a, err := parseRemoveArgs(t.Args())
	if err != nil {
		return err
	}
	log := t.Logger()
	root, err := os.OpenRoot(a.parent)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("parent does not exist; nothing to remove", "parent", a.parent)
		return nil
	}
	if err != nil {
		return fmt.Errorf("removeDirectory: %w", err)
	}
	defer root.Close()
	rd := &remover{root: root, log: log}
	childErr := rd.removeChild(ctx, a)
	switch {
	case errors.Is(childErr, errHeld):
		return nil
	case errors.Is(childErr, errNotDir), ctx.Err() != nil:
		return childErr
	}
	if a.suffix != "" {
		rd.sweep(a.suffix)
	}
	return childErr
}

var (
	// errHeld: another run holds CHILD's lock and does the work.
	errHeld = errors.New("removeDirectory: another run holds the lock")
	// errNotDir: CHILD exists but is not a directory.
	errNotDir = errors.New("removeDirectory: not a directory")
)

// remover works inside one PARENT.
type remover struct {
	root *os.Root
	log  *slog.Logger
}

// removeChild locks CHILD, waits for it to appear and removes it.
func (rd *remover) removeChild(ctx context.Context, a *removeArgs) error {
	if a.child == "" {
		return clock.Sleep(ctx, clock.Real, a.testSleep)
	}
	lock, err := flock.TryFile(rd.root, lockName(a.child))
	if errors.Is(err, flock.ErrLocked) {
		rd.log.Info("another run is removing this directory", "child", a.child)
		return errHeld
	}
	if err != nil {
		return fmt.Errorf("removeDirectory: lock %q: %w", a.child, err)
	}
	defer lock.Release()
	rd.log.Debug("holding the lock", "child", a.child)
	if err := clock.Sleep(ctx, clock.Real, a.testSleep); err != nil {
		return err
	}
	rd.log.Debug("looking for the directory", "child", a.child, "wait", a.wait)
	info, err := rd.waitFor(ctx, a.child, a.wait)
	switch {
	case err != nil:
		return fmt.Errorf("removeDirectory: %w", err)
	case info == nil:
		rd.log.Info("directory never appeared", "child", a.child, "waited", a.wait)
		return nil
	case !info.IsDir():
		return fmt.Errorf("%w: %q is %s", errNotDir, a.child, fileKind(info.Mode()))
	}
	if err := rd.removeTwice(a.child); err != nil {
		return fmt.Errorf("removeDirectory: remove %q: %w", a.child, err)
	}
	return nil
}

// waitFor looks for name now and then every RemovePollInterval until wait
// has passed. It returns nil info if name never appeared.
func (rd *remover) waitFor(ctx context.Context, name string, wait time.Duration) (fs.FileInfo, error) {
	deadline := time.Now().Add(wait)
	for {
		info, err := rd.root.Lstat(name)
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if err := clock.Sleep(ctx, clock.Real, min(RemovePollInterval, left)); err != nil {
			return nil, err
		}
	}
}

// sweep removes every directory whose name ends with suffix ("*": every
// directory), each under its own lock. A directory another run holds is
// left to that run; failures are logged.
func (rd *remover) sweep(suffix string) {
	dir, err := rd.root.Open(".")
	if err != nil {
		rd.log.Warn("cannot list parent", "err", err)
		return
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		rd.log.Warn("cannot list parent", "err", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || (suffix != "*" && !strings.HasSuffix(name, suffix)) {
			continue // symlinks are never directories here
		}
		if err := rd.removeLocked(name); err != nil {
			rd.log.Warn("could not remove directory", "dir", name, "err", err)
		}
	}
}

// removeLocked removes the directory name under its lock.
func (rd *remover) removeLocked(name string) error {
	lock, err := flock.TryFile(rd.root, lockName(name))
	if errors.Is(err, flock.ErrLocked) {
		return nil // another run is on it
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	info, err := rd.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // removed meanwhile
	case err != nil:
		return err
	case !info.IsDir():
		return nil // replaced by something else: not ours to remove
	}
	return rd.removeTwice(name)
}

// removeTwice removes name recursively, retrying once.
func (rd *remover) removeTwice(name string) error {
	err := rd.root.RemoveAll(name)
	if err != nil {
		rd.log.Info("removal failed, retrying once", "dir", name, "err", err)
		err = rd.root.RemoveAll(name)
	}
	return err
}

// fileKind names what a file of mode m is, for messages.
func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	case t == 0:
		return "a regular file"
	}
	return "not a directory (" + m.Type().String() + ")"
}

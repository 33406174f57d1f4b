package taskmode

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/flock"
)

// workspace is the directory of one run. Ephemeral workspaces are locked
// (flock on the directory) for the whole run so that the stale sweep of a
// concurrent run never removes a live one; persistent workspaces are
// locked so that two runs of one persistent task exclude each other.
type workspace struct {
	dir    string
	lock   *flock.Lock
	remove bool
	keep   bool // BGTASK_NO_REMOVE_WORKSPACE: report instead of removing
	stderr func(format string, a ...any)
}

// openWorkspace picks and prepares the workspace: --workspace DIR, else
// the persistent one of a persistent definition, else a fresh ephemeral
// one (after sweeping stale leftovers).
func (r *runner) openWorkspace(def *bgtask.Definition, req *Request, s *settings) (*workspace, error) {
	ws := &workspace{keep: s.keep, stderr: r.diag}
	var err error
	switch {
	case req.Workspace != "":
		r.awaitSignalHandlers()
		err = ws.openFixed(req.Workspace, def)
	case def.Workspace == bgtask.WorkspacePersistent:
		r.awaitSignalHandlers()
		err = ws.openPersistent(r.stateDir(), def)
	default:
		prefix := "bgtask-" + r.installHash() + "-"
		if s.sweep {
			sweepStale(r.tempDir(), prefix, s.staleAge)
		}
		r.awaitSignalHandlers()
		err = ws.openEphemeral(r.tempDir(), prefix, def)
	}
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// openFixed uses DIR as given by --workspace, creating it if needed. It is
// never removed; a persistent definition still locks it.
func (ws *workspace) openFixed(dir string, def *bgtask.Definition) error {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--workspace: %w", err)
	}
	ws.dir = dir
	if def.Workspace == bgtask.WorkspacePersistent {
		return ws.lockExclusive(def)
	}
	return nil
}

// openPersistent uses <state-dir>/workspaces/<name>.
func (ws *workspace) openPersistent(stateDir string, def *bgtask.Definition) error {
	if stateDir == "" {
		return errors.New("persistent workspace: neither XDG_STATE_HOME nor HOME is set")
	}
	ws.dir = filepath.Join(stateDir, "workspaces", def.Name)
	if err := os.MkdirAll(ws.dir, 0o700); err != nil {
		return fmt.Errorf("persistent workspace: %w", err)
	}
	return ws.lockExclusive(def)
}

func (ws *workspace) lockExclusive(def *bgtask.Definition) error {
	l, err := flock.TryDir(ws.dir)
	switch {
	case errors.Is(err, flock.ErrLocked):
		return fmt.Errorf("workspace %s is in use by another run of %q", ws.dir, def.Name)
	case err != nil:
		return fmt.Errorf("lock workspace: %w", err)
	}
	ws.lock = l
	return nil
}

// openEphemeral creates and locks a fresh 0700 directory
// <prefix><task>-<random> in tmp, prefix being bgtask-<install-hash>-.
// The caller has swept stale leftovers first.
func (ws *workspace) openEphemeral(tmp, prefix string, def *bgtask.Definition) error {
	dir, err := os.MkdirTemp(tmp, prefix+def.Name+"-")
	if err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	ws.dir, ws.remove = dir, true
	l, err := flock.TryDirNoFollow(dir)
	if err != nil {
		// Only a sweep with BGTASK_PURGE_STALE_WORKSPACES=always can race
		// us here; give up cleanly rather than share the directory.
		os.RemoveAll(dir)
		return fmt.Errorf("lock workspace %s: %w", dir, err)
	}
	ws.lock = l
	return nil
}

// close removes an ephemeral workspace (unless kept) and drops the lock.
// It is called once, when the run ends for whatever reason.
func (ws *workspace) close() error {
	var err error
	switch {
	case ws.remove && ws.keep:
		ws.stderr("keeping workspace %s (%s is set)", ws.dir, EnvNoRemoveWorkspace)
	case ws.remove:
		if rerr := os.RemoveAll(ws.dir); rerr != nil {
			err = fmt.Errorf("remove workspace: %w", rerr)
		}
	}
	return errors.Join(err, ws.lock.Release())
}

// tempDir is $TMPDIR, else /tmp (os.TempDir, through the injected getenv).
func (r *runner) tempDir() string {
	if d := r.getenv("TMPDIR"); d != "" {
		return d
	}
	return "/tmp"
}

func (r *runner) stateDir() string { return StateDir(r.getenv) }

// StateDir is bgtask's state directory: $XDG_STATE_HOME/bgtask, else
// ~/.local/state/bgtask; "" if neither variable is set. A relative
// XDG_STATE_HOME is ignored, as the XDG spec asks. Persistent workspaces
// and the server's default data directory live in it.
func StateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "bgtask")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "bgtask")
	}
	return ""
}

// installHash is a short hash of the executable's path, so that two
// installations never sweep each other's workspaces.
func (r *runner) installHash() string {
	exe := r.cfg.Executable
	if exe == "" {
		exe, _ = os.Executable() // "" on failure: still a stable hash
	}
	return InstallHash(exe)
}

// InstallHash returns the 8-hex-digit hash of an executable path used in
// ephemeral workspace names.
func InstallHash(exe string) string {
	h := fnv.New32a()
	h.Write([]byte(exe))
	return fmt.Sprintf("%08x", h.Sum32())
}

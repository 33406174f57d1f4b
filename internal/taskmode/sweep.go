package taskmode

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bgtask/bgtask/internal/flock"
)

// maxStaleChecks bounds the candidates one sweep looks at, so that a temp
// dir full of live workspaces cannot slow a run down.
const maxStaleChecks = 4 * MaxStaleSweep

type staleDir struct {
	path  string
	mtime time.Time
}

// sweepStale removes, oldest first, at most MaxStaleSweep directories in
// tmp whose name starts with prefix and whose modification time is at
// least age ago. A directory locked by a live run is skipped. Errors are
// ignored: the sweep is housekeeping and must never fail a run.
func sweepStale(tmp, prefix string, age time.Duration) int {
	cands := staleCandidates(tmp, prefix, time.Now().Add(-age))
	removed := 0
	for i, c := range cands {
		if removed == MaxStaleSweep || i == maxStaleChecks {
			break
		}
		if removeUnlocked(c.path) {
			removed++
		}
	}
	return removed
}

// staleCandidates lists the directories to consider, oldest first. It
// reads names only (no per-entry allocation beyond the name, no sort of the
// whole temp dir) and stats just the names with our prefix.
func staleCandidates(tmp, prefix string, cutoff time.Time) []staleDir {
	dir, err := os.Open(tmp)
	if err != nil {
		return nil
	}
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	var cands []staleDir
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		path := filepath.Join(tmp, name)
		info, err := os.Lstat(path)
		if err != nil || !info.IsDir() || info.ModTime().After(cutoff) {
			continue // symlinks are not directories here and are never followed
		}
		cands = append(cands, staleDir{path, info.ModTime()})
	}
	slices.SortFunc(cands, func(a, b staleDir) int { return a.mtime.Compare(b.mtime) })
	return cands
}

// removeUnlocked removes dir if no live run holds its lock, keeping the
// lock while it removes so that no run can start using it meanwhile.
func removeUnlocked(dir string) bool {
	l, err := flock.TryDirNoFollow(dir)
	if err != nil {
		return false
	}
	defer l.Release()
	return os.RemoveAll(dir) == nil
}

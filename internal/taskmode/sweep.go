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

func staleCandidates(tmp, prefix string, cutoff time.Time) []staleDir {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var cands []staleDir
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue // symlinks report !IsDir and are never followed
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		cands = append(cands, staleDir{filepath.Join(tmp, e.Name()), info.ModTime()})
	}
	slices.SortFunc(cands, func(a, b staleDir) int { return a.mtime.Compare(b.mtime) })
	return cands
}

// removeUnlocked removes dir if no live run holds its lock, keeping the
// lock while it removes so that no run can start using it meanwhile.
func removeUnlocked(dir string) bool {
	l, err := flock.TryDir(dir)
	if err != nil {
		return false
	}
	defer l.Release()
	return os.RemoveAll(dir) == nil
}

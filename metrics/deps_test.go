package metrics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCostlyDependencies guards the reason this package exists: every
// process that links a package pays for its init, each `bgtask run`
// included, and client_golang with protobuf and procfs costs about 1 ms
// per process (docs/metrics.md). Neither this package nor the bgtask
// binary may link them; only promcollector does.
func TestNoCostlyDependencies(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	for _, pkg := range []string{"github.com/bgtask/bgtask/metrics", "github.com/bgtask/bgtask/cmd/bgtask"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.Lines(string(out)) {
			dep = strings.TrimSpace(dep)
			for _, banned := range []string{"github.com/prometheus/", "google.golang.org/protobuf/"} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}

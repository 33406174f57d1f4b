// Package testbin builds the bgtask binary once per test package, for the
// process-level tests that exec it (task mode, the server end to end).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Main builds cmd/bgtask with the testtasks tag (and -race when the tests
// run under the race detector) into a temporary directory, stores its path
// in *bin, runs the tests, checks for leaked goroutines when they passed,
// and returns the exit code for os.Exit.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "bgtask-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bgtask")
	args := []string{"build", "-tags", "testtasks", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/bgtask/bgtask/cmd/bgtask")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bgtask:", err)
		return 1
	}
	if *bin, err = filepath.EvalSymlinks(path); err != nil { // as os.Executable sees it
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

package bgtask

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bgtask/bgtask/internal/quote"
)

// RunDetached starts the running executable again as
//
//	<executable> run NAME ARG...
//
// in a new session (setsid; on Windows, a new process group without a
// console), with stdin, stdout and stderr on /dev/null,
// and returns as soon as the child has started. The arguments are passed as
// an argv vector, never through a shell, so spaces and quotes arrive
// intact. The child inherits the environment and the working directory. It
// outlives the caller (it is not in the caller's process group, so a
// terminal's SIGINT or SIGHUP does not reach it); while the caller lives, a
// goroutine waits for the child so that it never lingers as a zombie.
//
// The executable must dispatch `run` to task mode, as every program whose
// main calls cli.Main does. RunDetached does not wait for the task and does
// not report its exit code.
func RunDetached(name string, args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bgtask: run detached: %w", err)
	}
	_, err = startDetached(exe, name, args)
	return err
}

// removeDirectoryTask is the name of the built-in task in package tasks
// (which imports this package, hence the copy).
const removeDirectoryTask = "removeDirectory"

// RemoveDirectoryDetached runs the built-in removeDirectory task detached
// (see RunDetached):
//
//	removeDirectory PARENT CHILD SECONDS [SUFFIX]
//
// wait is rounded up to whole seconds (negative means 0). An empty suffix is
// left out. PARENT is made absolute first, so that the child does not
// depend on the working directory.
func RemoveDirectoryDetached(parent, child string, wait time.Duration, suffix string) error {
	args, err := removeDirectoryArgs(parent, child, wait, suffix)
	if err != nil {
		return err
	}
	return RunDetached(removeDirectoryTask, args...)
}

func removeDirectoryArgs(parent, child string, wait time.Duration, suffix string) ([]string, error) {
	abs, err := filepath.Abs(parent)
	if err != nil {
		return nil, fmt.Errorf("bgtask: remove directory detached: %w", err)
	}
	secs := max(0, (wait+time.Second-1)/time.Second)
	args := []string{abs, child, strconv.FormatInt(int64(secs), 10)}
	if suffix != "" {
		args = append(args, suffix)
	}
	return args, nil
}

// startDetached starts exe as `run name args...` detached and reaps it in a
// goroutine. It returns the started command for tests.
func startDetached(exe, name string, args []string) (*exec.Cmd, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: task name %s", ErrInvalidArgument, quote.Q(name))
	}
	cmd := exec.Command(exe, append([]string{"run", name}, args...)...)
	cmd.SysProcAttr = detachedAttr()
	// Nil Stdin, Stdout and Stderr mean /dev/null.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bgtask: run detached %s: %w", quote.Q(name), err)
	}
	go cmd.Wait()
	return cmd, nil
}

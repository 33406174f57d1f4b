package bgtask

import (
	"errors"
	"fmt"
)

// Exit codes of task mode (`bgtask run`). They are a frozen public contract:
// scripts, cron jobs and systemd units depend on them.
const (
	// ExitSuccess: the run function returned nil or Exit(0).
	ExitSuccess = 0
	// ExitFailure: the runner failed before the task could start (bad flags,
	// workspace locked or not creatable), or the task chose 1.
	ExitFailure = 1
	// ExitNotFound: no definition with that name in any registry.
	ExitNotFound = 2
	// ExitException: the run function returned an error, panicked, or
	// returned an invalid exit code.
	ExitException = 3
	// ExitTimeout: the timeout expired before the task returned.
	ExitTimeout = 4

	// ExitReservedMin and ExitReservedMax bound the codes reserved for
	// future use by bgtask itself (5–10).
	ExitReservedMin = 5
	ExitReservedMax = 10
	// ExitTaskMin and ExitTaskMax bound the task-specific codes a run
	// function should choose with Exit (11–127).
	ExitTaskMin = 11
	ExitTaskMax = 127
)

// ExitError is the error returned by [Exit]: a run function's chosen exit
// code.
type ExitError struct {
	Code int
}

// Error implements error.
func (e *ExitError) Error() string {
	return fmt.Sprintf("bgtask: exit %d", e.Code)
}

// Exit returns an error that ends a run function with the given exit code.
// Valid codes are 0 (success), 1 (failure), 3 (exception), 4 (the task's
// own deadline passed) and 11..127 (the task-specific range). Any other
// code — ExitNotFound (2), the reserved 5..10, negative or above 127 —
// would read as something the runner says, or is none: it counts as an
// exception (exit 3) with "invalid exit code".
func Exit(code int) error {
	return &ExitError{Code: code}
}

// ValidExitCode reports whether a run function may choose code with Exit.
func ValidExitCode(code int) bool {
	switch {
	case code == ExitNotFound, code >= ExitReservedMin && code <= ExitReservedMax:
		return false
	}
	return code >= 0 && code <= ExitTaskMax
}

// ExitCode maps the result of a run function to the exit-code contract:
// nil → 0; Exit(n) with a valid n (ValidExitCode) → n; anything else,
// including an invalid Exit code, → 3 (ExitException). Timeouts are
// decided by the runner, not by the error value, and map to ExitTimeout
// there.
func ExitCode(err error) int {
	if err == nil {
		return ExitSuccess
	}
	var ee *ExitError
	if errors.As(err, &ee) && ValidExitCode(ee.Code) {
		return ee.Code
	}
	return ExitException
}

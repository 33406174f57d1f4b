package taskmode

import (
	"io"
	"os"
)

// silence applies the no-output rule and returns the writer the task's
// logger should use. When the runner owns the process, file descriptors 1
// and 2 are pointed at /dev/null, so that the task, its children and the
// runner's own later diagnostics all go nowhere. Otherwise (in-process
// callers) only the runner's writers are replaced by io.Discard.
func (r *runner) silence() (io.Writer, error) {
	if !r.cfg.OwnProcess {
		r.stderr = io.Discard
		return io.Discard, nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	if err := redirectStdio(null); err != nil {
		return nil, err
	}
	return r.stderr, nil
}

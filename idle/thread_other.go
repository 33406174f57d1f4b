//go:build !linux

package idle

import "errors"

// lowerThreadPriority is only implemented on Linux, where a thread's
// priority can be set apart from its process's.
func lowerThreadPriority() error { return errors.ErrUnsupported }

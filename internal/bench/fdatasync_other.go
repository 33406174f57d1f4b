//go:build !linux

package bench

import "os"

// fdatasync flushes f to the disk (fsync: no fdatasync here).
func fdatasync(f *os.File) error { return f.Sync() }

//go:build windows

package taskmode

import (
	"os"

	"golang.org/x/sys/windows"
)

// redirectStdio makes the process's standard output and error handles
// (inherited by children) and os.Stdout and os.Stderr point at the file
// named like f (the null device), each through a handle of its own that
// stays open for the life of the process.
func redirectStdio(f *os.File) error {
	for _, std := range []struct {
		id   uint32
		file **os.File
	}{{windows.STD_OUTPUT_HANDLE, &os.Stdout}, {windows.STD_ERROR_HANDLE, &os.Stderr}} {
		h, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if err := windows.SetStdHandle(std.id, windows.Handle(h.Fd())); err != nil {
			h.Close()
			return err
		}
		*std.file = h
	}
	return nil
}

//go:build windows

package bgtask

import "syscall"

// Process creation flags (winbase.h), not all in package syscall.
const (
	createNewProcessGroup = 0x00000200
	detachedProcess       = 0x00000008
)

// detachedAttr starts the child in a process group of its own and without
// the caller's console, so that Ctrl-C in the caller's console does not
// reach it.
func detachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: createNewProcessGroup | detachedProcess}
}

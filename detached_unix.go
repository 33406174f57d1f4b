//go:build unix

package bgtask

import "syscall"

// detachedAttr starts the child in a session of its own (setsid), so that
// a terminal's SIGINT or SIGHUP does not reach it.
func detachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

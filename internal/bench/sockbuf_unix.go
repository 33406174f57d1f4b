//go:build unix

package bench

import "syscall"

// Socket buffers sockBuf can set.
const (
	sendBuffer    = syscall.SO_SNDBUF
	receiveBuffer = syscall.SO_RCVBUF
)

// sockBuf returns a net.ListenConfig/Dialer Control function that sets the
// socket buffer opt to sseSocketBuffer bytes.
func sockBuf(opt int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, sseSocketBuffer)
		})
	}
}

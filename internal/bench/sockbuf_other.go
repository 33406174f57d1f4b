//go:build !unix

package bench

import "syscall"

// Socket buffers sockBuf can set.
const (
	sendBuffer    = 0
	receiveBuffer = 1
)

// sockBuf leaves the system's socket buffers on this platform.
func sockBuf(int) func(network, address string, c syscall.RawConn) error {
	return nil
}

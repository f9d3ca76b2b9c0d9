package vcard

import (
	"net"
	"syscall"
)

// quickAck sets TCP_QUICKACK (tcp(7)): acknowledge at once instead of
// delaying. Linux clears the flag on its own, so it is set again before and
// after every read.
func quickAck(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

//go:build !linux

package vcard

import "net"

// quickAck: TCP_QUICKACK exists on Linux only.
func quickAck(*net.TCPConn) {}

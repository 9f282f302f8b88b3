//go:build !linux

package rawconn

import "net"

// wrap leaves c as it is: the raw calls are written for Linux.
func wrap(c net.Conn) net.Conn { return c }

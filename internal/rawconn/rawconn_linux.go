package rawconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

func wrap(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &conn{Conn: c, rc: rc}
}

// conn hides the socket's SyscallConn on purpose: go-redis would check the
// connection's health through it with an ordinary system call, which wakes
// sysmon like any other (Write checks it instead).
type conn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait in the poller
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, errOp(c, "read", err)
	case errno != 0:
		return 0, errOp(c, "read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *conn) Write(b []byte) (int, error) {
	var n int
	var fail error
	err := c.rc.Write(func(fd uintptr) bool {
		if n == 0 && fail == nil {
			if fail = peerGone(fd); fail != nil {
				return true
			}
		}
		for n < len(b) {
			// send, not write: MSG_NOSIGNAL spares a SIGPIPE on a reset
			// connection.
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n),
				syscall.MSG_NOSIGNAL, 0, 0)
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait in the poller for room
			default:
				fail = os.NewSyscallError("write", e)
				return true
			}
		}
		return true
	})
	if err == nil {
		err = fail
	}
	if err != nil {
		return n, errOp(c, "write", err)
	}
	return n, nil
}

// peerGone reports whether the peer has closed (ErrPeerClosed) or reset
// the connection, peeking without taking any byte. Data waiting to be read
// is no reason to refuse the write: the protocol above reads it.
func peerGone(fd uintptr) error {
	var buf [1]byte
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN || e == 0 && r > 0:
			return nil
		case e == 0:
			return ErrPeerClosed
		}
		return os.NewSyscallError("write", e)
	}
}

// Package rawconn gives a socket's reads and writes to the kernel as raw
// system calls, which the Go scheduler does not track.
//
// Why: a worker at the rate limit is idle most of the time and wakes a few
// hundred times a second to send. Each time it wakes, its first ordinary
// system call (a socket write to Redis or Sinch) wakes the runtime's
// monitor thread, sysmon, which then polls every 20 µs for a millisecond
// or more, and with GOMAXPROCS=1 it hands the P to another thread whenever
// it finds a system call in progress across two polls. At 500 sends/s
// that was about 40 % of the worker's CPU (BENCHMARKS.md, figure 3).
// The sockets are non-blocking, so a raw call returns in microseconds:
// when there is nothing to read or no room to write, the goroutine waits
// in the runtime's network poller as net.Conn's own calls do, deadlines
// and Close included.
//
// Wrap keeps net.Conn's contract: the same errors (*net.OpError with the
// same Op and causes, a bare io.EOF at the end of the stream), the same
// locking, deadlines and closing. It checks a connection's health before
// each write, as go-redis does before reusing a pooled connection (which
// it cannot do on a wrapped one): if the peer has closed the connection
// the write fails with ErrPeerClosed, if it reset it with ECONNRESET, and
// no byte is sent.
package rawconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ErrPeerClosed is the cause of a write refused because the peer had
// closed the connection: nothing was written. It wraps io.EOF, so go-redis
// takes it for a dead connection and tries the command on another.
var ErrPeerClosed = fmt.Errorf("rawconn: the peer closed the connection before the write: %w", io.EOF)

// Wrap returns c with raw reads and writes when c is a socket the runtime
// polls (TCP or Unix), and c itself otherwise (a TLS connection, a pipe)
// or on systems other than Linux. Wrap TLS's underlying connection instead.
// It is meant for protocols whose peer closes only to end the connection
// (Redis, HTTP/1.1): a write after the peer's FIN is refused.
func Wrap(c net.Conn) net.Conn { return wrap(c) }

// Install makes c wrap every connection it dials from now on: through Hook,
// or on a Redis Cluster through Hook on each node's client (a cluster
// client dials nothing itself). Call it before c's first command:
// connections and nodes it has already stay as they were.
func Install(c redis.UniversalClient) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(Hook{}) })
		return
	}
	c.AddHook(Hook{})
}

// Hook is a go-redis hook that wraps every connection its client dials.
type Hook struct{}

// DialHook wraps the dialed connection. A TLS connection (rediss://) is
// dialed inside go-redis and stays as it is.
func (Hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Wrap(c), nil
	}
}

// ProcessHook leaves commands as they are.
func (Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook leaves pipelines as they are.
func (Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// AsynqOpt returns opt with Install on every client asynq makes from it
// (its servers, clients and inspectors each make their own). Type switches
// on the result do not see opt's type, so ask opt itself what kind of Redis
// it is.
func AsynqOpt(opt asynq.RedisConnOpt) asynq.RedisConnOpt { return asynqOpt{opt} }

type asynqOpt struct{ asynq.RedisConnOpt }

func (o asynqOpt) MakeRedisClient() any {
	c := o.RedisConnOpt.MakeRedisClient()
	if u, ok := c.(redis.UniversalClient); ok {
		Install(u)
	}
	return c
}

// errOp is the Op of a wrapped connection's error, as net names it.
func errOp(c net.Conn, op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) { // from the raw connection: Op "raw-read", "raw-write"
		e := *oe
		e.Op = op
		return &e
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

package rawconn_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/rawconn"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
)

// pair dials a loopback TCP connection and returns both ends, the
// dialer's wrapped when wrapped is set.
func pair(t *testing.T, wrapped bool) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	if wrapped {
		w := rawconn.Wrap(c)
		if w == c && runtime.GOOS == "linux" {
			t.Fatal("Wrap left a TCP connection as it was")
		}
		c = w
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// both runs f on a plain and on a wrapped connection: the wrapped one must
// behave as net's own.
func both(t *testing.T, f func(t *testing.T, wrapped bool)) {
	for _, wrapped := range []bool{false, true} {
		name := "plain"
		if wrapped {
			name = "wrapped"
		}
		t.Run(name, func(t *testing.T) { f(t, wrapped) })
	}
}

func TestBytesBothWays(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, s := pair(t, wrapped)
		// Larger than the socket buffers, so writes wait for room and
		// reads for data: both go through the poller.
		want := make([]byte, 16<<20)
		rand.Read(want)
		go io.Copy(s, s) // ends when pair's cleanup closes s
		got := make(chan []byte, 1)
		go func() {
			var b bytes.Buffer
			buf := make([]byte, 64<<10)
			for b.Len() < len(want) {
				n, err := c.Read(buf)
				if err != nil {
					t.Errorf("read after %d bytes: %v", b.Len(), err)
					break
				}
				b.Write(buf[:n])
			}
			got <- b.Bytes()
		}()
		n, err := c.Write(want)
		if err != nil || n != len(want) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
		}
		if g := <-got; !bytes.Equal(g, want) {
			t.Fatalf("read back %d bytes, not the %d written", len(g), len(want))
		}
		if n, err := c.Read(nil); n != 0 || err != nil {
			t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestEndOfStreamIsBareEOF(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, s := pair(t, wrapped)
		s.Write([]byte("bye"))
		s.Close()
		b, err := io.ReadAll(c)
		if string(b) != "bye" || err != nil {
			t.Fatalf("ReadAll = %q, %v; want bye, nil", b, err)
		}
		if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read at the end = %d, %v; want 0, io.EOF itself", n, err)
		}
	})
}

func TestReadDeadline(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, _ := pair(t, wrapped)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		_, err := c.Read(make([]byte, 8))
		var ne net.Error
		var oe *net.OpError
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) ||
			!errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read past the deadline: %#v; want a read *net.OpError that times out", err)
		}
		if time.Since(start) < 40*time.Millisecond {
			t.Errorf("Read returned after %v, before its deadline", time.Since(start))
		}
	})
}

func TestWriteDeadline(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, _ := pair(t, wrapped) // the peer never reads
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(make([]byte, 64<<20))
		var oe *net.OpError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("Write past the deadline: %v; want a write *net.OpError that times out", err)
		}
		if n <= 0 || n >= 64<<20 {
			t.Errorf("Write wrote %d bytes; want part of them", n)
		}
	})
}

func TestClosedLocally(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, _ := pair(t, wrapped)
		read := make(chan error, 1)
		go func() { _, err := c.Read(make([]byte, 8)); read <- err }()
		time.Sleep(20 * time.Millisecond) // the read waits in the poller
		c.Close()
		if err := <-read; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read when closed: %v; want net.ErrClosed", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write when closed: %v; want net.ErrClosed", err)
		}
	})
}

// reset closes s with an RST instead of a FIN.
func reset(t *testing.T, s net.Conn) {
	if err := s.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	time.Sleep(20 * time.Millisecond)
}

func TestResetByPeer(t *testing.T) {
	both(t, func(t *testing.T, wrapped bool) {
		c, s := pair(t, wrapped)
		reset(t, s)
		_, err := c.Read(make([]byte, 8))
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read after a reset: %v; want a read *net.OpError with ECONNRESET", err)
		}
	})
}

func TestWriteToAClosedPeerSendsNothing(t *testing.T) {
	c, s := pair(t, true)
	s.Close()
	time.Sleep(20 * time.Millisecond) // the FIN arrives
	n, err := c.Write([]byte("SET k v\r\n"))
	var oe *net.OpError
	if runtime.GOOS == "linux" && (n != 0 || !errors.Is(err, rawconn.ErrPeerClosed) || !errors.Is(err, io.EOF) ||
		!errors.As(err, &oe) || oe.Op != "write") {
		t.Fatalf("Write after the peer closed = %d, %v; want 0 and a write *net.OpError with ErrPeerClosed (io.EOF)", n, err)
	}

	c, s = pair(t, true)
	reset(t, s)
	if n, err := c.Write([]byte("x")); runtime.GOOS == "linux" && (n != 0 || !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("Write after a reset = %d, %v; want 0 and ECONNRESET", n, err)
	}

	// Data waiting is the protocol's to read: the write goes ahead.
	c, s = pair(t, true)
	s.Write([]byte("+PONG\r\n"))
	time.Sleep(20 * time.Millisecond)
	if n, err := c.Write([]byte("PING\r\n")); n != 6 || err != nil {
		t.Fatalf("Write with a reply waiting = %d, %v; want 6, nil", n, err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "PING\r\n" {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

func TestWrapLeavesOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rawconn.Wrap(a) != a {
		t.Error("Wrap changed a net.Pipe, which has no socket")
	}
	c, _ := pair(t, true)
	if _, ok := c.(syscall.Conn); ok {
		t.Error("a wrapped connection offers SyscallConn: go-redis would check it with ordinary system calls")
	}
}

// TestRedisThroughTheHook runs a go-redis client on wrapped connections
// against a real Redis: commands work, and a connection the server closed
// is replaced without the command failing.
func TestRedisThroughTheHook(t *testing.T) {
	r := redistest.New(t)
	opt := r.Client.Options()
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, Password: opt.Password, DB: opt.DB, PoolSize: 1, MaxRetries: 1})
	defer rdb.Close()
	var dialed []net.Conn
	rdb.AddHook(dialSpy{conns: &dialed})
	rdb.AddHook(rawconn.Hook{})
	ctx := context.Background()
	if err := rdb.Set(ctx, "rawconn:k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "rawconn:k").Result(); v != "v" || err != nil {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if len(dialed) != 1 {
		t.Fatalf("%d connections dialed; want 1", len(dialed))
	}
	if _, ok := dialed[0].(syscall.Conn); ok && runtime.GOOS == "linux" {
		t.Fatal("the hook did not wrap the connection")
	}
	id, err := rdb.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Client.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if v, err := rdb.Get(ctx, "rawconn:k").Result(); v != "v" || err != nil {
		t.Fatalf("GET after the server closed the connection = %q, %v; want v, nil", v, err)
	}
	if len(dialed) != 2 {
		t.Errorf("%d connections dialed; want a second one after the kill", len(dialed))
	}
}

// dialSpy records the connections the hooks after it return; mu, when
// set, guards conns.
type dialSpy struct {
	conns *[]net.Conn
	mu    *sync.Mutex
}

func (d dialSpy) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err == nil {
			if d.mu != nil {
				d.mu.Lock()
				defer d.mu.Unlock()
			}
			*d.conns = append(*d.conns, c)
		}
		return c, err
	}
}
func (dialSpy) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (dialSpy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestInstallOnACluster checks that a Redis Cluster client's node clients,
// which do the dialing, wrap their connections. It runs on the cluster of
// REDIS_CLUSTER_TEST_ADDRS (.ci/run starts one), and fails under CI
// without it.
func TestInstallOnACluster(t *testing.T) {
	addrs := os.Getenv("REDIS_CLUSTER_TEST_ADDRS")
	if addrs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("REDIS_CLUSTER_TEST_ADDRS is unset and CI=true: CI must test on a real Redis Cluster")
		}
		t.Skip("REDIS_CLUSTER_TEST_ADDRS is unset: no Redis Cluster to test on")
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	defer rdb.Close()
	var mu sync.Mutex
	var dialed []net.Conn
	rdb.OnNewNode(func(node *redis.Client) { node.AddHook(dialSpy{conns: &dialed, mu: &mu}) })
	rawconn.Install(rdb)
	ctx := context.Background()
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // keys on every master
		if err := rdb.Set(ctx, "rawconn:"+strconv.Itoa(i), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) < 3 {
		t.Fatalf("%d node connections dialed; want one on each of at least 3 masters", len(dialed))
	}
	for i, c := range dialed {
		if _, ok := c.(syscall.Conn); ok && runtime.GOOS == "linux" {
			t.Errorf("node connection %d (%s) is not wrapped", i, c.RemoteAddr())
		}
	}
}

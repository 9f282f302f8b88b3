package bench

import (
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections from a local port to target, holding
// every chunk read from the client for up and every chunk read from target
// for down, so a request/response round trip through it takes about
// up + down longer.
type delayProxy struct {
	Addr     string
	ln       net.Listener
	target   string
	up, down time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startDelayProxy(target string, up, down time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{Addr: ln.Addr().String(), ln: ln, target: target, up: up, down: down, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, u) {
			return
		}
		p.wg.Add(2)
		go p.pipe(u, c, p.up)
		go p.pipe(c, u, p.down)
	}
}

// track registers a connection pair; false once the proxy is closed.
func (p *delayProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst, writing each chunk no earlier than delay after
// it was read. Redis clients send one command (or one pipeline) per
// connection and wait for its reply, so the reader is idle when a request
// arrives and reading, sleeping and writing in one goroutine delays each
// request by delay without a goroutine hand-off per chunk (which on this
// kind of VM costs hundreds of microseconds). When either side ends, both
// are closed.
func (p *delayProxy) pipe(dst, src net.Conn, delay time.Duration) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
}

// Close stops accepting, closes every connection and waits for the pipes.
func (p *delayProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

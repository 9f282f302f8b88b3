package sinchsim

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
)

// fault is what messages:send does instead of (or after) a normal answer.
type fault int

const (
	faultNone fault = iota
	fault500
	fault503
	faultReset // close the connection, accept nothing
	faultLost  // accept, then close the connection
)

// faultSource draws faults from one seeded generator so a run with a
// given Seed and request order is reproducible.
type faultSource struct {
	mu              sync.Mutex
	rng             *rand.Rand
	p500, p503, pRs float64 // cumulative thresholds
	pLost           float64
}

func newFaultSource(cfg Config) *faultSource {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	f := &faultSource{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	f.p500 = cfg.FaultRate500
	f.p503 = f.p500 + cfg.FaultRate503
	f.pRs = f.p503 + cfg.FaultResetBeforeAccept
	f.pLost = f.pRs + cfg.FaultLostAfterAccept
	return f
}

// draw picks at most one fault with one random number, so the kinds are
// exclusive and their rates are exactly the configured probabilities.
func (f *faultSource) draw() fault {
	if f.pLost == 0 {
		return faultNone
	}
	f.mu.Lock()
	u := f.rng.Float64()
	f.mu.Unlock()
	switch {
	case u < f.p500:
		return fault500
	case u < f.p503:
		return fault503
	case u < f.pRs:
		return faultReset
	case u < f.pLost:
		return faultLost
	}
	return faultNone
}

// dropConnection closes the client's connection without a response, as a
// crashed load balancer would. On HTTP/1 it hijacks the connection and
// resets it; where hijacking is impossible (HTTP/2) it aborts the handler,
// which resets the stream.
func dropConnection(w http.ResponseWriter) {
	noResponse(w)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST rather than FIN: "connection reset by peer"
	}
	_ = conn.Close()
}

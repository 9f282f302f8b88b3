package bench

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// simulator is the Sinch simulator served on 127.0.0.1, with a recorder of
// the instants messages:send answered 200, from which the achieved rate is
// measured between the first and the last acceptance.
type simulator struct {
	*sinchsim.Server
	URL string
	hs  *http.Server

	mu      sync.Mutex
	accepts []time.Time
	limited []time.Time // 429 answers
}

// startSim serves a simulator in DISPATCH mode that stores nothing: the
// benchmarks measure our side, not the simulator's message store.
func startSim(cfg sinchsim.Config) (*simulator, error) {
	cfg.ProcessingMode = sinchsim.ModeDispatch
	cfg.DispatchRetentionDays = sinchsim.RetentionNone
	srv, err := sinchsim.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	s := &simulator{Server: srv, URL: "http://" + ln.Addr().String()}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.hs.Serve(ln)
	return s, nil
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/messages:send") {
		s.Server.ServeHTTP(w, r)
		return
	}
	sw := &sinchsim.StatusWriter{ResponseWriter: w}
	s.Server.ServeHTTP(sw, r)
	switch sw.Code() {
	case http.StatusOK:
		now := time.Now()
		s.mu.Lock()
		s.accepts = append(s.accepts, now)
		s.mu.Unlock()
	case http.StatusTooManyRequests:
		now := time.Now()
		s.mu.Lock()
		s.limited = append(s.limited, now)
		s.mu.Unlock()
	}
}

// limitedAt describes when the 429s came, relative to the first acceptance.
func (s *simulator) limitedAt() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.limited) == 0 || len(s.accepts) == 0 {
		return ""
	}
	first := s.accepts[0]
	for _, t := range s.accepts {
		if t.Before(first) {
			first = t
		}
	}
	var b strings.Builder
	b.WriteString("429s at (s after the first acceptance):")
	for i, t := range s.limited {
		if i == 20 {
			b.WriteString(" …")
			break
		}
		fmt.Fprintf(&b, " %.3f", t.Sub(first).Seconds())
	}
	// Acceptances per 10ms in the 200ms before the first 429: a burst
	// here was sent as one; an even pace means the simulator itself was
	// descheduled and then served a backlog at once.
	at := s.limited[0]
	var buckets [20]int
	for _, t := range s.accepts {
		if d := at.Sub(t); d >= 0 && d < 200*time.Millisecond {
			buckets[19-int(d/(10*time.Millisecond))]++
		}
	}
	fmt.Fprintf(&b, "\naccepted per 10ms in the 200ms before the first 429: %v", buckets)
	// Where a run below its limit lost its time: the acceptances of each
	// second, and the last 429s (a recipient refused near the end is sent
	// again after its Retry-After, and that can end the span).
	last := first
	for _, t := range s.accepts {
		if t.After(last) {
			last = t
		}
	}
	perSecond := make([]int, int(last.Sub(first)/time.Second)+1)
	for _, t := range s.accepts {
		perSecond[int(t.Sub(first)/time.Second)]++
	}
	fmt.Fprintf(&b, "\naccepted per second: %v", perSecond)
	b.WriteString("\nlast 429s (s before the last acceptance):")
	for _, t := range s.limited[max(0, len(s.limited)-5):] {
		fmt.Fprintf(&b, " %.3f", last.Sub(t).Seconds())
	}
	if len(s.limited) > 2 {
		at := s.limited[len(s.limited)-2]
		var around [30]int
		for _, t := range s.accepts {
			if d := t.Sub(at) + time.Second; d >= 0 && d < 3*time.Second {
				around[int(d/(100*time.Millisecond))]++
			}
		}
		fmt.Fprintf(&b, "\naccepted per 100 ms from 1 s before the last 429 but one: %v", around)
	}
	return b.String()
}

// Close stops serving and callback delivery.
func (s *simulator) Close() {
	s.hs.Close()
	s.Server.Close()
}

// accepted returns how many sends were accepted so far.
func (s *simulator) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepts)
}

// acceptRate is (accepted − 1) / (last − first acceptance), in sends/s, and
// the span it was measured over.
func (s *simulator) acceptRate() (float64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.accepts)
	if n < 2 {
		return 0, 0
	}
	first, last := s.accepts[0], s.accepts[0]
	for _, t := range s.accepts { // handlers may record slightly out of order
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	span := last.Sub(first)
	if span <= 0 {
		return 0, 0
	}
	return float64(n-1) / span.Seconds(), span
}

// clientConfig is the Sinch client configuration pointing at s.
func (s *simulator) clientConfig() sinch.Config {
	return sinchsim.ClientConfig(s.URL)
}

// env is the environment of a worker process talking to s and redisURL.
func (s *simulator) env(redisURL string) []string {
	return []string{
		"REDIS_URL=" + redisURL,
		"SINCH_PROJECT_ID=" + sinchsim.DefaultProjectID,
		"SINCH_APP_ID=" + sinchsim.DefaultAppID,
		"SINCH_KEY_ID=" + sinchsim.DefaultKeyID,
		"SINCH_KEY_SECRET=" + sinchsim.DefaultKeySecret,
		"SINCH_BASE_URL=" + s.URL,
		"SINCH_AUTH_URL=" + s.URL + "/oauth2/token",
	}
}

package sinchsim

import (
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what the simulator saw, served as JSON by
// GET /_sim/stats. Requests to /_sim/ themselves are not counted.
type Stats struct {
	// Requests counts every request, token requests included.
	Requests int64 `json:"requests"`
	// TokenRequests counts POST /oauth2/token calls, whatever their outcome.
	TokenRequests int64 `json:"token_requests"`
	// ByStatus counts responses by HTTP status code. Requests answered
	// with no response (dropped connection, client gone) are not in it.
	ByStatus map[int]int64 `json:"by_status"`
	// Accepted counts messages:send calls that accepted a message,
	// including those whose response was then lost.
	Accepted int64 `json:"accepted"`
	// MaxAcceptedPerSecond is the most messages accepted within any
	// one-second sliding window.
	MaxAcceptedPerSecond int64 `json:"max_accepted_per_second"`
	// Duplicates counts accepted messages whose correlation_id had already
	// been accepted before (our product makes it unique per recipient, so
	// each one is a message sent twice).
	Duplicates int64 `json:"duplicates"`
	// AcceptedByContentType counts accepted sends by the
	// message_content_type they carried (absent: not counted).
	AcceptedByContentType map[string]int64 `json:"accepted_by_content_type,omitempty"`
	// RateLimited counts 429 answers; RateLimitedBy splits them by reason.
	RateLimited   int64            `json:"rate_limited"`
	RateLimitedBy RateLimitReasons `json:"rate_limited_by"`
	// Apps holds each app's MT queue figures, by app ID.
	Apps map[string]AppStats `json:"apps"`
	// Faults counts injected faults by kind.
	Faults FaultStats `json:"faults"`
	// CallbacksSent and CallbacksFailed count callback POSTs that got a 2xx
	// and those that did not (error or other status); CallbacksDropped
	// counts callbacks never attempted because the queue was full or the
	// server was closed.
	CallbacksSent    int64 `json:"callbacks_sent"`
	CallbacksFailed  int64 `json:"callbacks_failed"`
	CallbacksDropped int64 `json:"callbacks_dropped"`
	// StoredConversation and StoredDispatch are the messages currently in
	// each store, expired ones included until they are evicted.
	StoredConversation int `json:"stored_conversation"`
	StoredDispatch     int `json:"stored_dispatch"`
}

// RateLimitReasons splits 429 answers: the project's request rate (over
// every endpoint and app) and sends to an app whose MT queue was full.
type RateLimitReasons struct {
	ProjectRate  int64 `json:"project_rate"`
	AppQueueFull int64 `json:"app_queue_full"`
}

// FaultStats counts injected faults by kind.
type FaultStats struct {
	HTTP500           int64 `json:"http_500"`
	HTTP503           int64 `json:"http_503"`
	ResetBeforeAccept int64 `json:"reset_before_accept"`
	LostAfterAccept   int64 `json:"lost_after_accept"`
}

// stats holds the live counters: atomics on the hot path, one short
// mutex for the per-second window and the correlation IDs.
type stats struct {
	requests, tokenRequests, accepted, rateLimitedProject atomic.Int64
	faults                                                [faultLost + 1]atomic.Int64
	byStatus                                              [600]atomic.Int64
	cbSent, cbFailed, cbDropped                           atomic.Int64

	mu         sync.Mutex
	window     []int64 // accept times (UnixNano) in the last second, from head
	head       int
	last       int64
	maxPerSec  int64
	seed       maphash.Seed
	seen       map[uint64]struct{} // hashes of accepted correlation IDs
	duplicates int64
	// byContentType counts accepted sends by message_content_type.
	byContentType map[string]int64
}

func newStats() *stats {
	return &stats{seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
}

// countResponse records one request and its status (0 means the handler
// wrote nothing, which net/http sends as 200; -1 means no response).
func (s *stats) countResponse(code int) {
	s.requests.Add(1)
	if code == 0 {
		code = 200
	}
	if code > 0 && code < len(s.byStatus) {
		s.byStatus[code].Add(1)
	}
}

// countFault records one injected fault.
func (s *stats) countFault(f fault) { s.faults[f].Add(1) }

// recordAccept records one accepted message at t.
func (s *stats) recordAccept(t time.Time, correlationID, contentType string) {
	var h uint64
	if correlationID != "" {
		// A 64-bit hash instead of the string bounds memory in long
		// benchmarks; a collision is vanishingly unlikely.
		h = maphash.String(s.seed, correlationID)
	}
	ns := t.UnixNano()
	s.mu.Lock()
	// Concurrent requests may record slightly out of order; clamping keeps
	// the window sorted at the cost of at most that skew.
	ns = max(ns, s.last)
	s.last = ns
	s.window = append(s.window, ns)
	for s.window[s.head] <= ns-int64(time.Second) {
		s.head++
	}
	s.maxPerSec = max(s.maxPerSec, int64(len(s.window)-s.head))
	if s.head > 1024 && s.head*2 > len(s.window) {
		s.window = s.window[:copy(s.window, s.window[s.head:])]
		s.head = 0
	}
	if correlationID != "" {
		if _, dup := s.seen[h]; dup {
			s.duplicates++
		} else {
			s.seen[h] = struct{}{}
		}
	}
	if contentType != "" {
		if s.byContentType == nil {
			s.byContentType = map[string]int64{}
		}
		s.byContentType[contentType]++
	}
	s.mu.Unlock()
	s.accepted.Add(1)
}

func (s *stats) reset() {
	s.requests.Store(0)
	s.tokenRequests.Store(0)
	s.accepted.Store(0)
	s.rateLimitedProject.Store(0)
	for i := range s.faults {
		s.faults[i].Store(0)
	}
	for i := range s.byStatus {
		s.byStatus[i].Store(0)
	}
	s.cbSent.Store(0)
	s.cbFailed.Store(0)
	s.cbDropped.Store(0)
	s.mu.Lock()
	s.window, s.head, s.last, s.maxPerSec = nil, 0, 0, 0
	s.seen = map[uint64]struct{}{}
	s.duplicates = 0
	s.byContentType = nil
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.stats
	out := Stats{
		Requests:      st.requests.Load(),
		TokenRequests: st.tokenRequests.Load(),
		ByStatus:      map[int]int64{},
		Accepted:      st.accepted.Load(),
		Apps:          map[string]AppStats{},
		Faults: FaultStats{
			HTTP500:           st.faults[fault500].Load(),
			HTTP503:           st.faults[fault503].Load(),
			ResetBeforeAccept: st.faults[faultReset].Load(),
			LostAfterAccept:   st.faults[faultLost].Load(),
		},
		CallbacksSent:      st.cbSent.Load(),
		CallbacksFailed:    st.cbFailed.Load(),
		CallbacksDropped:   st.cbDropped.Load(),
		StoredConversation: s.conv.len(),
		StoredDispatch:     s.dispatch.len(),
	}
	out.RateLimitedBy.ProjectRate = st.rateLimitedProject.Load()
	now := s.now()
	for _, a := range s.apps {
		as := a.stats(now)
		out.Apps[a.ID] = as
		out.RateLimitedBy.AppQueueFull += as.QueueFull
	}
	out.RateLimited = out.RateLimitedBy.ProjectRate + out.RateLimitedBy.AppQueueFull
	for code := range st.byStatus {
		if n := st.byStatus[code].Load(); n > 0 {
			out.ByStatus[code] = n
		}
	}
	st.mu.Lock()
	out.MaxAcceptedPerSecond = st.maxPerSec
	out.Duplicates = st.duplicates
	out.AcceptedByContentType = maps.Clone(st.byContentType)
	st.mu.Unlock()
	return out
}

// Package sinchsim simulates the Sinch Conversation API (messages:send,
// messages list/get/delete, list and get apps) and its OAuth2 token endpoint, for
// tests, demos, benchmarks and as a staging sandbox.
//
// It validates requests from their raw JSON the way the real API does
// (unknown fields, wrong types and unknown enum values are 400
// INVALID_ARGUMENT), answers with Sinch's error envelope, enforces a
// per-project rate limit, models each app's MT queue (drained at the
// app's outbound rate, 429 when full), injects faults on demand, stores messages in a
// conversation store and a dispatch store with Sinch's retention rules, and
// posts signed delivery receipts.
//
// Mount it at the root of any host:
//
//	sim, err := sinchsim.New(sinchsim.Config{WebhookSecret: "s"})
//	if err != nil { ... }
//	defer sim.Close()
//	ts := httptest.NewServer(sim)
//	defer ts.Close()
//	// API base URL: ts.URL; token URL: ts.URL + "/oauth2/token".
//
// GET /_sim/stats returns Stats as JSON, POST /_sim/reset clears stats
// and stores, and POST /_sim/expire-tokens expires every access token
// issued so far (ExpireTokens); none needs credentials.
package sinchsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the simulated API. It implements http.Handler and is safe for
// concurrent use. Call Close to stop callback delivery.
type Server struct {
	cfg     Config
	now     func() time.Time
	mux     *http.ServeMux
	tokens  *tokens
	limiter *bucket // nil when unlimited
	apps    []*app  // cfg.Apps at run time; the first is the default
	// failFirst is cfg.FailFirstChannel compiled; nil when empty.
	failFirst *regexp.Regexp
	faults    *faultSource
	stats     *stats

	conv          *store // CONVERSATION-mode messages
	dispatch      *store // DISPATCH-mode messages
	contacts      *contacts
	retentionDays atomic.Int64 // dispatch ttl_days; 0 stores nothing

	pageKey   [32]byte // authenticates page tokens
	callbacks *callbackPool
	closeOnce sync.Once
}

// New validates cfg and returns a running Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		now:      cfg.Clock,
		tokens:   newTokens(cfg.Clock),
		faults:   newFaultSource(cfg),
		stats:    newStats(),
		conv:     newStore(cfg.MaxStoredMessages),
		dispatch: newStore(cfg.MaxStoredMessages),
		contacts: newContacts(),
	}
	for _, a := range cfg.Apps {
		s.apps = append(s.apps, newApp(a, cfg.ModelOutboundQueues))
	}
	if cfg.FailFirstChannel != "" {
		s.failFirst = regexp.MustCompile(cfg.FailFirstChannel) // Validate compiled it
	}
	if cfg.RateLimit > 0 {
		s.limiter = newBucket(cfg.RateLimit, cfg.RateBurst)
	}
	s.SetRetentionDays(cfg.DispatchRetentionDays)
	_, _ = rand.Read(s.pageKey[:])
	s.callbacks = newCallbackPool(cfg, s.stats)

	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", s.handleToken)
	mux.Handle("/v1/projects/{project_id}/messages:send", s.api(s.handleSend))
	mux.Handle("/v1/projects/{project_id}/messages", s.api(s.handleList))
	mux.Handle("/v1/projects/{project_id}/messages/{message_id}", s.api(s.handleMessage))
	mux.Handle("/v1/projects/{project_id}/apps", s.api(s.handleApps))
	mux.Handle("/v1/projects/{project_id}/apps/{app_id}", s.api(s.handleApp))
	mux.Handle("/v1/", s.api(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "the simulator does not implement "+r.Method+" "+r.URL.Path)
	}))
	mux.HandleFunc("/_sim/stats", s.handleStats)
	mux.HandleFunc("/_sim/reset", s.handleReset)
	mux.HandleFunc("/_sim/expire-tokens", s.handleExpireTokens)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	s.mux = mux
	return s, nil
}

// Close stops callback delivery and waits for in-flight callbacks to end.
// The handler keeps answering requests; no new callbacks are sent.
func (s *Server) Close() {
	s.closeOnce.Do(s.callbacks.close)
}

// SetRetentionDays changes the dispatch retention (ttl_days) at run time.
// days <= 0 stores nothing, and messages already stored become invisible,
// as their age exceeds zero days.
func (s *Server) SetRetentionDays(days int) {
	s.retentionDays.Store(int64(max(days, 0)))
}

// ExpireTokens invalidates every access token issued so far: clients get
// 401 and must fetch a new one.
func (s *Server) ExpireTokens() { s.tokens.expireAll() }

// Reset clears statistics, stored messages and contacts, and empties the
// apps' MT queues.
func (s *Server) Reset() {
	s.stats.reset()
	for _, a := range s.apps {
		a.reset()
	}
	s.conv.reset()
	s.dispatch.reset()
	s.contacts.reset()
}

// ServeHTTP routes the request and counts its outcome in Stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	sw := &StatusWriter{ResponseWriter: w}
	s.mux.ServeHTTP(sw, r)
	s.stats.countResponse(sw.code)
}

// api wraps an API handler with what every /v1 call goes through, in the
// order Sinch applies it: latency, authentication, project, rate limit.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.delay(r.Context()) {
			noResponse(w)
			return
		}
		if ae := s.authenticate(r); ae != nil {
			w.Header().Set("WWW-Authenticate", ae.challenge)
			writeError(w, http.StatusUnauthorized, ae.msg)
			return
		}
		// The catch-all /v1/ route has no project_id and answers 501 itself.
		if p := r.PathValue("project_id"); p != "" && p != s.cfg.ProjectID {
			writeError(w, http.StatusForbidden, "project "+p+" is not accessible with these credentials")
			return
		}
		if s.limiter != nil {
			if ok, wait := s.limiter.take(s.now()); !ok {
				s.stats.rateLimitedProject.Add(1)
				w.Header().Set("Retry-After", retryAfter(wait))
				writeError(w, http.StatusTooManyRequests, "project rate limit exceeded: too many requests per second")
				return
			}
		}
		h(w, r)
	}
}

// delay sleeps Config.Latency without holding any lock; it reports false
// if the request was cancelled meanwhile.
func (s *Server) delay(ctx context.Context) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// handleStats serves GET /_sim/stats.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

// handleReset serves POST /_sim/reset.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	s.Reset()
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleExpireTokens serves POST /_sim/expire-tokens, so clients in any
// language can meet the 401 of an expired token on demand.
func (s *Server) handleExpireTokens(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	s.ExpireTokens()
	writeJSON(w, http.StatusOK, struct{}{})
}

// StatusWriter records the status code of a response (for Stats, and for
// callers wrapping the simulator, such as the benchmarks). Unwrap lets
// http.ResponseController reach the connection for fault injection.
type StatusWriter struct {
	http.ResponseWriter
	code int // 0: nothing written yet; -1: no response at all
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Code is the status written: 0 if nothing yet, -1 if the connection was
// dropped without a response (a fault).
func (w *StatusWriter) Code() int { return w.code }

// noResponse marks that the client got no response (dropped connection
// or cancelled request), so it is not counted under a status code.
func noResponse(w http.ResponseWriter) {
	if sw, ok := w.(*StatusWriter); ok {
		sw.code = -1
	}
}

// errorDetail is one google.rpc.Status detail (an Any).
type errorDetail struct {
	TypeURL string `json:"type_url"`
	Value   string `json:"value"`
}

// errorEnvelope is Sinch's error body.
type errorEnvelope struct {
	Error struct {
		Code    int           `json:"code"`
		Message string        `json:"message"`
		Status  string        `json:"status"`
		Details []errorDetail `json:"details"`
	} `json:"error"`
}

// grpcStatus maps an HTTP code to the google.rpc code name Sinch puts in
// error.status.
func grpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	default:
		return "INTERNAL"
	}
}

// writeError writes Sinch's error envelope.
func writeError(w http.ResponseWriter, code int, msg string, details ...errorDetail) {
	var e errorEnvelope
	e.Error.Code = code
	e.Error.Message = msg
	e.Error.Status = grpcStatus(code)
	e.Error.Details = append([]errorDetail{}, details...)
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b := marshalJSON(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// marshalJSON encodes v as Sinch does: without Go's HTML escaping of &, <
// and > (as \u0026 etc.), which Sinch's JSON does not do. Only our own
// types are encoded, so an error is a programming error.
func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("sinchsim: marshal JSON: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// formatTime renders times like Sinch: RFC 3339, UTC, microseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

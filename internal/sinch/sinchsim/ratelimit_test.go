package sinchsim

import (
	"net/http"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, RateLimit: 2, RateBurst: 2})
	get := func() response { return s.mustDo(t, http.MethodGet, appPath, "", basicAuth) }

	for i := range 2 {
		if r := get(); r.status != 200 {
			t.Fatalf("request %d within burst: got status %d, want 200", i, r.status)
		}
	}
	r := get()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("request over burst: got status %d, want 429", r.status)
	}
	if e := r.envelope(t).Error; e.Code != 429 || e.Status != "RESOURCE_EXHAUSTED" {
		t.Errorf("got envelope %+v, want 429 RESOURCE_EXHAUSTED", e)
	}
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("got Retry-After %q, want \"1\"", got)
	}
	// Sends count against the same bucket.
	if r := s.mustDo(t, http.MethodPost, sendPath, sendBody(phone(1)), basicAuth); r.status != http.StatusTooManyRequests {
		t.Errorf("send over the limit: got status %d, want 429", r.status)
	}
	// At 2/s, half a second refills one token.
	clock.Advance(500 * time.Millisecond)
	if r := get(); r.status != 200 {
		t.Errorf("after 500ms: got status %d, want 200", r.status)
	}
	// Token requests are not rate limited (another server at Sinch).
	if status, _ := s.fetchToken(t, DefaultKeyID, DefaultKeySecret, query("grant_type", "client_credentials")); status != 200 {
		t.Errorf("token while limited: got status %d, want 200", status)
	}
	st := s.Stats()
	if st.RateLimited != 2 || st.ByStatus[429] != 2 || st.ByStatus[200] != 4 || st.Accepted != 0 {
		t.Errorf("got rate_limited %d, by_status %v, accepted %d; want 2, {200:4 429:2}, 0", st.RateLimited, st.ByStatus, st.Accepted)
	}
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, RateLimit: 0.25, RateBurst: 1})
	s.mustDo(t, http.MethodGet, appPath, "", basicAuth)
	if got := s.mustDo(t, http.MethodGet, appPath, "", basicAuth).header.Get("Retry-After"); got != "4" {
		t.Errorf("at 0.25/s: got Retry-After %q, want \"4\"", got)
	}
}

func TestRateLimitUnlimited(t *testing.T) {
	s := newSim(t, Config{RateLimit: -1})
	for i := range 200 {
		if r := s.mustDo(t, http.MethodGet, appPath, "", basicAuth); r.status != 200 {
			t.Fatalf("request %d: got status %d, want 200", i, r.status)
		}
	}
}

func TestDefaultRateBurst(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, RateLimit: 5})
	limited := 0
	for range 8 {
		if s.mustDo(t, http.MethodGet, appPath, "", basicAuth).status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 3 {
		t.Errorf("8 requests at once at 5/s: got %d limited, want 3 (burst is one second)", limited)
	}
}

package sinch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestAuthenticateFetchesTheTokenBeforeTheFirstSend(t *testing.T) {
	var seen recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(bearer(r))
		sendOK(w, r)
	})
	c := f.client(t)
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got := f.tokenCalls.Load(); got != 1 {
		t.Fatalf("token requests after Authenticate: got %d, want 1", got)
	}
	if got := f.apiCalls.Load(); got != 0 {
		t.Errorf("API requests made by Authenticate: got %d, want 0", got)
	}
	// Concurrent first sends all use the warm token: none fetches another.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := send(t, c); err != nil {
				t.Errorf("SendMessage: %v", err)
			}
		})
	}
	wg.Wait()
	if got := f.tokenCalls.Load(); got != 1 {
		t.Errorf("token requests after 20 sends: got %d, want 1", got)
	}
	for _, tok := range seen.all() {
		if tok != "tok-1" {
			t.Fatalf("send used token %q, want tok-1", tok)
		}
	}
	// A second Authenticate reuses the cached token.
	if err := c.Authenticate(t.Context()); err != nil || f.tokenCalls.Load() != 1 {
		t.Errorf("second Authenticate: got err %v and %d token requests, want nil and 1", err, f.tokenCalls.Load())
	}
}

func TestAuthenticateErrors(t *testing.T) {
	f := newFake(t, sendOK)
	t.Run("bad credentials", func(t *testing.T) {
		c := f.client(t, func(cfg *sinch.Config) { cfg.KeySecret = "wrong-secret-value" })
		err := c.Authenticate(t.Context())
		var te *sinch.TokenError
		if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Authenticate: got %v, want a *TokenError with status 401", err)
		}
	})
	t.Run("basic auth fetches nothing", func(t *testing.T) {
		before := f.tokenCalls.Load()
		c := f.client(t, func(cfg *sinch.Config) { cfg.Auth = sinch.AuthBasic })
		if err := c.Authenticate(t.Context()); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if got := f.tokenCalls.Load(); got != before {
			t.Errorf("token requests: got %d, want %d", got, before)
		}
	})
}

// clock is a settable time for the token cache: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// dueForRefresh returns a client with a token fetched and a clock moved 50
// minutes into the token's hour: due for refresh, still valid.
func dueForRefresh(t *testing.T, f *fake) (*sinch.Client, *clock) {
	t.Helper()
	c := f.client(t)
	clk := &clock{}
	sinch.SetTokenClock(c, clk.now)
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	clk.advance(50 * time.Minute)
	return c, clk
}

func TestTokenIsRefreshedInTheBackgroundBeforeExpiry(t *testing.T) {
	var seen recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(bearer(r))
		sendOK(w, r)
	})
	// The second token request hangs until released: a send that waited
	// for the refresh would hang with it (and fail on its context).
	release, arrived := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the fake server's Close, which waits for this handler
	f.token = func(w http.ResponseWriter, r *http.Request) {
		if f.tokenCalls.Load() == 2 {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		f.issueToken(w, r)
	}
	// 50 minutes into the hour the token is due for refresh but still valid.
	c, _ := dueForRefresh(t, f)
	if _, err := send(t, c); err != nil { // starts the background refresh
		t.Fatalf("SendMessage: %v", err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the send due for refresh started no token request")
	}
	for range 5 { // while the refresh hangs
		if _, err := send(t, c); err != nil {
			t.Fatalf("SendMessage during the refresh: %v", err)
		}
	}
	if got := seen.all(); len(got) != 6 || got[5] != "tok-1" {
		t.Fatalf("tokens used during the refresh: got %v, want tok-1 six times", got)
	}
	if got := f.tokenCalls.Load(); got != 2 {
		t.Fatalf("token requests: got %d, want 2 (one refresh for six sends)", got)
	}
	unblock()
	sinch.WaitTokenFetch(c)
	if _, err := send(t, c); err != nil {
		t.Fatalf("SendMessage after the refresh: %v", err)
	}
	if got := seen.last(); got != "tok-2" {
		t.Errorf("token used after the refresh: got %q, want tok-2", got)
	}
	if got := f.tokenCalls.Load(); got != 2 {
		t.Errorf("token requests after the refresh: got %d, want 2", got)
	}
}

func TestFailedBackgroundRefreshKeepsTheCurrentToken(t *testing.T) {
	var seen recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(bearer(r))
		sendOK(w, r)
	})
	f.token = func(w http.ResponseWriter, r *http.Request) {
		if f.tokenCalls.Load() >= 2 {
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
			return
		}
		f.issueToken(w, r)
	}
	c, clk := dueForRefresh(t, f)
	if _, err := send(t, c); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	sinch.WaitTokenFetch(c) // the refresh fails
	// The next sends keep the valid token and do not retry the refresh on
	// every call.
	for range 3 {
		if _, err := send(t, c); err != nil {
			t.Fatalf("SendMessage after a failed refresh: %v", err)
		}
	}
	if got := f.tokenCalls.Load(); got != 2 {
		t.Errorf("token requests: got %d, want 2", got)
	}
	if got := seen.last(); got != "tok-1" {
		t.Errorf("token used: got %q, want tok-1", got)
	}
	// Once the token has expired, a send waits for a new one and fails
	// with the token endpoint's error.
	clk.advance(15 * time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.SendMessage(ctx, textRequest())
	var te *sinch.TokenError
	if !errors.As(err, &te) {
		t.Errorf("SendMessage with an expired token and no new one: got %v, want a *TokenError", err)
	}
}

// A JWT access token expires at its exp claim, whatever expires_in says:
// here exp is two minutes away while expires_in promises an hour.
func TestJWTTokenExpiresAtItsExpClaim(t *testing.T) {
	var seen recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(bearer(r))
		sendOK(w, r)
	})
	clk := &clock{}
	var issued []string
	var mu sync.Mutex
	f.token = func(w http.ResponseWriter, r *http.Request) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(clk.now().Add(2 * time.Minute)),
			ID:        fmt.Sprint(f.tokenCalls.Load()),
		}).SignedString([]byte("issuer-only-key"))
		if err != nil {
			t.Errorf("sign: %v", err)
		}
		mu.Lock()
		issued = append(issued, tok)
		mu.Unlock()
		writeJSON(w, http.StatusOK, `{"access_token":"`+tok+`","token_type":"bearer","expires_in":3600}`)
	}
	c := f.client(t)
	sinch.SetTokenClock(c, clk.now)
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	steps := []struct {
		advance    time.Duration
		wantTokens int64
	}{
		{time.Minute, 1},      // before 75% of exp's two minutes: no refresh
		{55 * time.Second, 2}, // 5 s before exp, inside the expiry margin: a new token first
		{30 * time.Second, 2}, // the new token is fresh
		{2 * time.Minute, 3},  // and expires at its own exp
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if _, err := send(t, c); err != nil {
			t.Fatalf("step %d: SendMessage: %v", i, err)
		}
		sinch.WaitTokenFetch(c)
		if got := f.tokenCalls.Load(); got != s.wantTokens {
			t.Errorf("step %d (+%s): got %d token requests, want %d", i, s.advance, got, s.wantTokens)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen.last(); got != issued[len(issued)-1] {
		t.Errorf("last send used token %q, want the newest %q", got, issued[len(issued)-1])
	}
}

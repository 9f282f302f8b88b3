package sinch

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenCache holds one OAuth2 access token for all goroutines of a Client.
//
// oauth2.ReuseTokenSource is not used: it cannot drop a token the API has
// rejected, and a call blocked in its Token cannot give up when the call's
// context ends. Here a missing or expired token is fetched once however many
// calls wait for it, the fetch belongs to no single caller, and each waiter
// returns when its own context ends.
//
// A token expires at its JWT exp claim when it is a JWT (Sinch's are), read
// without verifying the signature: only the issuer can verify it, and a
// wrong exp costs at most an early refresh or a 401. An opaque token
// expires after the response's expires_in.
//
// A token is replaced before it expires, in the background: from
// refreshShare of its lifetime on, the next call (or a timer, when no call
// comes) starts one fetch while every call keeps using the current token.
// Calls only wait for a token at startup (unless Authenticate warmed it),
// after a 401, or when the refreshes failed until the token expired. A rate
// limiter would otherwise keep granting sends that pile up behind the fetch
// and leave together as one burst.
type tokenCache struct {
	conf    *clientcredentials.Config
	hc      *http.Client
	logger  *slog.Logger
	secrets []string // redacted from token endpoint messages
	now     func() time.Time

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshAt time.Time   // when to start replacing tok
	timer     *time.Timer // refreshes an idle cache at refreshAt
	inflight  *tokenFetch
}

// expiryDelta is how long before its expiry a token is no longer used, as
// in oauth2 (Token.Valid): a request must reach the API before it expires.
const expiryDelta = 10 * time.Second

// refreshShare is the share of a token's lifetime after which it is
// replaced in the background: 45 minutes into Sinch's one-hour tokens.
const refreshShare = 0.75

// refreshRetry is how long after a failed background refresh the next one
// starts, while the current token is still usable.
const refreshRetry = 5 * time.Second

// tokenFetch is one token request shared by everyone waiting for it.
type tokenFetch struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

func newTokenCache(cfg Config, hc *http.Client, secrets []string) *tokenCache {
	return &tokenCache{
		conf: &clientcredentials.Config{
			ClientID:     cfg.KeyID,
			ClientSecret: cfg.KeySecret,
			TokenURL:     cfg.TokenURL,
			AuthStyle:    oauth2.AuthStyleInHeader, // HTTP Basic key_id:key_secret
		},
		hc:      hc,
		logger:  cfg.Logger,
		secrets: secrets,
		now:     time.Now,
	}
}

// Authenticate fetches the access token now, unless one is cached, so that
// the first sends do not wait for it. With AuthBasic it does nothing. A
// worker calls it at startup: without it, sends granted by the rate limiter
// while the token is being fetched would all leave at once when it arrives.
func (c *Client) Authenticate(ctx context.Context) error {
	if c.tokens == nil {
		return nil
	}
	_, err := c.tokens.token(ctx)
	return err
}

// token returns a usable access token, fetching one if there is none and
// starting a background refresh if the current one is due for it.
func (tc *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	now := tc.now()
	tc.mu.Lock()
	if tc.usable(now) {
		tok := tc.tok
		if !now.Before(tc.refreshAt) && tc.inflight == nil {
			tc.startFetch(ctx)
		}
		tc.mu.Unlock()
		return tok, nil
	}
	f := tc.inflight
	if f == nil {
		f = tc.startFetch(ctx)
	}
	tc.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// usable reports whether the cached token may be sent. Call with tc.mu held.
func (tc *tokenCache) usable(now time.Time) bool {
	t := tc.tok
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || now.Before(t.Expiry.Add(-expiryDelta)))
}

// startFetch starts the one token request. It is detached from ctx: other
// callers share it, and Config.Timeout (on tc.hc) bounds it. Call with tc.mu
// held and no fetch in flight.
func (tc *tokenCache) startFetch(ctx context.Context) *tokenFetch {
	f := &tokenFetch{done: make(chan struct{})}
	tc.inflight = f
	go tc.fetch(context.WithoutCancel(ctx), f)
	return f
}

func (tc *tokenCache) fetch(ctx context.Context, f *tokenFetch) {
	start := tc.now()
	tok, err := tc.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, tc.hc))
	if err != nil {
		err = tokenError(err, tc.secrets) // returned to the waiters, not logged
	} else {
		if exp, ok := jwtExpiry(tok.AccessToken); ok {
			tok.Expiry = exp
		}
		tc.logger.Debug("sinch access token fetched", "duration", tc.now().Sub(start),
			"expires", tok.Expiry.Round(time.Second))
	}

	tc.mu.Lock()
	switch {
	case err == nil:
		tc.tok = tok
		tc.refreshAt = time.Time{} // a token without expiry is never refreshed
		if !tok.Expiry.IsZero() {
			tc.refreshAt = start.Add(time.Duration(float64(tok.Expiry.Sub(start)) * refreshShare))
		}
	case tc.usable(tc.now()):
		// A background refresh failed: keep the current token and try again
		// a little later, not on every call.
		tc.refreshAt = tc.now().Add(refreshRetry)
		tc.logger.Warn("sinch access token refresh failed; using the current token until it expires", "err", err)
	}
	tc.armTimer()
	tc.inflight = nil
	tc.mu.Unlock()

	f.tok, f.err = tok, err
	close(f.done)
}

// armTimer schedules a refresh at refreshAt for when no call comes to start
// it, so an idle worker still has a fresh token when sends resume. Call with
// tc.mu held.
func (tc *tokenCache) armTimer() {
	if tc.timer != nil {
		tc.timer.Stop()
		tc.timer = nil
	}
	if tc.refreshAt.IsZero() || !tc.usable(tc.now()) {
		return // nothing to refresh: the next call fetches
	}
	tc.timer = time.AfterFunc(max(0, tc.refreshAt.Sub(tc.now())), func() {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		if now := tc.now(); tc.inflight == nil && tc.usable(now) && !now.Before(tc.refreshAt) {
			tc.startFetch(context.Background())
		}
	})
}

// invalidate drops the cached token if it is still stale, the one the API
// rejected. When many calls get a 401 for the same token only the first
// drops it; the rest pick up the replacement.
func (tc *tokenCache) invalidate(stale *oauth2.Token) {
	tc.mu.Lock()
	if tc.tok != nil && stale != nil && tc.tok.AccessToken == stale.AccessToken {
		tc.tok = nil
	}
	tc.mu.Unlock()
}

// jwtExpiry returns the exp claim of a JWT access token, ok false for an
// opaque token or a JWT without exp. The signature is not verified (see
// tokenCache).
func jwtExpiry(accessToken string) (time.Time, bool) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(accessToken, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}, false
	}
	return claims.ExpiresAt.Time, true
}

// tokenError turns an oauth2 error into one safe to print: RetrieveError
// carries the raw body and the request (with the Basic credentials).
func tokenError(err error, secrets []string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Code: redact(re.ErrorCode, secrets), Description: redact(re.ErrorDescription, secrets)}
		if re.Response != nil {
			te.StatusCode = re.Response.StatusCode
		}
		return te
	}
	// Transport failures come back unwrapped from oauth2 as *url.Error.
	var netErr interface{ Timeout() bool }
	if errors.As(err, &netErr) {
		return &TransportError{Op: "fetch access token", Err: err}
	}
	// The rest are oauth2's own messages about an unusable 2xx body
	// ("server response missing access_token", "cannot parse json: ...").
	return &TokenError{Description: redact(err.Error(), secrets)}
}

// credentialForms lists the forms in which the key secret travels: as is,
// and base64 in a Basic header (oauth2 query-escapes both halves first).
// Error text from servers is scrubbed of all of them.
func credentialForms(keyID, keySecret string) []string {
	b64 := base64.StdEncoding.EncodeToString
	return []string{
		keySecret,
		b64([]byte(keyID + ":" + keySecret)),
		b64([]byte(url.QueryEscape(keyID) + ":" + url.QueryEscape(keySecret))),
	}
}

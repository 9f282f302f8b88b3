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

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenCache holds one OAuth2 access token for all goroutines of a Client.
//
// oauth2.ReuseTokenSource is not used: it cannot drop a token the API has
// rejected, and a call blocked in its Token cannot give up when the call's
// context ends. Here a missing or expiring token (oauth2's expiry margin, via
// Token.Valid) is fetched once however many calls wait for it, the fetch
// belongs to no single caller, and each waiter returns when its own context
// ends.
type tokenCache struct {
	conf    *clientcredentials.Config
	hc      *http.Client
	logger  *slog.Logger
	secrets []string // redacted from token endpoint messages

	mu       sync.Mutex
	tok      *oauth2.Token
	inflight *tokenFetch
}

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
	}
}

// token returns a valid access token, fetching one if needed.
func (tc *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	tc.mu.Lock()
	if tc.tok.Valid() {
		tok := tc.tok
		tc.mu.Unlock()
		return tok, nil
	}
	f := tc.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		tc.inflight = f
		// Detached from ctx: other callers share this fetch. Config.Timeout
		// (on tc.hc) bounds it.
		go tc.fetch(context.WithoutCancel(ctx), f)
	}
	tc.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (tc *tokenCache) fetch(ctx context.Context, f *tokenFetch) {
	start := time.Now()
	tok, err := tc.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, tc.hc))
	if err != nil {
		err = tokenError(err, tc.secrets) // returned to the waiters, not logged
	} else {
		tc.logger.Debug("sinch access token fetched", "duration", time.Since(start),
			"expires", tok.Expiry.Round(time.Second))
	}

	tc.mu.Lock()
	if err == nil {
		tc.tok = tok
	}
	tc.inflight = nil
	tc.mu.Unlock()

	f.tok, f.err = tok, err
	close(f.done)
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

package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// CSRF protection of the campaign actions, in two layers:
//   - http.CrossOriginProtection (server.go) rejects any unsafe request a
//     browser marks as cross-site (Sec-Fetch-Site, Origin), including
//     asynqmon's own buttons;
//   - a token: HMAC(per-process key, principal), rendered in every action
//     form and required as the csrf_token form field or the X-CSRF-Token
//     header. A cross-site page cannot read it, so Basic credentials that
//     a browser attaches on its own are not enough to act.
//
// Requests authenticated with a bearer token need no CSRF token: browsers
// never attach one by themselves. A restart changes the key; pages carry a
// fresh token at every (auto-)refresh.

const (
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
)

type csrfTokens struct{ key []byte }

func newCSRFTokens() *csrfTokens {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return &csrfTokens{key: key}
}

// token is p's CSRF token.
func (c *csrfTokens) token(p principal) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + p.name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// valid reports whether r carries p's token (or needs none).
func (c *csrfTokens) valid(r *http.Request, p principal) bool {
	if p.bearer {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return c.equal(got, p)
}

// equal reports whether got is p's token.
func (c *csrfTokens) equal(got string, p principal) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(c.token(p)))
}

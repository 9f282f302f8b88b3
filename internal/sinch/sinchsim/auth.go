package sinchsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// tokens issues and checks access tokens. Tokens are self-contained
// (expiry, generation, nonce, MAC), so checking one takes no lock and no
// memory grows with the number of clients; ExpireTokens bumps the
// generation, which invalidates every older token at once.
type tokens struct {
	key [32]byte
	gen atomic.Uint64
}

const tokenLen = 8 + 8 + 8 + 16 // expiry, generation, nonce, truncated MAC

func newTokens() *tokens {
	t := &tokens{}
	_, _ = rand.Read(t.key[:])
	return t
}

func (t *tokens) mac(b []byte) []byte { return truncatedMAC(t.key[:], b, 16) }

// truncatedMAC is the first n bytes of HMAC-SHA256(key, b): enough to make
// our opaque tokens unforgeable while keeping them short.
func truncatedMAC(key, b []byte, n int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil)[:n]
}

func (t *tokens) issue(expiry time.Time) string {
	var b [tokenLen]byte
	binary.BigEndian.PutUint64(b[0:], uint64(expiry.Unix()))
	binary.BigEndian.PutUint64(b[8:], t.gen.Load())
	_, _ = rand.Read(b[16:24])
	copy(b[24:], t.mac(b[:24]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check returns "" for a valid token, else why it is not.
func (t *tokens) check(tok string, now time.Time) string {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenLen || !hmac.Equal(b[24:], t.mac(b[:24])) {
		return "invalid access token"
	}
	if binary.BigEndian.Uint64(b[8:]) != t.gen.Load() ||
		int64(binary.BigEndian.Uint64(b[0:])) <= now.Unix() {
		return "access token expired"
	}
	return ""
}

func (t *tokens) expireAll() { t.gen.Add(1) }

// validKey compares in constant time so the sandbox doesn't teach timing
// attacks against clients that reuse real secrets.
func (s *Server) validKey(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.KeyID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.KeySecret))
	return idOK&secretOK == 1
}

// authenticate checks an API request's Bearer token or Basic access key.
// It returns "" when the request may proceed, else the 401 message.
func (s *Server) authenticate(r *http.Request) string {
	if s.cfg.AuthDisabled {
		return ""
	}
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return "missing credentials: send a Bearer access token or Basic key_id:key_secret"
	case strings.EqualFold(scheme, "Bearer"):
		return s.tokens.check(strings.TrimSpace(cred), s.now())
	case strings.EqualFold(scheme, "Basic"):
		if id, secret, ok := r.BasicAuth(); ok && s.validKey(id, secret) {
			return ""
		}
		return "invalid access key"
	default:
		return "unsupported authorization scheme " + scheme
	}
}

// oauthError is an RFC 6749 section 5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// tokenResponse is the body Sinch's auth server returns.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	TokenType   string `json:"token_type"`
}

// handleToken serves POST /oauth2/token: the client credentials grant
// with the access key as HTTP Basic client credentials (or, as RFC 6749
// also allows, client_id and client_secret form fields).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.stats.tokenRequests.Add(1)
	if !s.delay(r.Context()) {
		noResponse(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{"invalid_request", "use POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "body must be application/x-www-form-urlencoded"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if !s.cfg.AuthDisabled && !s.validKey(id, secret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="sinchsim"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client authentication failed"})
		return
	}
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "client_credentials":
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "grant_type is required"})
		return
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "only client_credentials is supported"})
		return
	}
	ttl := s.cfg.TokenTTL.Truncate(time.Second)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: s.tokens.issue(s.now().Add(ttl)),
		ExpiresIn:   int64(ttl / time.Second),
		TokenType:   "bearer",
	})
}

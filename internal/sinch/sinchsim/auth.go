package sinchsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokens issues and checks access tokens. Like Sinch's, they are JWTs
// whose exp claim tells clients (such as Sinch's SDKs) when to fetch a new
// one; here they are HS256-signed with a key made per process. Checking one
// takes no lock and no memory grows with the number of clients.
// ExpireTokens bumps the generation (the gen claim), which invalidates
// every older token at once.
type tokens struct {
	key    []byte
	gen    atomic.Uint64
	parser *jwt.Parser
	now    func() time.Time
	// valid remembers tokens already verified (token → *verified), so a
	// client sending thousands of requests a second with one token pays
	// for one JWT verification, not one each. Cleared when it grows past
	// maxVerified; a token is still checked against its exp and generation.
	valid     sync.Map
	validSize atomic.Int64
}

// verified is a token that passed verification.
type verified struct {
	exp time.Time
	gen uint64
}

// maxVerified bounds the verified-token cache.
const maxVerified = 4096

// tokenIssuer is the iss claim of the simulator's tokens.
const tokenIssuer = "sinchsim"

// tokenClaims are the claims of an access token.
type tokenClaims struct {
	jwt.RegisteredClaims
	// Gen is the token generation it was issued in (see ExpireTokens).
	Gen uint64 `json:"gen"`
}

func newTokens(now func() time.Time) *tokens {
	t := &tokens{key: make([]byte, 32), now: now}
	_, _ = rand.Read(t.key)
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithTimeFunc(now),
	)
	return t
}

// truncatedMAC is the first n bytes of HMAC-SHA256(key, b): enough to make
// page tokens unforgeable while keeping them short.
func truncatedMAC(key, b []byte, n int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil)[:n]
}

func (t *tokens) issue(now, expiry time.Time) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expiry),
			ID:        newID(now),
		},
		Gen: t.gen.Load(),
	}).SignedString(t.key)
	if err != nil {
		panic("sinchsim: sign access token: " + err.Error()) // HMAC with a []byte key cannot fail
	}
	return tok
}

// Why a Bearer token was refused.
var (
	errTokenInvalid = errors.New("invalid access token")
	errTokenExpired = errors.New("access token expired")
)

// check returns nil for a valid token, else errTokenInvalid or
// errTokenExpired. A token is expired from its exp second on.
func (t *tokens) check(tok string) error {
	if v, ok := t.valid.Load(tok); ok {
		if v := v.(*verified); v.gen != t.gen.Load() || !t.now().Before(v.exp) {
			return errTokenExpired
		}
		return nil
	}
	var c tokenClaims
	_, err := t.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case err != nil:
		return errTokenInvalid
	case c.Gen != t.gen.Load():
		return errTokenExpired
	}
	if t.validSize.Add(1) > maxVerified {
		t.valid.Clear()
		t.validSize.Store(1)
	}
	t.valid.Store(tok, &verified{exp: c.ExpiresAt.Time, gen: c.Gen})
	return nil
}

func (t *tokens) expireAll() { t.gen.Add(1) }

// validKey compares in constant time so the sandbox doesn't teach timing
// attacks against clients that reuse real secrets.
func (s *Server) validKey(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.KeyID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.KeySecret))
	return idOK&secretOK == 1
}

// authError is why an API request was refused with 401: msg goes in the
// error envelope, challenge in WWW-Authenticate.
type authError struct {
	msg, challenge string
}

// The WWW-Authenticate challenges of a 401 (RFC 6750 section 3). Sinch's
// SDKs fetch a new token and retry when the challenge says "expired".
const (
	challengeBearer  = `Bearer realm="sinch"`
	challengeInvalid = `Bearer realm="sinch", error="invalid_token", error_description="invalid"`
	challengeExpired = `Bearer realm="sinch", error="invalid_token", error_description="expired"`
)

// authenticate checks an API request's Bearer token or Basic access key.
// It returns nil when the request may proceed.
func (s *Server) authenticate(r *http.Request) *authError {
	if s.cfg.AuthDisabled {
		return nil
	}
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return &authError{"missing credentials: send a Bearer access token or Basic key_id:key_secret", challengeBearer}
	case strings.EqualFold(scheme, "Bearer"):
		switch err := s.tokens.check(strings.TrimSpace(cred)); err {
		case nil:
			return nil
		case errTokenExpired:
			return &authError{err.Error(), challengeExpired}
		default:
			return &authError{err.Error(), challengeInvalid}
		}
	case strings.EqualFold(scheme, "Basic"):
		if id, secret, ok := r.BasicAuth(); ok && s.validKey(id, secret) {
			return nil
		}
		return &authError{"invalid access key", challengeBearer}
	default:
		return &authError{"unsupported authorization scheme " + scheme, challengeBearer}
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
	now := s.now()
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: s.tokens.issue(now, now.Add(ttl)),
		ExpiresIn:   int64(ttl / time.Second),
		TokenType:   "bearer",
	})
}

package sinchsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const appPath = "/v1/projects/" + DefaultProjectID + "/apps/" + DefaultAppID

// fetchToken runs the client credentials grant and returns status and body.
func (s *sim) fetchToken(t *testing.T, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" || secret != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token response %s: %v", b, err)
	}
	return resp.StatusCode, m
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestTokenEndpoint(t *testing.T) {
	s := newSim(t, Config{})
	grant := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name       string
		id, secret string
		form       url.Values
		wantStatus int
		wantError  string // OAuth error code; "" for success
	}{
		{"good credentials", DefaultKeyID, DefaultKeySecret, grant, 200, ""},
		{"credentials in the form", "", "", url.Values{"grant_type": {"client_credentials"},
			"client_id": {DefaultKeyID}, "client_secret": {DefaultKeySecret}}, 200, ""},
		{"wrong secret", DefaultKeyID, "nope", grant, 401, "invalid_client"},
		{"wrong key", "other", DefaultKeySecret, grant, 401, "invalid_client"},
		{"no credentials", "", "", grant, 401, "invalid_client"},
		{"wrong grant", DefaultKeyID, DefaultKeySecret, url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type"},
		{"no grant", DefaultKeyID, DefaultKeySecret, url.Values{}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.fetchToken(t, tt.id, tt.secret, tt.form)
			if status != tt.wantStatus {
				t.Fatalf("got status %d (%v), want %d", status, body, tt.wantStatus)
			}
			if tt.wantError != "" {
				if body["error"] != tt.wantError {
					t.Errorf("got error %v, want %q", body["error"], tt.wantError)
				}
				return
			}
			if body["token_type"] != "bearer" || body["expires_in"] != 3600.0 || body["scope"] != "" {
				t.Errorf("got %v, want token_type bearer, expires_in 3600, scope \"\"", body)
			}
			if tok, _ := body["access_token"].(string); tok == "" {
				t.Errorf("got no access_token in %v", body)
			}
		})
	}
	if got := s.Stats().TokenRequests; got != int64(len(tests)) {
		t.Errorf("got %d token requests, want %d", got, len(tests))
	}
}

func TestAPIAuth(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, TokenTTL: time.Hour})
	_, body := s.fetchToken(t, DefaultKeyID, DefaultKeySecret, url.Values{"grant_type": {"client_credentials"}})
	tok := body["access_token"].(string)

	check := func(name string, auth func(*http.Request), want int, wantChallenge string) {
		t.Helper()
		r := s.mustDo(t, http.MethodGet, appPath, "", auth)
		if r.status != want {
			t.Fatalf("%s: got status %d (%s), want %d", name, r.status, r.body, want)
		}
		if got := r.header.Get("WWW-Authenticate"); got != wantChallenge {
			t.Errorf("%s: got WWW-Authenticate %q, want %q", name, got, wantChallenge)
		}
		if want == http.StatusUnauthorized {
			e := r.envelope(t).Error
			if e.Code != 401 || e.Status != "UNAUTHENTICATED" || e.Message == "" || e.Details == nil {
				t.Errorf("%s: got envelope %+v, want code 401 UNAUTHENTICATED with a message and details []", name, e)
			}
		}
	}
	const (
		plain   = `Bearer realm="sinch"`
		invalid = `Bearer realm="sinch", error="invalid_token", error_description="invalid"`
		expired = `Bearer realm="sinch", error="invalid_token", error_description="expired"`
	)
	check("bearer token", bearer(tok), 200, "")
	check("basic access key", basicAuth, 200, "")
	check("no credentials", nil, 401, plain)
	check("wrong basic secret", func(r *http.Request) { r.SetBasicAuth(DefaultKeyID, "wrong") }, 401, plain)
	check("forged token", bearer(tok[:len(tok)-2]+"AA"), 401, invalid)
	check("opaque token", bearer("bm90LWEtand0"), 401, invalid)
	check("unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, plain)

	s.ExpireTokens()
	check("token after ExpireTokens", bearer(tok), 401, expired)
	_, body = s.fetchToken(t, DefaultKeyID, DefaultKeySecret, url.Values{"grant_type": {"client_credentials"}})
	tok = body["access_token"].(string)
	check("token before POST /_sim/expire-tokens", bearer(tok), 200, "")
	if r := s.mustDo(t, http.MethodPost, "/_sim/expire-tokens", "", nil); r.status != 200 {
		t.Fatalf("POST /_sim/expire-tokens: got status %d (%s), want 200", r.status, r.body)
	}
	check("token after POST /_sim/expire-tokens", bearer(tok), 401, expired)
	if r := s.mustDo(t, http.MethodGet, "/_sim/expire-tokens", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /_sim/expire-tokens: got status %d, want 405", r.status)
	}
	_, body = s.fetchToken(t, DefaultKeyID, DefaultKeySecret, url.Values{"grant_type": {"client_credentials"}})
	tok = body["access_token"].(string)
	check("re-fetched token", bearer(tok), 200, "")

	clock.Advance(time.Hour - time.Second)
	check("token just before expiry", bearer(tok), 200, "")
	clock.Advance(time.Second)
	check("token at expiry", bearer(tok), 401, expired)
}

// Sinch's access tokens are JWTs, and Sinch's SDKs refresh them from their
// exp claim: the simulator's must carry iat and exp, signed.
func TestTokenIsJWT(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, TokenTTL: 90 * time.Second})
	_, body := s.fetchToken(t, DefaultKeyID, DefaultKeySecret, url.Values{"grant_type": {"client_credentials"}})
	tok, _ := body["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("got access token %q with %d parts, want a JWT (3)", tok, len(parts))
	}
	decode := func(part string) map[string]any {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			t.Fatalf("decode JWT part %q: %v", part, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode JWT part %s: %v", b, err)
		}
		return m
	}
	if h := decode(parts[0]); h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("got header %v, want alg HS256, typ JWT", h)
	}
	c := decode(parts[1])
	now := clock.Now().Unix()
	if c["iat"] != float64(now) || c["exp"] != float64(now+90) {
		t.Errorf("got iat %v exp %v, want %d and %d", c["iat"], c["exp"], now, now+90)
	}
	if body["expires_in"] != 90.0 {
		t.Errorf("got expires_in %v, want 90 (matching exp - iat)", body["expires_in"])
	}
	if sig := parts[2]; sig == "" {
		t.Error("got an unsigned JWT, want an HS256 signature")
	}
	// An alg "none" token with the same claims is refused.
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	if r := s.mustDo(t, http.MethodGet, appPath, "", bearer(unsigned)); r.status != http.StatusUnauthorized {
		t.Errorf("alg none token: got status %d, want 401", r.status)
	}
}

func TestAuthDisabled(t *testing.T) {
	s := newSim(t, Config{AuthDisabled: true})
	if r := s.mustDo(t, http.MethodGet, appPath, "", nil); r.status != 200 {
		t.Fatalf("got status %d (%s), want 200 without credentials", r.status, r.body)
	}
}

func TestUnknownProject(t *testing.T) {
	s := newSim(t, Config{})
	r := s.mustDo(t, http.MethodPost, "/v1/projects/other/messages:send", sendBody(phone(1)), basicAuth)
	if r.status != http.StatusForbidden || r.envelope(t).Error.Status != "PERMISSION_DENIED" {
		t.Fatalf("got %d %s, want 403 PERMISSION_DENIED", r.status, r.body)
	}
}

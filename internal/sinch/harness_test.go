package sinch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

const (
	testProject = "proj-1"
	testApp     = "app-1"
	testKeyID   = "key-id-1"
	testSecret  = "s3cr3t-Key-Value-42"
	testPhone   = "+46700000001"

	// apiPrefix is where the fake mounts the API, so a request built from an
	// absolute path instead of the base URL misses it and fails the test.
	apiPrefix = "/sinch-api"
	tokenPath = "/auth/oauth2/token"
)

// fake is a Conversation API and OAuth2 token endpoint on one httptest server.
type fake struct {
	srv        *httptest.Server
	tokenCalls atomic.Int64
	apiCalls   atomic.Int64
	// expiresIn is the expires_in of issued tokens, in seconds.
	expiresIn atomic.Int64

	// token serves the token endpoint; it defaults to issueToken. api serves
	// requests below apiPrefix, with the prefix stripped. Set both before
	// the first request.
	token http.HandlerFunc
	api   http.Handler
}

func newFake(t *testing.T, api http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{api: api}
	f.expiresIn.Store(3600)
	f.token = f.issueToken
	mux := http.NewServeMux()
	mux.HandleFunc(tokenPath, func(w http.ResponseWriter, r *http.Request) {
		f.tokenCalls.Add(1)
		f.token(w, r)
	})
	mux.Handle(apiPrefix+"/", http.StripPrefix(apiPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.apiCalls.Add(1)
		f.api.ServeHTTP(w, r)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the mounted API: %s %s", r.Method, r.URL.Path)
		http.Error(w, "not mounted", http.StatusTeapot)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// issueToken checks the client credentials grant and issues tok-1, tok-2, ...
func (f *fake) issueToken(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.Method != http.MethodPost || !ok || user != testKeyID || pass != testSecret {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"bad key"}`)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"access_token":"tok-%d","token_type":"bearer","expires_in":%d}`,
		f.tokenCalls.Load(), f.expiresIn.Load()))
}

func (f *fake) config() sinch.Config {
	return sinch.Config{
		ProjectID: testProject,
		AppID:     testApp,
		KeyID:     testKeyID,
		KeySecret: testSecret,
		BaseURL:   f.srv.URL + apiPrefix,
		TokenURL:  f.srv.URL + tokenPath,
		Timeout:   5 * time.Second,
	}
}

func (f *fake) client(t *testing.T, mods ...func(*sinch.Config)) *sinch.Client {
	t.Helper()
	cfg := f.config()
	for _, m := range mods {
		m(&cfg)
	}
	c, err := sinch.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// sendOK answers messages:send like the API.
func sendOK(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, `{"message_id":"01HMSG","accepted_time":"2024-06-18T12:34:56Z"}`)
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func textRequest() *sinch.SendMessageRequest {
	return &sinch.SendMessageRequest{
		AppID: testApp,
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: testPhone}},
		}},
		Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hello there"}},
	}
}

// send runs one SendMessage with a bounded context.
func send(t *testing.T, c *sinch.Client) (*sinch.SendMessageResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.SendMessage(ctx, textRequest())
}

// decodeBody reads a JSON request body into a generic value.
func decodeBody(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("request body: %v", err)
	}
	return m
}

// classes summarises the classifiers for table tests.
type classes struct{ rateLimited, retryable, permanent, unauthorized bool }

func classify(err error) classes {
	return classes{sinch.IsRateLimited(err), sinch.IsRetryable(err), sinch.IsPermanent(err), sinch.IsUnauthorized(err)}
}

package sinch_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// issuedToken is the access token the secrets tests' token endpoint issues.
const issuedToken = "at-9f8e7d6c5b4a3921"

// TestSecretsNeverLeak runs failing and succeeding flows against servers that
// echo credentials back, and checks that no error string (in any fmt form)
// and no log line contains the key secret, the Basic credentials or the
// access token. Logs must also be free of phone numbers and message text.
func TestSecretsNeverLeak(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(testKeyID + ":" + testSecret))
	secrets := []string{testSecret, basic, issuedToken}

	// echo answers with everything it got, as a careless server might.
	echo := func(w http.ResponseWriter, r *http.Request, status int) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		writeJSON(w, status, fmt.Sprintf(
			`{"error":{"code":%d,"message":"rejected %s with key %s","status":"X","details":[{"type_url":%q,"value":%q}]}}`,
			status, auth, testSecret, auth, string(body)+auth))
	}
	okToken := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"access_token":"`+issuedToken+`","token_type":"bearer","expires_in":3600}`)
	}
	tokenEcho := func(status int, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"got %s and %s"}`, auth, testSecret)
		}
	}

	flows := []struct {
		name    string
		auth    sinch.AuthMode
		token   http.HandlerFunc
		api     func(w http.ResponseWriter, r *http.Request)
		call    func(c *sinch.Client) error
		wantErr bool
	}{
		{name: "token rejected", token: tokenEcho(401, "application/json"), wantErr: true},
		{name: "token endpoint html error", token: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>%s %s</html>", r.Header.Get("Authorization"), testSecret)
		}, wantErr: true},
		{name: "token 200 with garbage", token: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, testSecret+r.Header.Get("Authorization"))
		}, wantErr: true},
		{name: "token error in a 200", token: tokenEcho(200, "application/json"), wantErr: true},
		{name: "token form-encoded error", token: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "error=%s&error_description=%s", testSecret, r.Header.Get("Authorization"))
		}, wantErr: true},
		{name: "api 400 echo", token: okToken, api: func(w http.ResponseWriter, r *http.Request) { echo(w, r, 400) }, wantErr: true},
		{name: "api 401 twice echo", token: okToken, api: func(w http.ResponseWriter, r *http.Request) { echo(w, r, 401) }, wantErr: true},
		{name: "api html echo", token: okToken, api: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>%s %s</html>", r.Header.Get("Authorization"), testSecret)
		}, wantErr: true},
		{name: "basic 403 echo", auth: sinch.AuthBasic, api: func(w http.ResponseWriter, r *http.Request) { echo(w, r, 403) }, wantErr: true},
		{name: "list reset", token: okToken, api: resetConn(t),
			call: func(c *sinch.Client) error {
				_, err := c.ListMessages(context.Background(), sinch.ListMessagesParams{ChannelIdentity: testPhone})
				return err
			}, wantErr: true},
		{name: "success", token: okToken, api: sendOK},
		{name: "list success", token: okToken, api: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"messages":[{"id":"m1","contact_message":{"text_message":{"text":"hello there"}}}]}`)
		}, call: func(c *sinch.Client) error {
			for _, err := range c.Messages(context.Background(), sinch.ListMessagesParams{ChannelIdentity: testPhone}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, fl := range flows {
		t.Run(fl.name, func(t *testing.T) {
			f := newFake(t, fl.api)
			if fl.token != nil {
				f.token = fl.token
			}
			var logs logbuf.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := f.client(t, func(cfg *sinch.Config) {
				cfg.Logger = logger
				cfg.Auth = fl.auth
			})
			call := fl.call
			if call == nil {
				call = func(c *sinch.Client) error { _, err := send(t, c); return err }
			}
			err := call(c)
			if (err != nil) != fl.wantErr {
				t.Fatalf("err: got %v, want error %v", err, fl.wantErr)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
					assertNoSecret(t, "error "+verb, fmt.Sprintf(verb, e), secrets)
				}
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error(), []string{testPhone})
			}
			if f.apiCalls.Load() > 0 && logs.Len() == 0 {
				t.Errorf("logs: got none, want debug lines (the check would prove nothing)")
			}
			assertNoSecret(t, "logs", logs.String(), append(secrets, testPhone, "hello there"))
		})
	}
}

func assertNoSecret(t *testing.T, what, s string, secrets []string) {
	t.Helper()
	for _, x := range secrets {
		if strings.Contains(s, x) {
			t.Errorf("%s contains %q: %s", what, x, s)
		}
	}
}

func resetConn(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		_ = conn.Close()
	}
}

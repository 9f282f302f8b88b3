package sinch_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// sendPaths are SendMessage's two transports: fasthttp by default, and
// net/http when the caller supplies an HTTPClient or a proxy applies
// (direct.go). The send tests run on both.
var sendPaths = []struct {
	name   string
	direct bool
	mods   []func(*sinch.Config)
}{
	{"direct", true, nil},
	{"net-http", false, []func(*sinch.Config){func(c *sinch.Config) { c.HTTPClient = &http.Client{} }}},
}

// pathClient is f's client on path, checked to use that transport.
func pathClient(t *testing.T, f *fake, direct bool, mods ...func(*sinch.Config)) *sinch.Client {
	t.Helper()
	c := f.client(t, mods...)
	if got := sinch.SendsDirect(c); got != direct {
		t.Fatalf("SendsDirect: got %v, want %v", got, direct)
	}
	return c
}

func TestSendMessage(t *testing.T) {
	for _, path := range sendPaths {
		t.Run(path.name, func(t *testing.T) { testSendMessage(t, path.direct, path.mods...) })
	}
}

func testSendMessage(t *testing.T, direct bool, mods ...func(*sinch.Config)) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.Method+" "+r.URL.Path, "POST /v1/projects/"+testProject+"/messages:send"; got != want {
			t.Errorf("request: got %q, want %q", got, want)
		}
		if got, want := r.Header.Get("Authorization"), "Bearer tok-1"; got != want {
			t.Errorf("Authorization: got %q, want %q", got, want)
		}
		if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
			t.Errorf("Content-Type: got %q, want %q", got, want)
		}
		body := decodeBody(t, r)
		if got, want := body["app_id"], testApp; got != want {
			t.Errorf("app_id: got %v, want %v (filled from the client)", got, want)
		}
		if got, want := body["ttl"], "86400s"; got != want {
			t.Errorf("ttl: got %v, want %v", got, want)
		}
		if got, want := body["queue"], "HIGH_PRIORITY"; got != want {
			t.Errorf("queue: got %v, want %v", got, want)
		}
		for _, absent := range []string{"callback_url", "conversation_metadata", "processing_strategy"} {
			if v, ok := body[absent]; ok {
				t.Errorf("%s: got %v, want it omitted", absent, v)
			}
		}
		if got, want := r.Header.Get("User-Agent"), "sinch-dispatch"; got != want {
			t.Errorf("User-Agent: got %q, want %q", got, want)
		}
		sendOK(w, r)
	})
	c := pathClient(t, f, direct, mods...)

	req := textRequest()
	req.AppID = ""
	req.TTL = sinch.TTL(24 * time.Hour)
	req.Queue = sinch.QueueHigh
	resp, err := c.SendMessage(context.Background(), req)
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if got, want := resp.MessageID, "01HMSG"; got != want {
		t.Errorf("MessageID: got %q, want %q", got, want)
	}
	if want := time.Date(2024, 6, 18, 12, 34, 56, 0, time.UTC); !resp.AcceptedTime.Equal(want) {
		t.Errorf("AcceptedTime: got %v, want %v", resp.AcceptedTime, want)
	}
	if req.AppID != "" {
		t.Errorf("the caller's request was modified: AppID got %q, want empty", req.AppID)
	}
}

func TestSendMessageInvalidRequestMakesNoCall(t *testing.T) {
	f := newFake(t, sendOK)
	c := f.client(t)
	req := textRequest()
	req.CorrelationID = strings.Repeat("x", sinch.MaxCorrelationIDLen+1)
	_, err := c.SendMessage(context.Background(), req)
	var ve *sinch.ValidationError
	if !errors.As(err, &ve) || ve.Field != "correlation_id" {
		t.Fatalf("err: got %v, want a ValidationError for correlation_id", err)
	}
	if !sinch.IsPermanent(err) {
		t.Errorf("IsPermanent: got false, want true")
	}
	if got := f.apiCalls.Load() + f.tokenCalls.Load(); got != 0 {
		t.Errorf("requests: got %d, want 0", got)
	}
}

func TestTokenSharedByConcurrentSends(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if got, want := bearer(r), "tok-1"; got != want {
			t.Errorf("token: got %q, want %q", got, want)
		}
		sendOK(w, r)
	})
	const n = 64
	started := holdFirstToken(f, n) // every sender piles up on the first fetch
	c := f.client(t)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			started.Add(1)
			_, err := send(t, c)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("SendMessage: %v", err)
		}
	}
	if got, want := f.tokenCalls.Load(), int64(1); got != want {
		t.Errorf("token requests: got %d, want %d", got, want)
	}
	if got, want := f.apiCalls.Load(), int64(n); got != want {
		t.Errorf("API requests: got %d, want %d", got, want)
	}
}

// holdFirstToken makes the fake's first token request wait (up to 10s)
// until n senders have counted themselves in the returned counter, so they
// all ask for a token while that first fetch is under way.
func holdFirstToken(f *fake, n int64) *atomic.Int64 {
	var started atomic.Int64
	var first sync.Once
	issue := f.token
	f.token = func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() { testwait.Until(10*time.Second, func() bool { return started.Load() == n }) })
		issue(w, r)
	}
	return &started
}

func TestTokenReuseAndRefresh(t *testing.T) {
	tests := []struct {
		name       string
		expiresIn  int64
		sends      int
		wantTokens int64
	}{
		{"long-lived token is reused", 3600, 3, 1},
		// oauth2 treats a token as expired 10s before its expiry, so a
		// token valid for 1s is replaced before every call.
		{"expiring token is refreshed", 1, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen recorder
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				seen.add(bearer(r))
				sendOK(w, r)
			})
			f.expiresIn.Store(tt.expiresIn)
			c := f.client(t)
			for range tt.sends {
				if _, err := send(t, c); err != nil {
					t.Fatalf("SendMessage: %v", err)
				}
			}
			if got := f.tokenCalls.Load(); got != tt.wantTokens {
				t.Errorf("token requests: got %d, want %d", got, tt.wantTokens)
			}
			if got, want := seen.last(), "tok-"+strconv.FormatInt(tt.wantTokens, 10); got != want {
				t.Errorf("last token used: got %q, want %q", got, want)
			}
		})
	}
}

func TestUnauthorizedRefetchesTokenAndReplaysOnce(t *testing.T) {
	for _, path := range sendPaths {
		t.Run(path.name, func(t *testing.T) { testUnauthorizedReplaysOnce(t, path.direct, path.mods...) })
	}
}

func testUnauthorizedReplaysOnce(t *testing.T, direct bool, mods ...func(*sinch.Config)) {
	var bodies recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies.add(string(b))
		if bearer(r) == "tok-1" { // the server has revoked the first token
			writeJSON(w, http.StatusUnauthorized, `{"error":{"code":401,"message":"token expired","status":"UNAUTHENTICATED"}}`)
			return
		}
		sendOK(w, r)
	})
	c := pathClient(t, f, direct, mods...)

	if _, err := send(t, c); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if got, want := f.tokenCalls.Load(), int64(2); got != want {
		t.Errorf("token requests: got %d, want %d", got, want)
	}
	got := bodies.all()
	if len(got) != 2 {
		t.Fatalf("API requests: got %d, want 2", len(got))
	}
	if got[0] == "" || got[0] != got[1] {
		t.Errorf("replayed body: got %q, want %q", got[1], got[0])
	}
	// The new token is cached for later calls.
	if _, err := send(t, c); err != nil {
		t.Fatalf("second SendMessage: %v", err)
	}
	if got, want := f.tokenCalls.Load(), int64(2); got != want {
		t.Errorf("token requests after a second send: got %d, want %d", got, want)
	}
}

func TestUnauthorizedAfterRefreshIsPermanent(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":401,"message":"key revoked","status":"UNAUTHENTICATED"}}`)
	})
	c := f.client(t)

	_, err := send(t, c)
	var apiErr *sinch.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err: got %v, want an APIError with status 401", err)
	}
	if got, want := classify(err), (classes{permanent: true, unauthorized: true}); got != want {
		t.Errorf("classes: got %+v, want %+v", got, want)
	}
	if got, want := f.tokenCalls.Load(), int64(2); got != want {
		t.Errorf("token requests: got %d, want %d", got, want)
	}
	if got, want := f.apiCalls.Load(), int64(2); got != want {
		t.Errorf("API requests: got %d, want %d (one replay only)", got, want)
	}
}

// Many calls rejected with the same token must drop it once and share the
// one replacement.
func TestConcurrentUnauthorizedFetchOneNewToken(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) == "tok-1" {
			writeJSON(w, http.StatusUnauthorized, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`)
			return
		}
		sendOK(w, r)
	})
	const n = 20
	started := holdFirstToken(f, n) // all senders get tok-1 and its 401
	c := f.client(t)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			started.Add(1)
			if _, err := send(t, c); err != nil {
				t.Errorf("SendMessage: %v", err)
			}
		})
	}
	wg.Wait()
	if got, want := f.tokenCalls.Load(), int64(2); got != want {
		t.Errorf("token requests: got %d, want %d", got, want)
	}
}

func TestBasicAuth(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != testKeyID || pass != testSecret {
			t.Errorf("basic auth: got %q/%q (ok %v), want the key", user, pass, ok)
		}
		if s := int(status.Load()); s != http.StatusOK {
			writeJSON(w, s, `{"error":{"code":401,"message":"bad key","status":"UNAUTHENTICATED"}}`)
			return
		}
		sendOK(w, r)
	})
	c := f.client(t, func(cfg *sinch.Config) {
		cfg.Auth = sinch.AuthBasic
		cfg.TokenURL = "" // not used in basic mode
	})
	if _, err := send(t, c); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}

	status.Store(http.StatusUnauthorized)
	_, err := send(t, c)
	if got, want := classify(err), (classes{permanent: true, unauthorized: true}); got != want {
		t.Errorf("classes of 401: got %+v, want %+v (err %v)", got, want, err)
	}
	if got, want := f.apiCalls.Load(), int64(2); got != want {
		t.Errorf("API requests: got %d, want %d (no replay in basic mode)", got, want)
	}
	if got := f.tokenCalls.Load(); got != 0 {
		t.Errorf("token requests: got %d, want 0", got)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		wantCode   string
		want       classes
	}{
		{"bad credentials", 401, `{"error":"invalid_client","error_description":"client authentication failed"}`, 401, "invalid_client", classes{permanent: true, unauthorized: true}},
		{"bad request", 400, `{"error":"invalid_request"}`, 400, "invalid_request", classes{permanent: true}},
		{"server error", 500, `{"error":"server_error"}`, 500, "server_error", classes{retryable: true}},
		{"proxy page", 503, `<html>unavailable</html>`, 503, "", classes{retryable: true}},
		{"no access token", 200, `{"token_type":"bearer"}`, 0, "", classes{retryable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, sendOK)
			f.token = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tt.status, tt.body) }
			_, err := send(t, f.client(t))
			var te *sinch.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err: got %T %v, want *sinch.TokenError", err, err)
			}
			if te.StatusCode != tt.wantStatus || te.Code != tt.wantCode {
				t.Errorf("TokenError: got status %d code %q, want %d %q", te.StatusCode, te.Code, tt.wantStatus, tt.wantCode)
			}
			if got := classify(err); got != tt.want {
				t.Errorf("classes: got %+v, want %+v", got, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sinch: fetch access token") {
				t.Errorf("Error(): got %q, want the prefix %q", err, "sinch: fetch access token")
			}
			if got := f.apiCalls.Load(); got != 0 {
				t.Errorf("API requests: got %d, want 0", got)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		f := newFake(t, sendOK)
		c := f.client(t, func(cfg *sinch.Config) { cfg.TokenURL = "http://127.0.0.1:1/token" })
		_, err := send(t, c)
		var te *sinch.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("err: got %T %v, want *sinch.TransportError", err, err)
		}
		if got, want := classify(err), (classes{retryable: true}); got != want {
			t.Errorf("classes: got %+v, want %+v", got, want)
		}
	})
}

func TestAPIErrors(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		wantCode    int
		wantStatus  string
		wantMessage string // substring
		wantDetails []sinch.ErrorDetail
		retryAfter  [2]time.Duration // inclusive range
		want        classes
	}{
		{
			name: "400 envelope", status: 400,
			body:     `{"error":{"code":400,"message":"Invalid argument recipient","status":"INVALID_ARGUMENT","details":[{"type_url":"type.googleapis.com/google.rpc.BadRequest","value":"recipient"}]}}`,
			wantCode: 400, wantStatus: "INVALID_ARGUMENT", wantMessage: "Invalid argument recipient",
			wantDetails: []sinch.ErrorDetail{{TypeURL: "type.googleapis.com/google.rpc.BadRequest", Value: "recipient"}},
			want:        classes{permanent: true},
		},
		{
			name: "400 detail value that is not a string", status: 400,
			body:     `{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT","details":[{"type_url":"t","value":{"field":"ttl"}}]}}`,
			wantCode: 400, wantStatus: "INVALID_ARGUMENT", wantMessage: "bad",
			wantDetails: []sinch.ErrorDetail{{TypeURL: "t", Value: `{"field":"ttl"}`}},
			want:        classes{permanent: true},
		},
		{
			name: "403", status: 403,
			body:     `{"error":{"code":403,"message":"Channel not enabled","status":"PERMISSION_DENIED"}}`,
			wantCode: 403, wantStatus: "PERMISSION_DENIED", wantMessage: "Channel not enabled",
			want: classes{permanent: true},
		},
		{
			name: "404", status: 404,
			body:     `{"error":{"code":404,"message":"app not found","status":"NOT_FOUND"}}`,
			wantCode: 404, wantStatus: "NOT_FOUND", wantMessage: "app not found",
			want: classes{permanent: true},
		},
		{
			name: "429 retry-after seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body:     `{"error":{"code":429,"message":"Too many requests","status":"RESOURCE_EXHAUSTED"}}`,
			wantCode: 429, wantStatus: "RESOURCE_EXHAUSTED", wantMessage: "Too many requests",
			retryAfter: [2]time.Duration{7 * time.Second, 7 * time.Second},
			want:       classes{rateLimited: true},
		},
		{
			name: "429 retry-after http-date", status: 429, header: map[string]string{"Retry-After": httpDate},
			body:     `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`,
			wantCode: 429, wantStatus: "RESOURCE_EXHAUSTED", wantMessage: "slow down",
			retryAfter: [2]time.Duration{80 * time.Second, 90 * time.Second},
			want:       classes{rateLimited: true},
		},
		{
			name: "429 without retry-after", status: 429, body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`,
			wantCode: 429, wantStatus: "RESOURCE_EXHAUSTED", wantMessage: "Too Many Requests",
			want: classes{rateLimited: true},
		},
		{
			name: "500", status: 500,
			body:     `{"error":{"code":500,"message":"internal","status":"INTERNAL"}}`,
			wantCode: 500, wantStatus: "INTERNAL", wantMessage: "internal",
			want: classes{retryable: true},
		},
		{
			name: "503 with retry-after", status: 503, header: map[string]string{"Retry-After": "30"},
			body:     `{"error":{"code":503,"message":"unavailable","status":"UNAVAILABLE"}}`,
			wantCode: 503, wantStatus: "UNAVAILABLE", wantMessage: "unavailable",
			retryAfter: [2]time.Duration{30 * time.Second, 30 * time.Second},
			want:       classes{retryable: true},
		},
		{
			name: "502 html from a proxy", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body:        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
			wantMessage: "Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>",
			want:        classes{retryable: true},
		},
		{
			name: "oversized body", status: 500, body: strings.Repeat("x", 1<<20),
			wantMessage: "Internal Server Error: xxxx",
			want:        classes{retryable: true},
		},
		{
			// The envelope starts past the 64 KiB read limit, so it is not seen.
			name: "envelope beyond the read limit", status: 500,
			body:        strings.Repeat(" ", 64<<10) + `{"error":{"code":500,"message":"late","status":"INTERNAL"}}`,
			wantMessage: "Internal Server Error",
			want:        classes{retryable: true},
		},
		{
			name: "empty body", status: 404,
			wantMessage: "Not Found",
			want:        classes{permanent: true},
		},
		{
			name: "408", status: 408, wantMessage: "Request Timeout",
			want: classes{retryable: true},
		},
	}
	for _, path := range sendPaths {
		for _, tt := range tests {
			t.Run(path.name+"/"+tt.name, func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
				})
				_, err := send(t, pathClient(t, f, path.direct, path.mods...))
				var apiErr *sinch.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("err: got %T %v, want *sinch.APIError", err, err)
				}
				if apiErr.StatusCode != tt.status || apiErr.Code != tt.wantCode || apiErr.Status != tt.wantStatus {
					t.Errorf("got status %d code %d %q, want %d %d %q",
						apiErr.StatusCode, apiErr.Code, apiErr.Status, tt.status, tt.wantCode, tt.wantStatus)
				}
				if !strings.Contains(apiErr.Message, tt.wantMessage) {
					t.Errorf("Message: got %q, want it to contain %q", apiErr.Message, tt.wantMessage)
				}
				if len(apiErr.Message) > 300 {
					t.Errorf("Message: got %d bytes, want at most 300", len(apiErr.Message))
				}
				if !slices.Equal(apiErr.Details, tt.wantDetails) {
					t.Errorf("Details: got %+v, want %+v", apiErr.Details, tt.wantDetails)
				}
				if ra := sinch.RetryAfter(err); ra < tt.retryAfter[0] || ra > tt.retryAfter[1] {
					t.Errorf("RetryAfter: got %s, want between %s and %s", ra, tt.retryAfter[0], tt.retryAfter[1])
				}
				if got := classify(err); got != tt.want {
					t.Errorf("classes: got %+v, want %+v", got, tt.want)
				}
				if want := "sinch: send message: http " + strconv.Itoa(tt.status); !strings.HasPrefix(err.Error(), want) {
					t.Errorf("Error(): got %q, want the prefix %q", err, want)
				}
				if got := f.apiCalls.Load(); got != 1 {
					t.Errorf("API requests: got %d, want 1 (the client must not retry)", got)
				}
			})
		}
	}
}

func TestTransportErrors(t *testing.T) {
	hijack := func(linger bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if linger {
				_ = conn.(*net.TCPConn).SetLinger(0) // close with RST
			}
			_ = conn.Close()
		}
	}
	hang := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	truncated := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"message_id":"01H`)
	}

	tests := []struct {
		name        string
		handler     http.HandlerFunc
		timeout     time.Duration                                // Config.Timeout
		ctx         func() (context.Context, context.CancelFunc) // caller's context
		wantIs      error                                        // errors.Is target, if any
		wantTimeout bool
		want        classes
		transport   bool // want a *TransportError
	}{
		{name: "connection reset", handler: hijack(true), want: classes{retryable: true}, transport: true},
		{name: "connection closed (EOF)", handler: hijack(false), want: classes{retryable: true}, transport: true},
		{name: "body cut short", handler: truncated, want: classes{retryable: true}, transport: true},
		{name: "client timeout", handler: hang, timeout: 100 * time.Millisecond,
			wantTimeout: true, want: classes{retryable: true}, transport: true},
		{name: "caller cancels", handler: hang, wantIs: context.Canceled,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			}},
		{name: "caller deadline", handler: hang, wantIs: context.DeadlineExceeded,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			}},
	}
	for _, path := range sendPaths {
		for _, tt := range tests {
			t.Run(path.name+"/"+tt.name, func(t *testing.T) {
				f := newFake(t, tt.handler)
				c := pathClient(t, f, path.direct, append(slices.Clip(path.mods), func(cfg *sinch.Config) {
					if tt.timeout != 0 {
						cfg.Timeout = tt.timeout
					}
				})...)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if tt.ctx != nil {
					ctx, cancel = tt.ctx()
				}
				defer cancel()
				start := time.Now()
				_, err := c.SendMessage(ctx, textRequest())
				if err == nil {
					t.Fatal("err: got nil, want an error")
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %s, want well under the handler's 10s", d)
				}
				var te *sinch.TransportError
				if got := errors.As(err, &te); got != tt.transport {
					t.Errorf("is *TransportError: got %v, want %v (err %v)", got, tt.transport, err)
				}
				if tt.transport && te.Timeout() != tt.wantTimeout {
					t.Errorf("Timeout(): got %v, want %v", te.Timeout(), tt.wantTimeout)
				}
				if tt.wantIs != nil {
					if !errors.Is(err, tt.wantIs) {
						t.Errorf("errors.Is(err, %v): got false, want true (err %v)", tt.wantIs, err)
					}
					if !errors.Is(err, ctx.Err()) {
						t.Errorf("errors.Is(err, ctx.Err()): got false, want true")
					}
				}
				if got := classify(err); got != tt.want {
					t.Errorf("classes: got %+v, want %+v (err %v)", got, tt.want, err)
				}
				if !strings.HasPrefix(err.Error(), "sinch: send message: ") {
					t.Errorf("Error(): got %q, want the prefix %q", err, "sinch: send message: ")
				}
				if got := f.apiCalls.Load(); got != 1 {
					t.Errorf("API requests: got %d, want 1", got)
				}
			})
		}
	}
}

func TestCancelWhileWaitingForToken(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, sendOK)
	issue := f.token
	f.token = func(w http.ResponseWriter, r *http.Request) {
		<-release
		issue(w, r)
	}
	t.Cleanup(func() { close(release) }) // runs before the server closes

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.client(t).SendMessage(ctx, textRequest())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err: got %v, want context.DeadlineExceeded", err)
	}
	if sinch.IsRetryable(err) {
		t.Errorf("IsRetryable: got true, want false for the caller's own deadline")
	}
}

func TestRequestsStayUnderBasePathPrefix(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"id":"`+testApp+`"}`)
	})
	c := f.client(t, func(cfg *sinch.Config) { cfg.BaseURL += "/" }) // a trailing slash changes nothing
	if _, err := c.GetApp(context.Background()); err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if _, err := c.NewRequest(http.MethodGet, "/v1/projects", nil); err == nil {
		t.Errorf("NewRequest with an absolute path: got nil error, want one")
	}
}

// recorder collects values from handler goroutines.
type recorder struct {
	mu     sync.Mutex
	values []string
}

func (r *recorder) add(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.values)
}

func (r *recorder) last() string {
	all := r.all()
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

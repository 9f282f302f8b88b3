package sinchsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Config.Clock that only moves when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 2, 22, 7, 40, 46, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sim is a Server behind a real HTTP server, with a plain client.
type sim struct {
	*Server
	URL    string
	client *http.Client
}

// newSim starts a simulator; the rate limit is off unless cfg sets one,
// so tests exercise one thing at a time.
func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return &sim{Server: srv, URL: ts.URL, client: ts.Client()}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

// errorEnvelope decodes Sinch's error envelope.
func (r response) envelope(t *testing.T) errorEnvelope {
	t.Helper()
	var e errorEnvelope
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error envelope %s: %v", r.body, err)
	}
	return e
}

// basicAuth marks a request to use the default access key.
var basicAuth = func(r *http.Request) { r.SetBasicAuth(DefaultKeyID, DefaultKeySecret) }

// do sends a request and reads the whole answer; a transport error is
// returned, not fatal, since fault tests expect them.
func (s *sim) do(t *testing.T, method, path string, body string, auth func(*http.Request)) (response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// mustDo is do for requests that must get an answer.
func (s *sim) mustDo(t *testing.T, method, path, body string, auth func(*http.Request)) response {
	t.Helper()
	r, err := s.do(t, method, path, body, auth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

const sendPath = "/v1/projects/" + DefaultProjectID + "/messages:send"
const listPath = "/v1/projects/" + DefaultProjectID + "/messages"

// sendBody is a valid text message to an SMS identity, in DISPATCH_ONLY
// mode, with extra top-level members appended.
func sendBody(identity string, extra ...string) string {
	fields := append([]string{
		`"app_id":"` + DefaultAppID + `"`,
		`"recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"` + identity + `"}]}}`,
		`"message":{"text_message":{"text":"hello"}}`,
		`"processing_strategy":"DISPATCH_ONLY"`,
	}, extra...)
	return "{" + strings.Join(fields, ",") + "}"
}

// send posts body and requires a 200, returning message_id and accepted_time.
func (s *sim) send(t *testing.T, body string) (id, acceptedTime string) {
	t.Helper()
	r := s.mustDo(t, http.MethodPost, sendPath, body, basicAuth)
	if r.status != http.StatusOK {
		t.Fatalf("send: got status %d (%s), want 200", r.status, r.body)
	}
	var sr sendResponse
	if err := json.Unmarshal(r.body, &sr); err != nil {
		t.Fatal(err)
	}
	return sr.MessageID, sr.AcceptedTime
}

// list GETs messages with query q and requires a 200.
func (s *sim) list(t *testing.T, q url.Values) listResponseJSON {
	t.Helper()
	r := s.mustDo(t, http.MethodGet, listPath+"?"+q.Encode(), "", basicAuth)
	if r.status != http.StatusOK {
		t.Fatalf("list %v: got status %d (%s), want 200", q, r.status, r.body)
	}
	var lr listResponseJSON
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	return lr
}

// listResponseJSON decodes a list answer the way a client would.
type listResponseJSON struct {
	Messages []struct {
		ID              string          `json:"id"`
		Direction       string          `json:"direction"`
		AppMessage      json.RawMessage `json:"app_message"`
		ContactMessage  *contactJSON    `json:"contact_message"`
		ChannelIdentity channelIdentity `json:"channel_identity"`
		ConversationID  string          `json:"conversation_id"`
		ContactID       string          `json:"contact_id"`
		Metadata        string          `json:"metadata"`
		AcceptTime      string          `json:"accept_time"`
		ProcessingMode  string          `json:"processing_mode"`
		Injected        bool            `json:"injected"`
		MessageStatus   *messageStatus  `json:"message_status"`
	} `json:"messages"`
	NextPageToken *string `json:"next_page_token"`
}

type contactJSON struct {
	TextMessage *struct {
		Text string `json:"text"`
	} `json:"text_message"`
	FallbackMessage json.RawMessage `json:"fallback_message"`
	ReplyTo         *struct {
		MessageID string `json:"message_id"`
	} `json:"reply_to"`
}

func (l listResponseJSON) ids() []string {
	out := make([]string, len(l.Messages))
	for i, m := range l.Messages {
		out[i] = m.ID
	}
	return out
}

func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func phone(i int) string { return fmt.Sprintf("+4670%07d", i) }

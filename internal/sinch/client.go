// Package sinch is a client for the Sinch Conversation API: sending messages,
// listing, reading and deleting them, and reading the app's settings.
//
// The client never retries on its own, except once after a 401 with a fresh
// OAuth2 token. Failures are typed (*APIError, *TokenError, *TransportError,
// *ValidationError, or the caller's context error) and sorted by
// IsRateLimited, IsRetryable, IsPermanent and IsUnauthorized, so the caller
// (a job queue) decides what happens next.
package sinch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const userAgent = "sinch-dispatch"

// Client calls the Conversation API for one project and app. It is safe for
// concurrent use; all calls share one cached access token.
type Client struct {
	projectID string
	appID     string
	baseURL   *url.URL // ends in "/"
	hc        *http.Client
	logger    *slog.Logger

	direct *directSender // SendMessage's transport; nil: net/http (direct.go)

	tokens    *tokenCache // nil with AuthBasic
	basicAuth string      // Authorization value with AuthBasic
	secrets   []string    // scrubbed from server-supplied error text
}

// New validates cfg and returns a Client. It makes no network calls.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base, err := cfg.baseURL()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: cfg.Timeout, Transport: bulkTransport()}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		copied.Timeout = cfg.Timeout
		hc = &copied
	}
	c := &Client{
		projectID: cfg.ProjectID,
		appID:     cfg.AppID,
		baseURL:   base,
		hc:        hc,
		logger:    cfg.Logger,
		secrets:   credentialForms(cfg.KeyID, cfg.KeySecret),
	}
	c.direct = newDirectSender(cfg, c, http.ProxyFromEnvironment)
	if cfg.Auth == AuthOAuth2 {
		c.tokens = newTokenCache(cfg, hc, c.secrets)
	} else {
		c.basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.KeyID+":"+cfg.KeySecret))
	}
	return c, nil
}

// maxIdlePerHost keeps enough warm connections for hundreds of sends in
// flight to the one API host. http.DefaultTransport keeps 2, so a bulk
// sender would open (and leave in TIME_WAIT) a connection per request.
const maxIdlePerHost = 512

func bulkTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxIdlePerHost
	t.MaxIdleConnsPerHost = maxIdlePerHost
	return t
}

// ProjectID returns the project the client calls.
func (c *Client) ProjectID() string { return c.projectID }

// AppID returns the configured app ID.
func (c *Client) AppID() string { return c.appID }

// BaseURL returns the API root the client calls, ending in "/".
func (c *Client) BaseURL() string { return c.baseURL.String() }

// NewRequest builds an API request. path is relative to the base URL and has
// no leading slash (e.g. "v1/projects/p/messages"), so a base URL path prefix
// is kept. A non-nil body is sent as JSON and can be replayed.
func (c *Client) NewRequest(method, path string, body any) (*http.Request, error) {
	if body == nil {
		return c.newRequest(method, path, nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("sinch: encode request: %w", err)
	}
	return c.newRequest(method, path, b)
}

// newRequest is NewRequest with its body already encoded (nil: none).
func (c *Client) newRequest(method, path string, body []byte) (*http.Request, error) {
	if strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("sinch: request path %q must be relative to the base URL", path)
	}
	u, err := c.baseURL.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("sinch: request path: %w", err)
	}
	var buf io.Reader
	if body != nil {
		buf = bytes.NewReader(body) // sets GetBody, used by the 401 replay
	}
	req, err := http.NewRequest(method, u.String(), buf)
	if err != nil {
		return nil, fmt.Errorf("sinch: new request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// Do sends req with credentials and decodes a 2xx JSON body into v (unless v
// is nil). A non-2xx answer is returned as *APIError together with the
// response, whose body is already closed.
func (c *Client) Do(ctx context.Context, req *http.Request, v any) (*http.Response, error) {
	return c.do(ctx, strings.ToLower(req.Method)+" "+req.URL.Path, req, v)
}

// do is Do with an operation name for errors and logs. With OAuth2, a 401 makes
// it drop the token, fetch a new one and send the request once more.
func (c *Client) do(ctx context.Context, op string, req *http.Request, v any) (*http.Response, error) {
	resp, tok, err := c.send(ctx, op, req, false)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && c.tokens != nil && replayable(req) {
		discard(resp)
		c.tokens.invalidate(tok)
		c.logger.Debug("sinch access token rejected; retrying once with a new one", "op", op)
		if resp, tok, err = c.send(ctx, op, req, true); err != nil {
			return nil, err
		}
	}
	defer discard(resp)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, newAPIError(op, resp, c.errorSecrets(tok))
	}
	if v == nil {
		return resp, nil
	}
	body := &readErrRecorder{r: resp.Body}
	if err := json.NewDecoder(body).Decode(v); err != nil && err != io.EOF { // EOF: empty body
		if body.err != nil {
			return resp, c.transportError(ctx, op, body.err)
		}
		return resp, fmt.Errorf("sinch: %s: decode response: %w", op, err)
	}
	return resp, nil
}

// send makes one authenticated attempt. It returns the token it used, so a
// 401 can invalidate exactly that one.
func (c *Client) send(ctx context.Context, op string, req *http.Request, replay bool) (*http.Response, *oauth2.Token, error) {
	r := req.Clone(ctx)
	if replay && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("sinch: %s: replay body: %w", op, err)
		}
		r.Body = body
	}
	auth, tok, err := c.authorization(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	r.Header.Set("Authorization", auth)

	start := time.Now()
	resp, err := c.hc.Do(r)
	if err != nil {
		return nil, nil, c.transportError(ctx, op, err)
	}
	c.logger.Debug("sinch call", "op", op, "status", resp.StatusCode, "duration", time.Since(start), "replay", replay)
	return resp, tok, nil
}

// authorization is the Authorization header of one attempt, and the
// OAuth2 token in it (nil with AuthBasic).
func (c *Client) authorization(ctx context.Context, op string) (string, *oauth2.Token, error) {
	if c.tokens == nil {
		return c.basicAuth, nil, nil
	}
	t, err := c.tokens.token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, fmt.Errorf("sinch: %s: %w", op, ctx.Err())
		}
		return "", nil, err
	}
	return "Bearer " + t.AccessToken, t, nil
}

// errorSecrets are what an error of an answer to a request made with tok
// must not show: the credentials and tok.
func (c *Client) errorSecrets(tok *oauth2.Token) []string {
	if tok == nil {
		return c.secrets
	}
	return append(slices.Clip(c.secrets), tok.AccessToken)
}

// transportError classifies a failed exchange: the caller's context ending
// wins (so errors.Is(err, context.Canceled) holds and it is not retryable);
// anything else is a *TransportError.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sinch: %s: %w", op, ctx.Err())
	}
	// url.Error prints the URL; list queries can carry a phone number.
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL, _, _ = strings.Cut(ue.URL, "?")
	}
	return &TransportError{Op: op, Err: err}
}

// projectPath is the request path of a project resource.
func (c *Client) projectPath(elem ...string) string {
	return "v1/projects/" + url.PathEscape(c.projectID) + "/" + strings.Join(elem, "/")
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// discard drains a little of the body, so the connection can be reused, and
// closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
}

// readErrRecorder remembers a read failure, telling a broken connection
// (retryable) apart from a body that is not the expected JSON.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (e *readErrRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

package sinch

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"

	"github.com/sinch-dispatch/sinch-dispatch/internal/rawconn"
)

// The send path. A worker makes one messages:send call per recipient, and
// at the rate limit net/http's client machinery (a reader and a writer
// goroutine per connection and three goroutine handoffs per request, a
// cloned request, header maps, a streaming decoder) was about a third of
// the worker's CPU per send. So SendMessage goes through fasthttp, which
// writes the request and reads the answer in one goroutine from pooled
// buffers: about an eighth less CPU per send (BENCHMARKS.md, figure 3).
// It keeps the client's contract: one
// attempt (never retried by the transport), once more after a 401 with a
// fresh token, Config.Timeout per attempt, the caller's context ending the
// wait, and the same typed errors. Everything else (lists, apps, the
// token, the public Do) stays on net/http, and so does the send when
// Config.HTTPClient is set or a proxy (HTTPS_PROXY and the like) applies.

// directSender makes SendMessage's calls.
type directSender struct {
	hc      *fasthttp.Client
	url     string // the messages:send URL
	timeout time.Duration
}

// newDirectSender returns the sender of client c, or nil when the send
// must go through net/http: a caller's own HTTPClient, or a proxy for the
// API's URL (proxy is how net/http picks one: http.ProxyFromEnvironment).
func newDirectSender(cfg Config, c *Client, proxy func(*http.Request) (*url.URL, error)) *directSender {
	if cfg.HTTPClient != nil {
		return nil
	}
	u, err := c.baseURL.Parse(c.projectPath("messages:send"))
	if err != nil {
		return nil
	}
	if p, err := proxy(&http.Request{URL: u}); err != nil || p != nil {
		return nil
	}
	return &directSender{
		url:     u.String(),
		timeout: cfg.Timeout,
		hc: &fasthttp.Client{
			NoDefaultUserAgentHeader: true,
			// fasthttp's own dial (dual stack, as net/http), with raw
			// reads and writes (rawconn); TLS goes on top of it.
			DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
				dial := fasthttp.DialDualStack
				if timeout > 0 {
					dial = func(addr string) (net.Conn, error) { return fasthttp.DialDualStackTimeout(addr, timeout) }
				}
				c, err := dial(addr)
				if err != nil {
					return nil, err
				}
				return rawconn.Wrap(c), nil
			},
			DisablePathNormalizing: true, // send the URL exactly as built
			// Connections as needed, as net/http opens them; the most
			// recently used first, so a slow app keeps few warm ones.
			MaxConnsPerHost:     1 << 16,
			ConnPoolStrategy:    fasthttp.LIFO,
			MaxIdleConnDuration: 30 * time.Second,
			MaxResponseBodySize: 1 << 20,
			// A send is made once: a failed attempt is in doubt, and only
			// the caller (the job queue) decides whether to try again.
			RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		},
	}
}

// exchange is one answer of the API.
type exchange struct {
	status     int
	retryAfter string
	body       []byte // owned by the caller
}

// sendDirect posts body to messages:send through c.direct and decodes a
// 2xx answer into out, as do would.
func (c *Client) sendDirect(ctx context.Context, body []byte, out *SendMessageResponse) error {
	const op = "send message"
	ex, tok, err := c.direct.post(ctx, c, op, body, false)
	if err != nil {
		return err
	}
	if ex.status == http.StatusUnauthorized && c.tokens != nil {
		c.tokens.invalidate(tok)
		c.logger.Debug("sinch access token rejected; retrying once with a new one", "op", op)
		if ex, tok, err = c.direct.post(ctx, c, op, body, true); err != nil {
			return err
		}
	}
	if ex.status < 200 || ex.status > 299 {
		return apiError(op, ex.status, ex.retryAfter, ex.body, c.errorSecrets(tok))
	}
	if len(ex.body) == 0 {
		return nil // an empty body decodes to nothing, as with do
	}
	if err := json.Unmarshal(ex.body, out); err != nil {
		return fmt.Errorf("sinch: %s: decode response: %w", op, err)
	}
	return nil
}

// post makes one authenticated attempt, like Client.send.
func (d *directSender) post(ctx context.Context, c *Client, op string, body []byte, replay bool) (exchange, *oauth2.Token, error) {
	auth, tok, err := c.authorization(ctx, op)
	if err != nil {
		return exchange{}, nil, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(d.url)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", auth)
	req.SetBodyRaw(body)

	start := time.Now()
	deadline := start.Add(d.timeout)
	if ctx.Done() == nil {
		err = d.hc.DoDeadline(req, resp, deadline)
	} else {
		// fasthttp does not watch contexts: the exchange runs on its own,
		// and a caller whose context ends first stops waiting for it.
		done := make(chan error, 1)
		go func() { done <- d.hc.DoDeadline(req, resp, deadline) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			// req and resp stay with the exchange (no release): its
			// goroutine may still be using them.
			return exchange{}, nil, fmt.Errorf("sinch: %s: %w", op, ctx.Err())
		}
	}
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if err != nil {
		return exchange{}, nil, c.transportError(ctx, op, &url.Error{Op: "Post", URL: d.url, Err: err})
	}
	ex := exchange{status: resp.StatusCode(), body: slices.Clone(resp.Body())}
	if ex.status < 200 || ex.status > 299 {
		ex.retryAfter = string(resp.Header.Peek("Retry-After"))
	}
	c.logger.Debug("sinch call", "op", op, "status", ex.status, "duration", time.Since(start), "replay", replay)
	return ex, tok, nil
}

package sinch

import (
	"net/http"
	"net/url"
	"time"
)

// SetTokenClock makes c's token cache read the time from now, so tests can
// move a token towards its expiry without waiting.
func SetTokenClock(c *Client, now func() time.Time) {
	c.tokens.mu.Lock()
	c.tokens.now = now
	c.tokens.mu.Unlock()
}

// WaitTokenFetch returns once no token request of c is in flight.
func WaitTokenFetch(c *Client) {
	c.tokens.mu.Lock()
	f := c.tokens.inflight
	c.tokens.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// EncodeSendRequest is the request body SendMessage sends for r.
func EncodeSendRequest(r *SendMessageRequest) ([]byte, error) { return r.appendJSON(nil) }

// SendsDirect says whether c's SendMessage goes through fasthttp.
func SendsDirect(c *Client) bool { return c.direct != nil }

// SendsDirectWith says whether a client of cfg would send through fasthttp
// were proxy the environment's proxy rule.
func SendsDirectWith(cfg Config, proxy func(*http.Request) (*url.URL, error)) (bool, error) {
	c, err := New(cfg)
	if err != nil {
		return false, err
	}
	return newDirectSender(cfg.withDefaults(), c, proxy) != nil, nil
}

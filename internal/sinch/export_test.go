package sinch

import "time"

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

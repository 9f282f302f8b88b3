package sinch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxErrorBody bounds how much of an error response is read, so a proxy
	// answering with a huge page cannot make the client buffer it.
	maxErrorBody = 64 << 10
	// maxSnippet bounds the body excerpt kept in APIError.Message when the
	// body is not the JSON error envelope.
	maxSnippet = 200
)

// APIError is a non-2xx answer from the Conversation API. Callers branch with
// errors.As, or with IsRateLimited, IsRetryable, IsPermanent and IsUnauthorized.
type APIError struct {
	// Op is the call that failed, e.g. "send message".
	Op string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is error.code of the JSON envelope; 0 when the body was not one.
	Code int
	// Status is error.status of the envelope, e.g. "INVALID_ARGUMENT"; empty
	// when the body was not one.
	Status string
	// Message is error.message, or when the body was not the envelope (e.g.
	// an HTML page from a proxy) the status text and a short excerpt.
	Message string
	// Details is error.details.
	Details []ErrorDetail
	// RetryAfter is the Retry-After header (seconds or HTTP date); 0 if absent.
	RetryAfter time.Duration
}

// ErrorDetail is one entry of error.details.
type ErrorDetail struct {
	TypeURL string `json:"type_url"`
	Value   string `json:"value"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("sinch: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	fmt.Fprintf(&b, "http %d", e.StatusCode)
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// TokenError is a failed OAuth2 token request that got an HTTP answer. It
// keeps only the status and the OAuth2 error fields: the underlying
// oauth2.RetrieveError holds the raw body and the request with credentials.
type TokenError struct {
	// StatusCode is the token endpoint's HTTP status; 0 when oauth2 could not
	// use a 2xx answer (no access_token, unparsable body).
	StatusCode int
	// Code is the OAuth2 "error" field, e.g. "invalid_client".
	Code string
	// Description is the OAuth2 "error_description", or what was wrong with
	// the response.
	Description string
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("sinch: fetch access token")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": http %d", e.StatusCode)
	}
	for _, s := range []string{e.Code, e.Description} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	return b.String()
}

// TransportError is a call that got no usable HTTP answer: connection
// refused or reset, TLS failure, the Config.Timeout expiring, a body cut
// short. The request may or may not have reached Sinch.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return "sinch: " + e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the exchange ran out of time (Config.Timeout).
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// ValidationError is a request refused before it was sent.
type ValidationError struct {
	Field   string // JSON name, e.g. "recipient.identified_by"
	Problem string // e.g. "is required"
}

func (e *ValidationError) Error() string {
	return "sinch: invalid request: " + e.Field + " " + e.Problem
}

// IsRateLimited reports whether err is a 429 answer. Wait RetryAfter(err)
// before trying again.
func IsRateLimited(err error) bool {
	code, ok := statusCode(err)
	return ok && code == http.StatusTooManyRequests
}

// RetryAfter returns the Retry-After of an API error, or 0.
func RetryAfter(err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsRetryable reports whether the same request may succeed later: a 5xx or
// 408 answer, a transport failure (including Config.Timeout) or a token
// endpoint failure other than rejected credentials. It is false for 429 (see
// IsRateLimited) and when the caller's context ended.
func IsRetryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var tok *TokenError
	if errors.As(err, &tok) && tok.StatusCode == 0 {
		return true
	}
	code, ok := statusCode(err)
	return ok && (code >= 500 || code == http.StatusRequestTimeout)
}

// IsPermanent reports whether repeating the request cannot help: a 4xx answer
// other than 408 and 429 (so also 401 after the token refresh, and 403), a
// token request refused with a 4xx, or a request that failed validation.
func IsPermanent(err error) bool {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return true
	}
	code, ok := statusCode(err)
	return ok && code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// IsUnauthorized reports whether the credentials were rejected: a 401 from
// the API (after one token refresh), or the token endpoint refusing the key.
func IsUnauthorized(err error) bool {
	var tok *TokenError
	if errors.As(err, &tok) && tok.Code == "invalid_client" {
		return true
	}
	code, ok := statusCode(err)
	return ok && code == http.StatusUnauthorized
}

// statusCode returns the HTTP status of an API or token error.
func statusCode(err error) (int, bool) {
	var api *APIError
	if errors.As(err, &api) {
		return api.StatusCode, true
	}
	var tok *TokenError
	if errors.As(err, &tok) && tok.StatusCode != 0 {
		return tok.StatusCode, true
	}
	return 0, false
}

// newAPIError reads a non-2xx response. Occurrences of secrets in the body
// (a server echoing a header back) are replaced before they reach the error.
func newAPIError(op string, resp *http.Response, secrets []string) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a partial body still helps
	return apiError(op, resp.StatusCode, resp.Header.Get("Retry-After"), body, secrets)
}

// apiError is the *APIError of an answer with status, its Retry-After
// header and its body (at most maxErrorBody of it is read).
func apiError(op string, status int, retryAfter string, body []byte, secrets []string) *APIError {
	body = body[:min(len(body), maxErrorBody)]
	e := &APIError{
		Op:         op,
		StatusCode: status,
		RetryAfter: parseRetryAfter(retryAfter, time.Now()),
	}

	var env struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				TypeURL string          `json:"type_url"`
				Value   json.RawMessage `json:"value"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		e.Code, e.Status, e.Message = env.Error.Code, env.Error.Status, env.Error.Message
		for _, d := range env.Error.Details {
			// value is a string in the spec; keep any other JSON as text.
			var v string
			if json.Unmarshal(d.Value, &v) != nil {
				v = string(d.Value)
			}
			e.Details = append(e.Details, ErrorDetail{TypeURL: redact(d.TypeURL, secrets), Value: redact(v, secrets)})
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
		if env.Error == nil {
			if s := snippet(body); s != "" {
				e.Message = strings.TrimPrefix(e.Message+": "+s, ": ")
			}
		}
	}
	e.Message = redact(e.Message, secrets)
	return e
}

// snippet is a one-line excerpt of a body for error messages.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= maxSnippet {
		return s
	}
	return string([]rune(s)[:maxSnippet]) + "…"
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP date. Invalid
// or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxDuration/time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redact replaces each non-empty secret in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func apiErr(code int, retryAfter time.Duration) error {
	return fmt.Errorf("send: %w", &sinch.APIError{Op: "send message", StatusCode: code, RetryAfter: retryAfter})
}

func TestDecide(t *testing.T) {
	t.Parallel()
	transport := func(err error) error { return &sinch.TransportError{Op: "send message", Err: err} }
	tests := []struct {
		name            string
		err             error
		failuresBefore  int
		want            Decision
		wantAsynqFailed bool
	}{
		{"429 with Retry-After", apiErr(429, 7*time.Second), 0, Decision{Class: ClassRateLimited, Delay: 7 * time.Second}, false},
		{"429 without Retry-After", apiErr(429, 0), 0, Decision{Class: ClassRateLimited}, false},
		{"429 after the retry budget is spent is still only deferred", apiErr(429, 0), 10, Decision{Class: ClassRateLimited}, false},
		{"500", apiErr(500, 0), 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"503 on the last allowed retry", apiErr(503, 0), 9, Decision{Class: ClassRetry, Failure: true}, true},
		{"503 with the budget spent", apiErr(503, 0), 10, Decision{Class: ClassRetry, Failure: true, Archive: true}, true},
		{"408", apiErr(408, 0), 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"connection reset", transport(syscall.ECONNRESET), 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"unexpected EOF", transport(io.ErrUnexpectedEOF), 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"client timeout", transport(&net.DNSError{IsTimeout: true}), 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"400", apiErr(400, 0), 0, Decision{Class: ClassPermanent, Failure: true, Archive: true}, true},
		{"403", apiErr(403, 0), 0, Decision{Class: ClassPermanent, Failure: true, Archive: true}, true},
		{"404", apiErr(404, 0), 0, Decision{Class: ClassPermanent, Failure: true, Archive: true}, true},
		{"client-side validation", &sinch.ValidationError{Field: "ttl", Problem: "out of range"}, 0, Decision{Class: ClassPermanent, Failure: true, Archive: true}, true},
		{"401 after token refresh", apiErr(401, 0), 0, Decision{Class: ClassRevoked, Failure: true, Archive: true}, true},
		{"token endpoint rejects the key", &sinch.TokenError{StatusCode: 401, Code: "invalid_client"}, 0, Decision{Class: ClassRevoked, Failure: true, Archive: true}, true},
		{"token endpoint down", &sinch.TokenError{StatusCode: 503}, 0, Decision{Class: ClassRetry, Failure: true}, true},
		{"shutdown", fmt.Errorf("send: %w", context.Canceled), 0, Decision{Class: ClassInterrupted, Delay: time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.err, tc.failuresBefore, DefaultMaxRetry)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			// What Asynq sees: the handler wraps non-archived decisions in deferred.
			asErr := error(&deferred{err: tc.err, delay: got.Delay, failure: got.Failure})
			if got.Archive {
				asErr = fmt.Errorf("%w: %w", asynq.SkipRetry, tc.err)
			}
			if f := isFailure(asErr); f != tc.wantAsynqFailed {
				t.Fatalf("isFailure: got %v, want %v", f, tc.wantAsynqFailed)
			}
		})
	}
}

func TestRetryDelayHonoursRetryAfterElseBacksOff(t *testing.T) {
	t.Parallel()
	if d := retryDelay(3, &deferred{err: errors.New("x"), delay: 42 * time.Second}, nil); d != 42*time.Second {
		t.Fatalf("got %s, want the requested 42s", d)
	}
	for n, want := range map[int]time.Duration{0: time.Second, 3: 8 * time.Second, 20: 5 * time.Minute} {
		for range 20 {
			d := retryDelay(n, errors.New("boom"), nil)
			if d < want*3/4 || d > want*5/4 {
				t.Fatalf("backoff(%d): got %s, want %s ±25%%", n, d, want)
			}
		}
	}
}

func TestMuxRoutesEveryTaskType(t *testing.T) {
	t.Parallel()
	h := &SendHandler{}
	mux := NewMux(h)
	for _, typ := range Types {
		got, pattern := mux.Handler(asynq.NewTask(typ, nil))
		if pattern != typ || got == nil {
			t.Errorf("type %q: routed to pattern %q, want its own handler", typ, pattern)
		}
	}
	// No type may be a prefix of another: ServeMux routes by longest prefix.
	for _, a := range Types {
		for _, b := range Types {
			if a != b && len(a) < len(b) && b[:len(a)] == a {
				t.Errorf("task type %q is a prefix of %q", a, b)
			}
		}
	}
}

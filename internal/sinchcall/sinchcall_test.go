package sinchcall_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

const rate = 1000

type env struct {
	client    *sinch.Client
	limiter   *ratelimit.Limiter
	throttled atomic.Int64 // Throttled calls, through ratelimit.Config.OnThrottled
}

// newEnv serves a simulator that allows one request and then answers 429
// with Retry-After 4s (0.25 requests/s, burst 1).
func newEnv(t *testing.T) *env { return newEnvAt(t, 0.25) }

// newEnvAt is newEnv with the simulator allowing limit requests/s.
func newEnvAt(t *testing.T, limit float64) *env {
	t.Helper()
	r := redistest.New(t)
	_, url := sinchsimtest.Serve(t, sinchsim.Config{RateLimit: limit, RateBurst: 1})
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{client: client}
	e.limiter, err = ratelimit.New(r.Client, ratelimit.Config{Key: "t", Rate: rate, OnThrottled: func() { e.throttled.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) getApp(ctx context.Context) error {
	_, err := e.client.GetApp(ctx)
	return err
}

func TestDoReportsA429ToTheLimiter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sinchcall.New(e.limiter, 0)
	if err := c.Do(ctx, e.getApp); err != nil {
		t.Fatalf("first call: got %v, want nil", err)
	}
	if got := e.throttled.Load(); got != 0 {
		t.Errorf("after an accepted call: got %d Throttled calls, want 0", got)
	}

	err := c.Do(ctx, e.getApp)
	var apiErr *sinch.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.RetryAfter < time.Second {
		t.Fatalf("second call: got %v, want the simulator's 429 with a Retry-After of seconds", err)
	}
	if got := e.throttled.Load(); got != 1 {
		t.Errorf("after a 429: got %d Throttled calls, want 1", got)
	}
	if got := e.limiter.Rate(); got >= rate {
		t.Errorf("after a 429: got effective rate %v, want below %v (decreased)", got, float64(rate))
	}

	// The Retry-After pauses the limiter: a bounded wait gives up without
	// calling.
	called := false
	err = sinchcall.New(e.limiter, 50*time.Millisecond).Do(ctx, func(context.Context) error { called = true; return nil })
	var waitErr *sinchcall.WaitError
	if !errors.As(err, &waitErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("during the Retry-After: got %v, want a *WaitError wrapping context.DeadlineExceeded", err)
	}
	if called {
		t.Error("during the Retry-After: the call ran, want it not run")
	}
}

// A Retry-After of 1 s, the header's least, is what a token bucket that
// refills in milliseconds answers: it slows the budget but pauses no one.
func TestDoSharesNoPauseForAOneSecondRetryAfter(t *testing.T) {
	e := newEnvAt(t, 4) // a token every 250 ms: Retry-After rounds up to 1 s
	ctx := context.Background()
	c := sinchcall.New(e.limiter, 0)
	if err := c.Do(ctx, e.getApp); err != nil {
		t.Fatalf("first call: got %v, want nil", err)
	}
	err := c.Do(ctx, e.getApp)
	var apiErr *sinch.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.RetryAfter != time.Second {
		t.Fatalf("second call: got %v, want the simulator's 429 with Retry-After 1s", err)
	}
	if got := e.limiter.Rate(); got >= rate {
		t.Errorf("after a 429: got effective rate %v, want below %v (decreased)", got, float64(rate))
	}
	called := false
	err = sinchcall.New(e.limiter, 50*time.Millisecond).Do(ctx, func(context.Context) error { called = true; return nil })
	if err != nil || !called {
		t.Errorf("right after the 429: got %v (called %v), want the call made within 50ms", err, called)
	}
	for _, tc := range []struct{ retryAfter, want time.Duration }{
		{0, 0}, {time.Second, 0}, {2 * time.Second, 2 * time.Second}, {time.Minute, time.Minute},
	} {
		if got := sinchcall.SharedPause(tc.retryAfter); got != tc.want {
			t.Errorf("SharedPause(%v): got %v, want %v", tc.retryAfter, got, tc.want)
		}
	}
}

func TestDoReportsA429AfterTheContextEnded(t *testing.T) {
	e := newEnv(t)
	c := sinchcall.New(e.limiter, 0)
	if err := c.Do(context.Background(), e.getApp); err != nil {
		t.Fatalf("first call: got %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Do(ctx, func(ctx context.Context) error {
		err := e.getApp(ctx)
		cancel() // e.g. shutdown while Sinch answered
		return err
	})
	if !sinch.IsRateLimited(err) {
		t.Fatalf("got %v, want a 429", err)
	}
	if got := e.limiter.Rate(); got >= rate {
		t.Errorf("got effective rate %v, want below %v: the 429 must reach Redis although ctx ended", got, float64(rate))
	}
}

func TestDoPassesOtherResultsThrough(t *testing.T) {
	e := newEnv(t)
	c := sinchcall.New(e.limiter, time.Minute)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"success", nil},
		{"400 answer", &sinch.APIError{StatusCode: 400, Status: "INVALID_ARGUMENT"}},
		{"503 answer", &sinch.APIError{StatusCode: 503, RetryAfter: time.Hour}},
		{"transport error", &sinch.TransportError{Op: "send message", Err: errors.New("connection reset")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.throttled.Load()
			var deadline bool
			err := c.Do(context.Background(), func(ctx context.Context) error {
				_, deadline = ctx.Deadline()
				return tc.err
			})
			if err != tc.err {
				t.Errorf("got %v, want %v as it is", err, tc.err)
			}
			if deadline {
				t.Error("the call's ctx has a deadline, want only the wait bounded by maxWait")
			}
			if got := e.throttled.Load() - before; got != 0 {
				t.Errorf("got %d Throttled calls, want 0", got)
			}
		})
	}
}

func TestDoDoesNotCallWhenTheWaitFails(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := sinchcall.New(e.limiter, 0).Do(ctx, func(context.Context) error { called = true; return nil })
	var waitErr *sinchcall.WaitError
	if !errors.As(err, &waitErr) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want a *WaitError wrapping context.Canceled", err)
	}
	if want := "wait for rate limit: " + context.Canceled.Error(); err == nil || err.Error() != want {
		t.Errorf("got message %q, want %q", err, want)
	}
	if called {
		t.Error("the call ran, want it not run")
	}
}

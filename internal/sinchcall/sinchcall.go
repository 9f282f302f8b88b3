// Package sinchcall is the one way this project makes a request to Sinch:
// take a token from the project's request budget (Sinch's rate limit is per
// project, across every endpoint and every process), make the call, and
// when Sinch answers 429 tell the budget, which slows every process and
// pauses them for the Retry-After.
//
// It sits between internal/sinch, which never waits or retries on its own,
// and internal/ratelimit, which knows nothing of Sinch. Retrying is the
// caller's decision.
package sinchcall

import (
	"context"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Limiter is the project's request budget (implemented by *ratelimit.Limiter).
type Limiter interface {
	Wait(ctx context.Context) error
	Throttled(ctx context.Context, retryAfter time.Duration) error
}

// WaitError is returned when no token came: the call was not made, so Sinch
// cannot have seen it.
type WaitError struct{ Err error }

func (e *WaitError) Error() string { return "wait for rate limit: " + e.Err.Error() }
func (e *WaitError) Unwrap() error { return e.Err }

// Caller makes calls within a budget. The zero value is not usable; New
// returns one. It is a small value, safe to copy and for concurrent use.
type Caller struct {
	limiter Limiter
	maxWait time.Duration
}

// New returns a Caller drawing from l. A maxWait above 0 bounds each wait
// for a token (the call itself still runs under the caller's ctx); 0 waits
// as long as ctx allows.
func New(l Limiter, maxWait time.Duration) Caller {
	return Caller{limiter: l, maxWait: maxWait}
}

// Do waits for a token, then runs call with ctx. A failed wait returns a
// *WaitError and call is not run. When call's error is a Sinch 429, the
// limiter is told (even if ctx has ended meanwhile: Sinch did answer) with
// the answer's Retry-After. call's error is returned as it is.
func (c Caller) Do(ctx context.Context, call func(context.Context) error) error {
	if err := c.wait(ctx); err != nil {
		return &WaitError{Err: err}
	}
	err := call(ctx)
	if err != nil && sinch.IsRateLimited(err) {
		// The limiter has already paused this process when it cannot reach
		// Redis to share the news: nothing more to do with its error.
		_ = c.limiter.Throttled(context.WithoutCancel(ctx), sinch.RetryAfter(err))
	}
	return err
}

func (c Caller) wait(ctx context.Context) error {
	if c.maxWait <= 0 {
		return c.limiter.Wait(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, c.maxWait)
	err := c.limiter.Wait(ctx)
	cancel()
	return err
}

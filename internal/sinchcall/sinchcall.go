// Package sinchcall is the one way this project makes a request to Sinch:
// take a token from the project's request budget (Sinch's rate limit is per
// project, across every endpoint and every process), make the call, and
// when Sinch answers 429 tell the budget, which slows every process and
// pauses them for a Retry-After longer than a second (SharedPause).
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

// Budgets gives the budget of each Sinch app. Sinch limits a project's
// requests (800/s across its apps) and drains each app's outbound queue at
// the app's own rate, so a Limiter returned by For takes a token from the
// app's budget and from the project's, and a 429 slows the app's budget
// only. Implemented by cli.Budgets.
type Budgets interface {
	For(appID string) Limiter
}

// One returns Budgets drawing every app's calls from l: tests, and commands
// that call for one app at a time.
func One(l Limiter) Budgets { return one{l} }

type one struct{ l Limiter }

func (o one) For(string) Limiter { return o.l }

// Backlogged is a Limiter that can tell how long a caller arriving now
// would wait for its token in this process (implemented by
// *ratelimit.Levels). A caller that must not hold a scarce slot that long
// (a worker's concurrency slot) asks Busy first.
type Backlogged interface {
	Limiter
	// Defer reports whether a caller arriving now would wait longer than
	// hold; if so it also says when to come back, spreading the callers it
	// turns away over the time the budget needs to reach them.
	Defer(hold time.Duration) (retryIn time.Duration, busy bool)
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
		_ = c.limiter.Throttled(context.WithoutCancel(ctx), SharedPause(sinch.RetryAfter(err)))
	}
	return err
}

// SharedPause is how long a 429 with Retry-After retryAfter pauses the
// whole budget. Retry-After counts whole seconds, so 1 s is what a token
// bucket that refills in milliseconds answers: pausing every process for
// it would stop sending for a second at each 429 (the rate cut already
// slows them), so only a longer wait is shared. The refused request itself
// is still retried no sooner than retryAfter: that is the caller's
// decision.
func SharedPause(retryAfter time.Duration) time.Duration {
	if retryAfter <= time.Second {
		return 0
	}
	return retryAfter
}

// Busy reports whether a token would take longer than hold to come, and
// when to try again (see Backlogged). A Limiter that cannot tell is never
// busy.
func (c Caller) Busy(hold time.Duration) (retryIn time.Duration, busy bool) {
	if b, ok := c.limiter.(Backlogged); ok {
		return b.Defer(hold)
	}
	return 0, false
}

// Rate is the budget's effective rate in calls per second, when its
// Limiter can tell (a Rater).
func (c Caller) Rate() (float64, bool) {
	if r, ok := c.limiter.(Rater); ok {
		return r.Rate(), true
	}
	return 0, false
}

// Rater is a Limiter that knows its effective rate (implemented by
// *ratelimit.Limiter and *ratelimit.Levels).
type Rater interface {
	Rate() float64
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

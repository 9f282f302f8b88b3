package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Class is what an error from one send attempt means for the task.
type Class int

const (
	// ClassRetry: transient (5xx, timeout, reset): retry with backoff, counts
	// against --max-retry.
	ClassRetry Class = iota
	// ClassRateLimited: 429: retry after Retry-After; never a failure.
	ClassRateLimited
	// ClassPermanent: the request itself is wrong (other 4xx): archive now.
	ClassPermanent
	// ClassRevoked: credentials rejected even after a token refresh: archive
	// now with a reason that says so.
	ClassRevoked
	// ClassInterrupted: our own context ended (shutdown): run again, not a failure.
	ClassInterrupted
)

func (c Class) String() string {
	return [...]string{"retry", "rate_limited", "permanent", "revoked", "interrupted"}[c]
}

// classify maps a send error to its Class. It is the only place that
// decides retry versus fail.
func classify(err error) Class {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !sinch.IsRetryable(err):
		return ClassInterrupted
	case sinch.IsRateLimited(err):
		return ClassRateLimited
	case sinch.IsUnauthorized(err):
		return ClassRevoked
	case sinch.IsPermanent(err):
		return ClassPermanent
	}
	return ClassRetry
}

// Decision is what the handler does with a failed attempt.
type Decision struct {
	Class   Class
	Archive bool          // give up: record failed and archive the task
	Failure bool          // counts as a failure for Asynq (and for retry budget)
	Delay   time.Duration // wait before the next try; 0 means default backoff
}

// decide turns a send error into a Decision, given how many failures the
// task has had before (Asynq's retry count) and the budget.
func decide(err error, failuresBefore, maxRetry int) Decision {
	c := classify(err)
	switch c {
	case ClassRateLimited:
		return Decision{Class: c, Delay: sinch.RetryAfter(err)}
	case ClassInterrupted:
		return Decision{Class: c, Delay: time.Second}
	case ClassPermanent, ClassRevoked:
		return Decision{Class: c, Archive: true, Failure: true}
	}
	return Decision{Class: c, Failure: true, Archive: failuresBefore >= maxRetry}
}

package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Levels draws each token from two budgets: an app's (its outbound rate,
// the pace at which Sinch drains the app's MT queue) and the project's (the
// cap on all apps together). A 429 slows the app's budget only: Sinch
// answers 429 when that app's queue is full, and another app's sends are
// not to blame. It is safe for concurrent use.
type Levels struct {
	app, project *Limiter

	mu      sync.Mutex
	waiting int       // callers inside Wait in this process
	next    time.Time // when the last caller turned away was told to come back
}

// NewLevels returns the two-level budget of one app under a project cap.
// Several Levels (one per app) share one project Limiter.
func NewLevels(app, project *Limiter) *Levels {
	return &Levels{app: app, project: project}
}

// App is the app's budget.
func (l *Levels) App() *Limiter { return l.app }

// Project is the project's budget.
func (l *Levels) Project() *Limiter { return l.project }

// Wait takes a token from the app's budget, then one from the project's.
// The app's comes first: it is the scarce one, and a caller waiting for it
// holds no project token meanwhile.
func (l *Levels) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}()
	if err := l.app.Wait(ctx); err != nil {
		return err
	}
	return l.project.Wait(ctx)
}

// Rate is the effective rate a caller gets: the app's, within the
// project's.
func (l *Levels) Rate() float64 { return min(l.app.Rate(), l.project.Rate()) }

// Throttled slows the app's budget (and pauses it for retryAfter); the
// project's is untouched.
func (l *Levels) Throttled(ctx context.Context, retryAfter time.Duration) error {
	return l.app.Throttled(ctx, retryAfter)
}

// Defer reports whether a caller arriving now would wait longer than hold
// for the app's token, counting the callers already waiting in this
// process at the app's effective rate. A busy caller is told to come back
// when the budget can have served those ahead of it down to hold: each
// caller turned away is placed one slot after the previous one, so callers
// return at about the app's rate instead of all at once.
func (l *Levels) Defer(hold time.Duration) (retryIn time.Duration, busy bool) {
	rate := l.app.Rate()
	slot := time.Duration(float64(time.Second) / rate)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ahead := time.Duration(l.waiting) * slot
	if ahead <= hold {
		return 0, false
	}
	// Back when the callers ahead are down to hold, one slot after the
	// caller turned away before, unless that one is more than hold later:
	// callers that come back and are turned away again would otherwise
	// push the next place further each time, and a newcomer (a
	// high-priority chunk) would be placed seconds behind them.
	at := now.Add(ahead - hold)
	if l.next.After(at) && l.next.Before(at.Add(hold)) {
		at = l.next
	}
	at = at.Add(slot)
	l.next = at
	return at.Sub(now), true
}

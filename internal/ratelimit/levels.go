package ratelimit

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
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
// Several Levels (one per app) share one project Limiter; app is to be used
// through the Levels only. From then on app reserves its tokens together
// with the project's, in one script on both keys, unless a Redis Cluster
// may hold the keys on different nodes (they share no hash tag): then a
// caller takes the app's token, then the project's.
func NewLevels(app, project *Limiter) *Levels {
	if _, cluster := app.rdb.(*redis.ClusterClient); !cluster || hashTag(app.cfg.Key) == hashTag(project.cfg.Key) {
		app.within = project
	}
	return &Levels{app: app, project: project}
}

// hashTag is the part of key Redis Cluster hashes: the text between the
// first "{" and the next "}" when that is not empty, else the whole key.
func hashTag(key string) string {
	if _, rest, ok := strings.Cut(key, "{"); ok {
		if tag, _, ok := strings.Cut(rest, "}"); ok && tag != "" {
			return tag
		}
	}
	return key
}

// App is the app's budget.
func (l *Levels) App() *Limiter { return l.app }

// Project is the project's budget.
func (l *Levels) Project() *Limiter { return l.project }

// Wait takes a token that is both the app's and the project's. A lease is
// reserved on both timelines in one round trip when the project's reaches
// its start, and its tokens go out at the first instant both have a slot:
// a send then costs one reservation's share and one wait, and no token of
// one budget waits, held, for the other's. A lease further ahead is the
// app's alone (see reserveScript), and so is every lease on a cluster
// with the keys apart: the caller takes the project's token once it has
// the app's, the scarce one, so it holds no project token meanwhile.
func (l *Levels) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}()
	joint, err := l.app.wait(ctx, 1)
	if err != nil || joint {
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

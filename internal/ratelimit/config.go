package ratelimit

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

const (
	// DefaultBurstWindow sizes the default Burst: Rate × DefaultBurstWindow
	// tokens, at least MinBurst.
	DefaultBurstWindow = 50 * time.Millisecond

	// MinBurst is the smallest Burst accepted. A burst of one token would
	// leave no room for the Redis round trip, so no token could ever be used.
	MinBurst = 2

	// DefaultLeaseWindow sizes the default Lease: Rate × DefaultLeaseWindow
	// tokens, at least 1. A process then makes at most about 40 reservations
	// per second.
	DefaultLeaseWindow = 25 * time.Millisecond

	// MaxLeaseWindow bounds a lease: Lease may not exceed Rate × MaxLeaseWindow
	// tokens (or 1, when that is smaller), so a process never holds more than
	// this much of the shared timeline. Reservations are also refused more than
	// two MaxLeaseWindows ahead of now.
	MaxLeaseWindow = 50 * time.Millisecond

	// DefaultMinRateFraction sets the default MinRate to Rate × 0.1.
	DefaultMinRateFraction = 0.1

	// DefaultDecreaseFactor is the default DecreaseFactor. A 429 at the
	// configured rate is usually a brief bunching of sends (scheduling
	// jitter), not a lower capacity at Sinch: a mild cut, repeated at most
	// once per DecreaseCooldown while 429s go on, finds a real lower limit
	// in a few seconds without costing seconds of sending for one burst.
	DefaultDecreaseFactor = 0.8

	// DefaultDecreaseCooldown is the default DecreaseCooldown: long enough
	// for the 429s of the requests in flight at a cut to come back (they
	// were sent at the old rate), short enough that the next cut, if the
	// new rate is still too high, comes within a few round trips.
	DefaultDecreaseCooldown = 250 * time.Millisecond

	// DefaultRecoverFraction sets the default RecoverStep to Rate × 0.05.
	DefaultRecoverFraction = 0.05

	// DefaultRecoverInterval is the default RecoverInterval. With the default
	// factor and step, the rate is back at Rate 2s after one 429: a single
	// 429 costs about 0.2s of sending at Rate, plus any Retry-After pause.
	DefaultRecoverInterval = 500 * time.Millisecond
)

// Config configures a Limiter. Every process that shares a Key must use the
// same Rate, Burst, MinRate, DecreaseFactor, DecreaseCooldown, RecoverStep
// and RecoverInterval: the values travel with each Redis call, and the shared
// state is interpreted by whoever calls.
type Config struct {
	// Key is the Redis key holding the shared state, one per budget, for
	// example keyspace.RateLimit(project, app). Every limiter (in any process) using the
	// same Key draws from the same budget. Required.
	Key string

	// Rate is the most tokens per second handed out by all processes together.
	// Required, must be greater than 0.
	Rate float64

	// Burst is how far the count in any time window of length w may exceed
	// Rate × w: after an idle period up to about Burst/2 tokens are handed out
	// at once, and a leased token is still used when it is up to
	// (Burst−1)/Rate late (scheduling, the Redis round trip); later tokens
	// are dropped. A Burst too small for the round trip therefore costs
	// throughput but never exceeds the bound. To stay under a hard cap of C
	// requests in any second, choose Rate + Burst ≤ C (with the default
	// Burst, Rate ≤ C/1.05). Must be at least MinBurst.
	// Defaults to Rate × DefaultBurstWindow rounded up, at least MinBurst.
	Burst int

	// Lease is the largest number of tokens a process reserves in one Redis
	// round trip, taken when the process alone uses the full Rate; a process
	// using less, or a lower effective rate, reserves proportionally fewer
	// (never fewer than its callers waiting). Must be at least 1 and at most
	// Rate × MaxLeaseWindow (or 1 when that is smaller).
	// Defaults to Rate × DefaultLeaseWindow rounded down, at least 1.
	Lease int

	// MinRate is the floor of the effective rate after repeated decreases.
	// Must be greater than 0 and at most Rate.
	// Defaults to Rate × DefaultMinRateFraction.
	MinRate float64

	// DecreaseFactor multiplies the shared effective rate when a request is
	// throttled. Must be greater than 0 and less than 1.
	// Defaults to DefaultDecreaseFactor.
	DecreaseFactor float64

	// DecreaseCooldown is the shortest time between two decreases: a burst of
	// 429s from many workers, all answering requests sent before the first
	// decrease took effect, counts as one. Must be greater than 0.
	// Defaults to DefaultDecreaseCooldown.
	DecreaseCooldown time.Duration

	// RecoverStep is added to the effective rate (up to Rate) for every
	// RecoverInterval without a throttled request. Must be greater than 0 and
	// at most Rate. Defaults to Rate × DefaultRecoverFraction.
	RecoverStep float64

	// RecoverInterval is how often the effective rate climbs by RecoverStep
	// while no request is throttled. Must be at least 1ms.
	// Defaults to DefaultRecoverInterval.
	RecoverInterval time.Duration

	// Logger receives one line per change of the effective rate made by this
	// process (key, old, new, reason). Defaults to slog.Default().
	Logger *slog.Logger

	// OnRateChange, if set, is called with the new effective rate whenever
	// this process sees it change, whichever process changed it; wire a gauge
	// here. It runs on a caller's goroutine and must not block.
	// Defaults to nil (no callback).
	OnRateChange func(rate float64)

	// OnThrottled, if set, is called once per Throttled call (each 429 this
	// process reports); wire a counter here. It must not block.
	OnThrottled func()
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Rate > 0 && !math.IsInf(c.Rate, 0) {
		c.Burst = cmp.Or(c.Burst, max(MinBurst, int(math.Ceil(c.Rate*DefaultBurstWindow.Seconds()))))
		c.Lease = cmp.Or(c.Lease, max(1, int(c.Rate*DefaultLeaseWindow.Seconds())))
		c.MinRate = cmp.Or(c.MinRate, c.Rate*DefaultMinRateFraction)
		c.RecoverStep = cmp.Or(c.RecoverStep, c.Rate*DefaultRecoverFraction)
	}
	c.DecreaseFactor = cmp.Or(c.DecreaseFactor, DefaultDecreaseFactor)
	c.DecreaseCooldown = cmp.Or(c.DecreaseCooldown, DefaultDecreaseCooldown)
	c.RecoverInterval = cmp.Or(c.RecoverInterval, DefaultRecoverInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// scriptArgs are the four ARGV a script reads a budget's Config from
// (statePrelude's budget): Rate, MinRate, RecoverStep, RecoverInterval (µs).
func (c Config) scriptArgs() []any {
	return []any{c.Rate, c.MinRate, c.RecoverStep, c.RecoverInterval.Microseconds()}
}

// maxLease is the largest Lease accepted for rate.
func maxLease(rate float64) int {
	return max(1, int(rate*MaxLeaseWindow.Seconds()))
}

// validate reports every invalid field of a defaulted Config.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	positive := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) } // false for NaN too

	if c.Key == "" {
		bad("Key is required")
	}
	if !positive(c.Rate) {
		bad("Rate must be greater than 0, got %v", c.Rate)
		return errors.Join(errs...) // every other bound derives from Rate
	}
	if c.Burst < MinBurst {
		bad("Burst must be at least %d, got %d", MinBurst, c.Burst)
	}
	if m := maxLease(c.Rate); c.Lease < 1 || c.Lease > m {
		bad("Lease must be between 1 and %d (Rate × %v), got %d", m, MaxLeaseWindow, c.Lease)
	}
	if !positive(c.MinRate) || c.MinRate > c.Rate {
		bad("MinRate must be greater than 0 and at most Rate (%v), got %v", c.Rate, c.MinRate)
	}
	if !(c.DecreaseFactor > 0 && c.DecreaseFactor < 1) {
		bad("DecreaseFactor must be greater than 0 and less than 1, got %v", c.DecreaseFactor)
	}
	if c.DecreaseCooldown <= 0 {
		bad("DecreaseCooldown must be greater than 0, got %v", c.DecreaseCooldown)
	}
	if !positive(c.RecoverStep) || c.RecoverStep > c.Rate {
		bad("RecoverStep must be greater than 0 and at most Rate (%v), got %v", c.Rate, c.RecoverStep)
	}
	if c.RecoverInterval < time.Millisecond {
		bad("RecoverInterval must be at least 1ms, got %v", c.RecoverInterval)
	}
	return errors.Join(errs...)
}

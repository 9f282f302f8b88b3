package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// projectLimiter builds the Redis-shared Sinch budget of the configured
// project and app, used by the worker's sends and tracking passes and by
// `campaign track`: every process on one budget must compute the same rate
// and burst, so they all come from here. rateFlag 0 asks the app's
// rate_limits.outbound (else DefaultRate); burstFlag 0 means rate/20, at
// least what the jitter reserve needs. It returns the limiter, the rate and
// the burst as Sinch sees it.
func projectLimiter(ctx context.Context, rdb redis.UniversalClient, settings *config.Settings, client *sinch.Client,
	rateFlag float64, burstFlag int, logger *slog.Logger, hooks ...func(*ratelimit.Config)) (*ratelimit.Limiter, float64, int, error) {
	rate := rateFlag
	if rate == 0 {
		rate = defaultRate(ctx, client, logger)
	}
	// --burst is what Sinch may see above the rate in one second. A send
	// reaches Sinch a little after its token is granted, and scheduling
	// jitter can bunch sends: keep jitterMargin worth of tokens in reserve.
	margin := int(math.Ceil(rate * jitterMargin.Seconds()))
	b := burstFlag
	if b == 0 {
		b = max(ratelimit.MinBurst+margin, int(math.Ceil(rate/20)))
	}
	if b-margin < ratelimit.MinBurst {
		return nil, 0, 0, fmt.Errorf("--burst must be at least %d at --rate %g (%d for the limiter plus %d for network jitter)",
			ratelimit.MinBurst+margin, rate, ratelimit.MinBurst, margin)
	}
	cfg := ratelimit.Config{
		Key: "sinch:" + settings.SinchProjectID + ":" + settings.SinchAppID, Rate: rate, Burst: b - margin, Logger: logger,
	}
	for _, h := range hooks { // metrics
		h(&cfg)
	}
	limiter, err := ratelimit.New(rdb, cfg)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("rate limit: %w", err)
	}
	return limiter, rate, b, nil
}

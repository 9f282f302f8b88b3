package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// JitterMargin is the spread between a token's grant and the send's arrival
// at Sinch that --burst absorbs.
const JitterMargin = 30 * time.Millisecond

// DefaultRate is used when --rate is not given and GetApp does not say.
const DefaultRate = 20

// ProjectLimiter builds the Redis-shared Sinch budget of the configured
// project and app, used by the worker's sends and tracking passes and by
// `campaign track`: every process on one budget must compute the same rate
// and burst, so they all come from here. rateFlag 0 asks the app's
// rate_limits.outbound (else DefaultRate); burstFlag 0 means rate/20, at
// least what the jitter reserve needs. It returns the limiter, the rate and
// the burst as Sinch sees it.
func ProjectLimiter(ctx context.Context, rdb redis.UniversalClient, settings *config.Settings, client *sinch.Client,
	rateFlag float64, burstFlag int, logger *slog.Logger, hooks ...func(*ratelimit.Config)) (*ratelimit.Limiter, float64, int, error) {
	rate := rateFlag
	if rate == 0 {
		rate = defaultRate(ctx, client, logger)
	}
	// --burst is what Sinch may see above the rate in one second. A send
	// reaches Sinch a little after its token is granted, and scheduling
	// jitter can bunch sends: keep JitterMargin worth of tokens in reserve.
	margin := int(math.Ceil(rate * JitterMargin.Seconds()))
	b := burstFlag
	if b == 0 {
		b = max(ratelimit.MinBurst+margin, int(math.Ceil(rate/20)))
	}
	if b-margin < ratelimit.MinBurst {
		return nil, 0, 0, fmt.Errorf("--burst must be at least %d at --rate %g (%d for the limiter plus %d for network jitter)",
			ratelimit.MinBurst+margin, rate, ratelimit.MinBurst, margin)
	}
	cfg := ratelimit.Config{
		Key: keyspace.RateLimit(settings.SinchProjectID, settings.SinchAppID), Rate: rate, Burst: b - margin, Logger: logger,
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

// SinchClient builds the API client from the shared settings.
func SinchClient(s *config.Settings) (*sinch.Client, error) {
	c, err := sinch.New(sinch.Config{
		ProjectID: s.SinchProjectID, AppID: s.SinchAppID, KeyID: s.SinchKeyID, KeySecret: s.SinchKeySecret,
		Region: s.SinchRegion, BaseURL: s.SinchBaseURL, TokenURL: s.SinchAuthURL,
		Auth: sinch.AuthMode(s.SinchAuth), Timeout: s.SinchTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("sinch settings: %w", err)
	}
	return c, nil
}

// Authenticate warms the client's access token, bounded like defaultRate.
func Authenticate(ctx context.Context, c *sinch.Client) error {
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return c.Authenticate(actx)
}

// defaultRate asks Sinch for the app's outbound rate, else uses DefaultRate,
// and says which.
func defaultRate(ctx context.Context, c *sinch.Client, logger *slog.Logger) float64 {
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	app, err := c.GetApp(actx)
	if err == nil && app.RateLimits.Outbound > 0 {
		logger.Info("rate from the app's rate_limits.outbound", "rate", app.RateLimits.Outbound)
		return float64(app.RateLimits.Outbound)
	}
	reason := "the app reports no outbound rate"
	if err != nil {
		reason = "GetApp failed: " + err.Error()
	}
	logger.Warn("using the default rate; pass --rate to choose", "rate", DefaultRate, "reason", reason)
	return DefaultRate
}

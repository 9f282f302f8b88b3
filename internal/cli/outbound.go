package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
)

// Outbound rates for enqueue's TTL check and the status ETA (the sends
// themselves are paced by ProjectLimiter). An app's rate is the
// --app-rate override, else GET app's rate_limits.outbound when the Sinch
// settings are given, else DefaultRate.
//
// This answers for the configured app only (a campaign naming another app
// gets the override or DefaultRate); it is the place the per-app rate
// lookup of the workers takes over.

// AppRateFlag registers --app-rate on fs.
func AppRateFlag(fs *flag.FlagSet) *string {
	return fs.String("app-rate", "", "the app's outbound `rate` in messages/s for the TTL check and the ETA: 25, or app1=20,app2=100 "+
		"(default: GET app's rate_limits.outbound when SINCH_* are set, else 20)")
}

// appRateLookup bounds the GET app an answer may cost.
const appRateLookup = 5 * time.Second

// appRateCache is how long a looked-up rate is reused (the dashboard asks
// on every campaign page).
const appRateCache = 5 * time.Minute

// OutboundRates parses --app-rate and returns the function answering an
// app's outbound rate ("" is the configured app). The error names the flag.
func OutboundRates(settings *config.Settings, override string) (func(ctx context.Context, app string) float64, error) {
	fixed, err := parseAppRates(override, settings.SinchAppID)
	if err != nil {
		return nil, fmt.Errorf("--app-rate: %w", err)
	}
	var (
		mu     sync.Mutex
		cached = map[string]cachedRate{}
	)
	return func(ctx context.Context, app string) float64 {
		if app == "" {
			app = settings.SinchAppID
		}
		if r, ok := fixed[app]; ok {
			return r
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := cached[app]; ok && time.Since(c.at) < appRateCache {
			return c.rate
		}
		rate := float64(DefaultRate)
		if app == settings.SinchAppID {
			rate = lookupOutbound(ctx, settings)
		}
		cached[app] = cachedRate{rate: rate, at: time.Now()}
		return rate
	}, nil
}

type cachedRate struct {
	rate float64
	at   time.Time
}

// lookupOutbound asks GET app for the configured app's
// rate_limits.outbound; DefaultRate without Sinch settings or an answer.
func lookupOutbound(ctx context.Context, settings *config.Settings) float64 {
	client, err := SinchClient(settings)
	if err != nil {
		return DefaultRate
	}
	ctx, cancel := context.WithTimeout(ctx, appRateLookup)
	defer cancel()
	app, err := client.GetApp(ctx)
	if err != nil || app.RateLimits.Outbound <= 0 {
		return DefaultRate
	}
	return float64(app.RateLimits.Outbound)
}

// parseAppRates reads "25" (the configured app) or "a1=20,a2=100".
func parseAppRates(s, configured string) (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		app, v, named := strings.Cut(strings.TrimSpace(part), "=")
		if !named {
			app, v = configured, part
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("want a positive rate such as 25 or app1=20,app2=100, got %q", part)
		}
		out[strings.TrimSpace(app)] = r
	}
	return out, nil
}

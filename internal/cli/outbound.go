package cli

import (
	"cmp"
	"context"
	"flag"
	"sync"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
)

// AppRateFlag registers --app-rate on fs: the one definition of the flag,
// read by ParseAppRates, for the worker's budgets, `campaign track`,
// enqueue's TTL check, the status ETA and the dashboard.
func AppRateFlag(fs *flag.FlagSet) *string {
	return fs.String("app-rate", "", "apps' outbound `rates` in messages/s, APP=RATE,... (a bare RATE is SINCH_APP_ID's) "+
		"(default: each app's rate_limits.outbound from GET app when SINCH_* are set, else 20)")
}

// appRateCache is how long a looked-up rate is reused (the dashboard asks
// on every campaign page).
const appRateCache = 5 * time.Minute

// OutboundRates parses --app-rate and returns the function answering an
// app's outbound rate ("" is the configured app) for enqueue's TTL check
// and the status ETA: AppRate, asking Sinch only when the Sinch settings
// are given, each answer reused for appRateCache. The error names the
// flag. (The sends themselves are paced by Budgets.)
func OutboundRates(settings *config.Settings, override string) (func(ctx context.Context, app string) float64, error) {
	fixed, err := ParseAppRates(override, settings.SinchAppID)
	if err != nil {
		return nil, err
	}
	var client AppGetter
	if settings.RequireSinch() == nil {
		if c, err := SinchClient(settings); err == nil {
			client = c
		}
	}
	var (
		mu     sync.Mutex
		cached = map[string]cachedRate{}
	)
	return func(ctx context.Context, app string) float64 {
		app = cmp.Or(app, settings.SinchAppID)
		if r, ok := fixed[app]; ok {
			return r
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := cached[app]; ok && time.Since(c.at) < appRateCache {
			return c.rate
		}
		rate, _ := AppRate(ctx, client, fixed, app)
		cached[app] = cachedRate{rate: rate, at: time.Now()}
		return rate
	}, nil
}

type cachedRate struct {
	rate float64
	at   time.Time
}

package cli

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

// DefaultProjectRate is the --rate default: Sinch's 800 requests per second
// per project, across all its apps and endpoints.
const DefaultProjectRate = 800

// DefaultAppRefresh is how often the app rates asked from Sinch are asked
// again, so a raised rate_limits.outbound takes effect without a restart.
const DefaultAppRefresh = 5 * time.Minute

// AppGetter is the part of *sinch.Client that answers an app's settings.
type AppGetter interface {
	GetAppByID(ctx context.Context, appID string) (*sinch.App, error)
}

// ParseAppRates reads --app-rate, e.g. "01ABC=20,01DEF=100": app IDs with
// their outbound rates in messages per second. A bare rate ("25") is the
// configured app's (SINCH_APP_ID).
func ParseAppRates(s, configured string) (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		app, v, named := strings.Cut(strings.TrimSpace(part), "=")
		if !named {
			if configured == "" {
				return nil, fmt.Errorf("--app-rate must look like APP=RATE[,APP=RATE...] (a bare RATE is SINCH_APP_ID's, which is not set), got %q", part)
			}
			app, v = configured, part
		}
		app = strings.TrimSpace(app)
		if err := sinch.ValidateAppID(app); err != nil {
			return nil, fmt.Errorf("--app-rate: %w", err)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("--app-rate: the rate of app %s must be a number above 0, got %q", app, v)
		}
		if _, dup := out[app]; dup {
			return nil, fmt.Errorf("--app-rate: app %s is given twice", app)
		}
		out[app] = r
	}
	return out, nil
}

// AppRate answers an app's outbound rate in messages per second: the
// --app-rate override, else the app's rate_limits.outbound from Sinch, else
// DefaultRate. source says which, for logs and status.
func AppRate(ctx context.Context, client AppGetter, overrides map[string]float64, appID string) (rate float64, source string) {
	if r, ok := overrides[appID]; ok {
		return r, "--app-rate"
	}
	if client != nil {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		app, err := client.GetAppByID(actx, appID)
		if err == nil && app.RateLimits.Outbound > 0 {
			return float64(app.RateLimits.Outbound), "rate_limits.outbound"
		}
		if err != nil {
			return DefaultRate, "default (GET app failed: " + err.Error() + ")"
		}
	}
	return DefaultRate, "default (the app reports no outbound rate)"
}

// BudgetConfig is what the worker's and `campaign track`'s flags say about
// Sinch's limits.
type BudgetConfig struct {
	// Rate is the project cap (--rate): requests per second of all apps
	// together. 0 means DefaultProjectRate.
	Rate float64
	// Burst is --burst: what Sinch may see above Rate in one second. 0
	// means Rate/20, at least what the jitter reserve needs.
	Burst int
	// AppRates are the --app-rate overrides.
	AppRates map[string]float64
	// DefaultApp is SINCH_APP_ID: the app of campaigns that name none.
	DefaultApp string
	// Refresh is how often app rates are asked again (Budgets.Run). 0 means
	// DefaultAppRefresh.
	Refresh time.Duration
	// Hooks adjust every budget's config (metrics).
	Hooks []func(*ratelimit.Config)
}

// Budgets is the Redis-shared Sinch budget of the configured project and of
// each of its apps (a sinchcall.Budgets): the app's at its outbound rate,
// under the project's at --rate. Every process on one Redis computes the
// same rates, so they come from here. It is safe for concurrent use.
type Budgets struct {
	rdb     redis.UniversalClient
	project string
	client  AppGetter
	cfg     BudgetConfig
	logger  *slog.Logger

	projectLimiter *ratelimit.Limiter
	projectBurst   int

	mu   sync.Mutex
	apps map[string]*appBudget
}

// appBudget is one app's two-level budget, built on first use.
type appBudget struct {
	ready  chan struct{} // closed once levels is set
	levels *ratelimit.Levels
	rate   float64
	source string
}

// NewBudgets builds the project budget now; app budgets are built on first
// use, asking Sinch for the app's rate (see AppRate).
func NewBudgets(rdb redis.UniversalClient, settings *config.Settings, client AppGetter, cfg BudgetConfig, logger *slog.Logger) (*Budgets, error) {
	if cfg.Rate == 0 {
		cfg.Rate = DefaultProjectRate
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultAppRefresh
	}
	if cfg.DefaultApp == "" {
		cfg.DefaultApp = settings.SinchAppID
	}
	b := &Budgets{rdb: rdb, project: settings.SinchProjectID, client: client, cfg: cfg, logger: logger, apps: map[string]*appBudget{}}
	pb, burst, err := limiterConfig(cfg.Rate, cfg.Burst, "--burst", "--rate")
	if err != nil {
		return nil, err
	}
	pb.Key = keyspace.ProjectRateLimit(b.project)
	if b.projectLimiter, err = b.newLimiter(pb, false); err != nil {
		return nil, err
	}
	b.projectBurst = burst
	return b, nil
}

// limiterConfig sizes a budget of rate with burstFlag (0: the default) as
// Sinch sees it; the names are the flags to blame in an error.
func limiterConfig(rate float64, burstFlag int, burstName, rateName string) (ratelimit.Config, int, error) {
	// --burst is what Sinch may see above the rate in one second. A send
	// reaches Sinch a little after its token is granted, and scheduling
	// jitter can bunch sends: keep JitterMargin worth of tokens in reserve.
	margin := int(math.Ceil(rate * JitterMargin.Seconds()))
	b := burstFlag
	if b == 0 {
		b = max(ratelimit.MinBurst+margin, int(math.Ceil(rate/20)))
	}
	if b-margin < ratelimit.MinBurst {
		return ratelimit.Config{}, 0, fmt.Errorf("%s must be at least %d at %s %g (%d for the limiter plus %d for network jitter)",
			burstName, ratelimit.MinBurst+margin, rateName, rate, ratelimit.MinBurst, margin)
	}
	return ratelimit.Config{Rate: rate, Burst: b - margin}, b, nil
}

func (b *Budgets) newLimiter(cfg ratelimit.Config, hooks bool) (*ratelimit.Limiter, error) {
	cfg.Logger = b.logger
	if hooks {
		for _, h := range b.cfg.Hooks {
			h(&cfg)
		}
	}
	l, err := ratelimit.New(b.rdb, cfg)
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return l, nil
}

// Rate is the project cap.
func (b *Budgets) Rate() float64 { return b.cfg.Rate }

// Burst is the project's burst as Sinch sees it.
func (b *Budgets) Burst() int { return b.projectBurst }

// Project is the project-wide budget.
func (b *Budgets) Project() *ratelimit.Limiter { return b.projectLimiter }

// For returns the two-level budget of appID ("" is the default app),
// building it on first use.
func (b *Budgets) For(appID string) sinchcall.Limiter { return b.Levels(appID) }

// Levels is For with its concrete type.
func (b *Budgets) Levels(appID string) *ratelimit.Levels {
	if appID == "" {
		appID = b.cfg.DefaultApp
	}
	b.mu.Lock()
	a, ok := b.apps[appID]
	if !ok {
		a = &appBudget{ready: make(chan struct{})}
		b.apps[appID] = a
	}
	b.mu.Unlock()
	if !ok {
		rate, source := AppRate(context.Background(), b.client, b.cfg.AppRates, appID)
		a.levels, a.rate, a.source = b.build(appID, rate, source), rate, source
		close(a.ready)
	}
	<-a.ready
	b.mu.Lock()
	defer b.mu.Unlock()
	return a.levels
}

// AppRate is the rate appID's budget was built with, and where it came
// from (see AppRate).
func (b *Budgets) AppRate(appID string) (float64, string) {
	b.Levels(appID)
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.apps[cmp.Or(appID, b.cfg.DefaultApp)]
	return a.rate, a.source
}

// build makes the two-level budget of appID at rate. The app's burst is
// its default: --burst sizes the project's.
func (b *Budgets) build(appID string, rate float64, source string) *ratelimit.Levels {
	// No app sends faster than the project cap: above it the app's budget
	// would never bind, and its AIMD could not find a limit below the cap.
	rate = min(rate, b.cfg.Rate)
	cfg, burst, err := limiterConfig(rate, 0, "--app-rate", "an app rate of")
	if err == nil {
		cfg.Key = keyspace.RateLimit(b.project, appID)
		var l *ratelimit.Limiter
		if l, err = b.newLimiter(cfg, true); err == nil {
			log := b.logger.Info
			if strings.HasPrefix(source, "default") {
				log = b.logger.Warn // pass --app-rate to choose
			}
			log("app budget", "app", appID, "rate", rate, "burst", burst, "from", source, "project_rate", b.cfg.Rate)
			return ratelimit.NewLevels(l, b.projectLimiter)
		}
	}
	// The defaults always fit a positive rate: unreachable, but never nil.
	panic(fmt.Sprintf("cli: app budget at rate %g: %v", rate, err))
}

// Apps lists the apps with a budget so far, sorted.
func (b *Budgets) Apps() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.apps))
	for id := range b.apps {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Run asks Sinch for the rate of every app with a budget every Refresh
// until ctx is done, and rebuilds the budget of an app whose rate changed.
// The budget's state (its timeline, learned rate) stays in Redis, so the
// rebuilt limiter picks it up.
func (b *Budgets) Run(ctx context.Context) {
	t := time.NewTicker(b.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.refresh(ctx)
	}
}

func (b *Budgets) refresh(ctx context.Context) {
	for _, id := range b.Apps() {
		if _, fixed := b.cfg.AppRates[id]; fixed {
			continue
		}
		rate, source := AppRate(ctx, b.client, b.cfg.AppRates, id)
		if ctx.Err() != nil {
			return
		}
		b.mu.Lock()
		a := b.apps[id]
		same := a.rate == rate
		b.mu.Unlock()
		if same || strings.HasPrefix(source, "default (GET app failed") {
			continue // a failed look-up keeps what was known
		}
		l := b.build(id, rate, source)
		b.mu.Lock()
		a.levels, a.rate, a.source = l, rate, source
		b.mu.Unlock()
		b.logger.Info("app rate changed", "app", id, "rate", rate, "from", source)
	}
}

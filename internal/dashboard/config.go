package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaignctl"
	"github.com/sinch-dispatch/sinch-dispatch/internal/idempotency"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
)

// Config is what New needs.
type Config struct {
	// Campaigns runs the campaign operations (required).
	Campaigns *campaignctl.Controller
	// RedisOpt is the queue's Redis, for asynqmon (required).
	RedisOpt asynq.RedisConnOpt
	// Admin enables asynqmon's write actions (run, delete, archive tasks,
	// pause queues) for users with the admin role. Campaign actions need
	// the operator role.
	Admin bool
	// PrometheusURL, when set, lets asynqmon chart queue metrics over time.
	PrometheusURL string
	Auth          Auth
	// Webhook, when set, serves POST /webhooks/sinch: the only route
	// without dashboard auth (it checks Sinch's signature instead).
	Webhook http.Handler
	// Metrics, when set, serves /metrics (behind auth).
	Metrics http.Handler
	// Refresh is how often campaign pages reload (default 5s).
	Refresh time.Duration
	// MaxUpload bounds one POST /api/campaigns. Defaults to
	// DefaultMaxUpload (2 GiB).
	MaxUpload int64
	// Idempotency keeps Idempotency-Key answers. Defaults to a store in
	// the campaigns' Redis (keyspace.IdempotencyPrefix, 24h).
	Idempotency *idempotency.Store
	// UploadDir keeps the campaign builder's uploads. Defaults to a
	// temporary directory made by New and removed by Close.
	UploadDir string
	// UploadTTL is how long an upload not launched is kept. Defaults to
	// DefaultUploadTTL (1h).
	UploadTTL time.Duration
	Logger    *slog.Logger
}

// DefaultRefresh is the campaign pages' auto-refresh period.
const DefaultRefresh = 5 * time.Second

// Setting errors, by what is wrong.
var (
	ErrOpenOnNetwork  = errors.New("refusing to serve without credentials on a non-loopback address")
	ErrHalfCredential = errors.New("incomplete credentials")
)

// Validate checks the auth settings for serving on addr: a user needs a
// password and the reverse, DASHBOARD_USER is not also a file user, and
// only a loopback address may go without credentials.
func (a Auth) Validate(addr string) error {
	switch {
	case a.User != "" && a.Password == "":
		return fmt.Errorf("%w: DASHBOARD_USER is set but DASHBOARD_PASSWORD is empty", ErrHalfCredential)
	case a.User == "" && a.Password != "":
		return fmt.Errorf("%w: DASHBOARD_PASSWORD is set but DASHBOARD_USER is empty", ErrHalfCredential)
	}
	for _, u := range a.Users {
		if u.Name == a.User {
			return fmt.Errorf("%w: DASHBOARD_USER %q is also in DASHBOARD_USERS_FILE: keep one", ErrDuplicateUser, a.User)
		}
	}
	if a.Enabled() {
		return nil
	}
	if !isLoopback(addr) {
		return fmt.Errorf("%w: --addr %s: set DASHBOARD_USERS_FILE, DASHBOARD_USER and DASHBOARD_PASSWORD, or DASHBOARD_TOKEN, or listen on 127.0.0.1",
			ErrOpenOnNetwork, addr)
	}
	return nil
}

// isLoopback reports whether addr (host:port) only accepts local
// connections. An empty host listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validate() error {
	switch {
	case c.Campaigns == nil:
		return errors.New("dashboard: Config.Campaigns is required")
	case c.RedisOpt == nil:
		return errors.New("dashboard: Config.RedisOpt is required")
	case c.Refresh < 0:
		return errors.New("dashboard: Config.Refresh must not be negative")
	case c.MaxUpload < 0:
		return errors.New("--max-upload must be positive")
	case c.UploadTTL < 0:
		return errors.New("--upload-ttl must be positive")
	}
	if c.UploadTTL == 0 {
		c.UploadTTL = DefaultUploadTTL
	}
	if c.UploadDir != "" {
		if fi, err := os.Stat(c.UploadDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--upload-dir %s: not a directory", c.UploadDir)
		}
		// Found out now, not at the first upload.
		f, err := os.CreateTemp(c.UploadDir, ".write-check-")
		if err != nil {
			return fmt.Errorf("--upload-dir %s: not writable: %w", c.UploadDir, err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	if c.MaxUpload == 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.Idempotency == nil {
		st, err := idempotency.New(c.Campaigns.Store().Redis(), idempotency.Config{Prefix: keyspace.IdempotencyPrefix})
		if err != nil {
			return err
		}
		c.Idempotency = st
	}
	if c.PrometheusURL != "" {
		u, err := url.Parse(c.PrometheusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("--prometheus-url must be an http(s) URL such as http://prometheus:9090")
		}
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Package dashboardcli is the dashboard command: campaign pages and JSON API,
// asynqmon, the delivery-receipt webhook and /metrics behind one listener.
package dashboardcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaignctl"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboard"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

const dashboardUsage = `dashboard [--addr 127.0.0.1:8080] [--admin] [--prometheus-url URL] [options]

Credentials come from the environment only (never flags, so they stay out
of ps and --help): DASHBOARD_USERS_FILE (HTTP Basic users, one
name:bcrypt-hash:role a line, roles viewer, operator or admin),
DASHBOARD_USER + DASHBOARD_PASSWORD (HTTP Basic, an admin) and/or
DASHBOARD_TOKEN (Authorization: Bearer, an operator). Without any, the
dashboard only starts on a loopback address. SINCH_WEBHOOK_SECRET verifies
delivery receipts; SINCH_WEBHOOK_OVERRIDE_SECRET (the app's
secret_for_overridden_callback_urls) verifies those sent to a message's own
callback_url.`

// DefaultDashboardAddr is loopback: serving to the network needs credentials.
const DefaultDashboardAddr = "127.0.0.1:8080"

// Run is the dashboard command: it serves until ctx is cancelled.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("dashboard", stderr, dashboardUsage)
	settings := config.Register(fs)
	var (
		addr      = fs.String("addr", "", "listen address (env DASHBOARD_ADDR; default "+DefaultDashboardAddr+"); a non-loopback one needs credentials")
		admin     = fs.Bool("admin", false, "let admins change tasks in the task monitor (/monitoring/): run, delete, archive, pause queues; read-only otherwise")
		promURL   = fs.String("prometheus-url", "", "Prometheus server for the task monitor's charts, e.g. http://prometheus:9090 (env PROMETHEUS_URL)")
		tolerance = fs.Duration("webhook-tolerance", 5*time.Minute, "delivery receipts whose timestamp is further than this from now are rejected")
		refresh   = fs.Duration("refresh", dashboard.DefaultRefresh, "how often campaign pages reload")
		maxUpload = fs.String("max-upload", enqueue.FormatSize(dashboard.DefaultMaxUpload), "refuse a POST /api/campaigns body larger than this `size` (413)")
		uploadDir = fs.String("upload-dir", "", "directory for the campaign builder's uploads (default: a temporary directory made at startup, removed at exit)")
		uploadTTL = fs.Duration("upload-ttl", dashboard.DefaultUploadTTL, "delete campaign builder uploads not launched after this long")
		appRate   = cli.AppRateFlag(fs)
		logFormat = fs.String("log-format", "text", "log format: text or json")
		logLevel  = fs.String("log-level", "info", "log level: debug, info, warn or error")
	)
	eviction := cli.RegisterEviction(fs) // uploads (API, builder) write campaigns
	if err := cli.Parse(fs, settings, args, getenv); err != nil {
		return err
	}
	logger, err := cli.NewLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	upload, err := enqueue.ParseSize(*maxUpload)
	if err != nil || upload < 1 {
		return fmt.Errorf("--max-upload: want a size such as 2GiB or 500MiB, got %q", *maxUpload)
	}
	*addr = firstNonEmpty(*addr, getenv("DASHBOARD_ADDR"), DefaultDashboardAddr)
	*promURL = firstNonEmpty(*promURL, getenv("PROMETHEUS_URL"))
	auth := dashboard.Auth{
		User:     strings.TrimSpace(getenv("DASHBOARD_USER")),
		Password: getenv("DASHBOARD_PASSWORD"),
		Token:    strings.TrimSpace(getenv("DASHBOARD_TOKEN")),
	}
	if path := strings.TrimSpace(getenv("DASHBOARD_USERS_FILE")); path != "" {
		users, warnings, err := dashboard.LoadUsers(path)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			logger.Warn("DASHBOARD_USERS_FILE: " + w)
		}
		auth.Users = users
	}
	switch {
	case *tolerance <= 0:
		return errors.New("--webhook-tolerance must be positive")
	case *refresh < time.Second:
		return errors.New("--refresh must be at least 1s")
	case *uploadTTL < time.Minute:
		return errors.New("--upload-ttl must be at least 1m")
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return fmt.Errorf("--addr must be host:port, such as %s: %v", DefaultDashboardAddr, err)
	}
	if err := auth.Validate(*addr); err != nil {
		return err
	}
	rdb, err := cli.ConnectRedis(ctx, settings)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := eviction.Check(ctx, rdb, getenv, func(msg string) { logger.Warn(msg) }); err != nil {
		return err
	}
	ropt, _ := settings.RedisOpt() // validated by Load
	rates, err := cli.OutboundRates(settings, *appRate)
	if err != nil {
		return err
	}
	ctl := campaignctl.New(rdb, ropt)
	defer ctl.Close()
	ctl.SetRate(rates)

	webhook, metrics, closeRoutes, err := Observability(settings, getenv("SINCH_WEBHOOK_SECRET"),
		getenv("SINCH_WEBHOOK_OVERRIDE_SECRET"), *tolerance, logger)
	if err != nil {
		return err
	}
	defer closeRoutes()
	srv, err := dashboard.New(dashboard.Config{
		Campaigns: ctl, RedisOpt: ropt, Admin: *admin, PrometheusURL: *promURL, Auth: auth,
		Webhook: webhook, Metrics: metrics, Refresh: *refresh, MaxUpload: upload,
		UploadDir: *uploadDir, UploadTTL: *uploadTTL, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // asynqmon's Prometheus charts can be slow
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if !auth.Enabled() {
		logger.Warn("dashboard has no credentials: anyone who can reach " + ln.Addr().String() + " can use it; set DASHBOARD_USERS_FILE, DASHBOARD_USER/DASHBOARD_PASSWORD or DASHBOARD_TOKEN")
	}
	logger.Info("dashboard listening", "url", "http://"+ln.Addr().String(), "admin", *admin,
		"auth", auth.Enabled(), "users", len(auth.Users), "webhook", webhook != nil, "metrics", metrics != nil)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-done
	logger.Info("dashboard stopped")
	return err
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

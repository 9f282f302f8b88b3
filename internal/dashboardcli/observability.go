package dashboardcli

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
)

// Observability builds the dashboard's two handlers from other
// packages: the delivery-receipt webhook (nil when both secrets are empty:
// without them no callback can be verified, so the route stays out; an
// override secret alone is refused by webhook.New) and /metrics
// (Asynq's queue collector plus our series, receipts included: both
// share one registry). closeFn releases their Redis connections.
func Observability(s *config.Settings, secret, overrideSecret string, tolerance time.Duration, logger *slog.Logger) (
	wh, met http.Handler, closeFn func(), err error) {
	ropt, err := s.RedisOpt()
	if err != nil {
		return nil, nil, nil, err
	}
	rdb, err := s.RedisClient()
	if err != nil {
		return nil, nil, nil, err
	}
	m := metrics.New().WithQueues(ropt)
	closeFn = func() { m.Close(); rdb.Close() }
	if secret == "" && overrideSecret == "" {
		logger.Warn("SINCH_WEBHOOK_SECRET is not set: POST " + webhook.Path + " is off, delivery receipts are not recorded")
		return nil, m.Handler(), closeFn, nil
	}
	h, err := webhook.New(webhook.Config{Secret: secret, OverrideSecret: overrideSecret, Tolerance: tolerance,
		Store: campaign.NewStore(rdb), Redis: rdb, Observer: m, Logger: logger})
	if errors.Is(err, webhook.ErrNoSecret) {
		closeFn()
		return nil, nil, nil, errors.New("SINCH_WEBHOOK_OVERRIDE_SECRET is set without SINCH_WEBHOOK_SECRET: " + err.Error())
	}
	if err != nil {
		closeFn()
		return nil, nil, nil, errors.New("--webhook-tolerance: " + err.Error())
	}
	return h, m.Handler(), closeFn, nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
)

// serveMetrics serves m (with Asynq's queue collector) at /metrics on addr
// until the returned stop is called. The address is bound here, so a bad or
// busy --metrics-addr fails at startup naming the flag.
func ServeMetrics(m *metrics.Metrics, addr string, ropt asynq.RedisConnOpt, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	m.WithQueues(ropt)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "err", err)
		}
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		m.Close()
	}, nil
}

// limiterMetrics wires a limiter's rate changes and 429s to m.
func LimiterMetrics(m *metrics.Metrics) func(*ratelimit.Config) {
	return func(c *ratelimit.Config) {
		c.OnRateChange, c.OnThrottled = m.SetRate, m.Throttled
	}
}

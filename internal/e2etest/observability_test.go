package e2etest

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboardcli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

const (
	webhookSecret  = "whsec-e2e-never-printed"
	overrideSecret = "whsec-override-e2e-never-printed"
)

// A campaign sent through the simulator, whose signed delivery receipts go
// to the webhook (the worker's --callback-url), ends with every outcome in
// `campaign status --json`, with outcome tracking off so nothing else can
// have recorded them.
func TestWebhookReceiptsShowInCampaignStatus(t *testing.T) {
	t.Parallel()
	var h atomic.Pointer[http.Handler]
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(recv.Close)
	// The delay lets the worker record each message ID before its first
	// receipt arrives (Sinch's receipts come seconds later).
	// The worker sets each message's callback_url, so Sinch signs the
	// receipts with the app's secret for overridden callback URLs.
	s := newStack(t, sinchsim.Config{WebhookSecret: webhookSecret, OverrideCallbackSecret: overrideSecret,
		FailSuffix: "7", CallbackDelay: 500 * time.Millisecond})
	m := metrics.New()
	wh, err := webhook.New(webhook.Config{Secret: webhookSecret, OverrideSecret: overrideSecret,
		Store: campaign.NewStore(s.redis.Client), Redis: s.redis.Client, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = wh
	h.Store(&hh)

	numbers := make([]string, 10) // e164(7) ends in 7: unreachable
	for i := range numbers {
		numbers[i] = e164(i)
	}
	s.enqueue("--campaign", "receipts", "--csv", numbersCSV(t, numbers), "--text", "Hi {{.first_name}}")
	s.runWorker("receipts", 30*time.Second, "--callback-url", recv.URL+webhook.Path, "--track-interval", "0")

	var sum campaign.Summary
	testwait.For(t, 20*time.Second, "delivery receipts in campaign status", func() bool {
		sum = s.statusJSON("receipts")
		return sum.Outcomes.Delivered+sum.Outcomes.Failed == 10
	})
	o := sum.Outcomes
	if o.Delivered != 9 || o.Failed != 1 || o.FailedByReason["RECIPIENT_NOT_REACHABLE"] != 1 || o.Total() != 10 {
		t.Fatalf("got outcomes %+v, want 9 delivered and 1 failed (RECIPIENT_NOT_REACHABLE)", o)
	}
	// Every signed receipt (queued + final per message) was accepted.
	if st := s.sim.Stats(); st.CallbacksSent != 20 || st.CallbacksFailed != 0 {
		t.Fatalf("simulator callbacks: %d accepted, %d refused; want 20 and 0", st.CallbacksSent, st.CallbacksFailed)
	}
}

// The worker's --metrics-addr serves every series of ours and Asynq's
// queue metrics after a campaign that met 429s and was tracked.
func TestWorkerMetricsAfterASimulatedCampaign(t *testing.T) {
	t.Parallel()
	// Sinch allows 10 requests/s; the worker tries 40: 429s, the effective
	// rate drops.
	s := newStack(t, sinchsim.Config{RateLimit: 10, RateBurst: 2})
	numbers := make([]string, 40)
	for i := range numbers {
		numbers[i] = e164(i)
	}
	s.enqueue("--campaign", "metered", "--csv", numbersCSV(t, numbers), "--text", "Hi")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logbuf.Buffer{}
	go func() {
		done <- workercli.Run(ctx, []string{"--metrics-addr", "127.0.0.1:0", "--rate", "40", "--track-interval", "200ms"},
			s.getenv, io.Discard, logs)
	}()
	t.Cleanup(func() { cancel(); <-done })

	addrRE := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	var addr string
	testwait.For(t, 10*time.Second, "the metrics listener", func() bool {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	store := campaign.NewStore(s.redis.Client)
	var fams map[string]*dto.MetricFamily
	minRate := 40.0 // the gauge recovers after the 429s stop: keep the lowest seen
	testwait.For(t, 60*time.Second, "the campaign sent and tracked", func() bool {
		c, _ := store.Counters(context.Background(), "metered")
		fams = scrape(t, "http://"+addr+"/metrics")
		minRate = min(minRate, value(fams, "sinch_dispatch_rate_limit_effective"))
		return c.Pending == 0 && value(fams, "sinch_dispatch_tracker_pages_total") > 0
	})

	if got := value(fams, "sinch_dispatch_sends_total", "result=accepted"); got != 40 {
		t.Errorf("accepted sends: got %v, want 40", got)
	}
	if got := value(fams, "sinch_dispatch_sends_total", "result=rate_limited"); got == 0 {
		t.Error("no rate_limited sends counted")
	}
	if got := value(fams, "sinch_dispatch_sinch_429_total"); got == 0 {
		t.Error("no 429 counted")
	}
	if got := value(fams, "sinch_dispatch_rate_limit_effective"); got <= 0 || minRate >= 40 {
		t.Errorf("effective rate: got %v, lowest seen %v; want it lowered below 40 by the 429s", got, minRate)
	}
	if h := fams["sinch_dispatch_send_duration_seconds"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() < 40 {
		t.Errorf("send latency histogram: %v", h)
	}
	// Present even though receipts go to the dashboard, not the worker.
	for _, name := range []string{"sinch_dispatch_webhook_receipts_total", "sinch_dispatch_webhook_rejected_total",
		"asynq_queue_size", "asynq_tasks_enqueued_total", "asynq_tasks_processed_total", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("series %s missing", name)
		}
	}
	// Recipients travel in chunk tasks of up to a batch each.
	if got := value(fams, "asynq_tasks_processed_total", "queue=default"); got < 1 {
		t.Errorf("asynq processed tasks in queue default: got %v, want ≥ 1", got)
	}
	// No label value may carry a phone number, campaign ID or secret.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "+336") || strings.Contains(v, "metered") || strings.Contains(v, sinchsim.DefaultKeySecret) {
					t.Errorf("%s has label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

func TestWorkerRefusesABadMetricsAddr(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	err := workercli.Run(context.Background(), []string{"--metrics-addr", "256.0.0.1:nope"}, s.getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("got %v, want an error naming --metrics-addr", err)
	}
	env := func(k string) string {
		if k == "WORKER_METRICS_ADDR" {
			return "bad address"
		}
		return s.getenv(k)
	}
	if err := workercli.Run(context.Background(), nil, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("WORKER_METRICS_ADDR: got %v, want an error naming --metrics-addr", err)
	}
}

// scrape fetches and parses a Prometheus text page.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeAs(t, url, "")
}

// scrapeAs is scrape with a bearer token, as Prometheus scrapes the dashboard.
func scrapeAs(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums a family's series matching the name=value labels.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	return metrics.Sum(slices.Collect(maps.Values(fams)), name, labels...)
}

// The dashboard's handlers: a receipt accepted by the webhook is counted
// on the metrics page it serves; no secret leaves the webhook out.
func TestDashboardObservabilityHandlers(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	settings := func() *config.Settings {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		st := config.Register(fs)
		if err := st.Load(s.getenv); err != nil {
			t.Fatal(err)
		}
		return st
	}()
	logs := &logbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	wh, met, closeFn, err := dashboardcli.Observability(settings, "", "", 0, logger)
	if err != nil || wh != nil || met == nil {
		t.Fatalf("without a secret: webhook %v, metrics %v, err %v; want no webhook, metrics", wh, met, err)
	}
	closeFn()
	if !strings.Contains(logs.String(), "SINCH_WEBHOOK_SECRET is not set") {
		t.Errorf("no warning that receipts are off: %s", logs.String())
	}
	if _, _, _, err := dashboardcli.Observability(settings, "", "override-only", time.Minute, logger); err == nil ||
		!strings.Contains(err.Error(), "SINCH_WEBHOOK_OVERRIDE_SECRET is set without SINCH_WEBHOOK_SECRET") ||
		strings.Contains(err.Error(), "override-only") {
		t.Errorf("override secret alone: got %v, want an error naming both variables and not the secret", err)
	}
	if _, _, _, err := dashboardcli.Observability(settings, webhookSecret, "", time.Millisecond, logger); err == nil ||
		!strings.Contains(err.Error(), "--webhook-tolerance") {
		t.Errorf("1ms tolerance: got %v, want an error naming --webhook-tolerance", err)
	}

	// Scheduled, so its chunk is in asynq (one to send now waits in its
	// campaign's feed until a worker feeds it).
	s.enqueue("--campaign", "queued", "--csv", numbersCSV(t, []string{e164(1)}), "--text", "Hi", "--in", "1h")
	wh, met, closeFn, err = dashboardcli.Observability(settings, webhookSecret, "", time.Minute, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	srv := httptest.NewServer(met)
	defer srv.Close()
	body := []byte(`{"app_id":"a","message_delivery_report":{"message_id":"nobody","status":"DELIVERED"}}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set("X-Sinch-Webhook-Signature", sinchsim.Sign(webhookSecret, body, "n1", ts))
	req.Header.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
	req.Header.Set("X-Sinch-Webhook-Signature-Nonce", "n1")
	req.Header.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA256")
	w := httptest.NewRecorder()
	wh.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("signed receipt: got %d", w.Code)
	}
	fams := scrape(t, srv.URL)
	if got := value(fams, "sinch_dispatch_webhook_receipts_total", "status=DELIVERED", "result=unknown_message"); got != 1 {
		t.Errorf("receipt not counted on the dashboard's metrics: %v", got)
	}
	if got := value(fams, "asynq_queue_size", "queue=default"); got != 1 {
		t.Errorf("asynq_queue_size{queue=default}: got %v, want the 1 task enqueued", got)
	}
	if strings.Contains(logs.String(), webhookSecret) {
		t.Error("the webhook secret was logged")
	}
}

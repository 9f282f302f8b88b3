// Package metrics exports the Prometheus metrics of workers and the
// dashboard: Asynq's queue collector plus sends, latency, 429s, the
// effective rate, tracking pages and delivery receipts.
//
// Labels are low-cardinality by construction: every label value comes from
// a fixed list here, so no phone number, campaign ID or secret can become a
// label whatever callers pass.
package metrics

import (
	"net/http"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every series of ours; Asynq's start with "asynq_".
const Namespace = "sinch_dispatch"

// Send results: "accepted" (Sinch took it) or the jobs package's class of
// the failed attempt. Anything else is counted as "other".
var sendResults = []string{"accepted", "retry", "rate_limited", "permanent", "revoked", "interrupted"}

// Receipt statuses are Sinch's MESSAGE_DELIVERY statuses; "none" is an
// event that is not a delivery receipt, "other" a status Sinch may add.
var receiptStatuses = []string{"QUEUED_ON_CHANNEL", "DELIVERED", "READ", "FAILED", "SWITCHING_CHANNEL", "none", "other"}

// Receipt results, as the webhook reports them.
const (
	ReceiptRecorded  = "recorded"        // changed the recipient's outcome
	ReceiptUnchanged = "unchanged"       // the recipient already had this or a stronger outcome
	ReceiptUnknown   = "unknown_message" // no campaign recipient has this message
	ReceiptEarly     = "retry_later"     // our campaign's message, not recorded yet: Sinch retries
	ReceiptIgnored   = "ignored"         // not a delivery receipt, or a status that sets no outcome
)

var receiptResults = []string{ReceiptRecorded, ReceiptUnchanged, ReceiptUnknown, ReceiptEarly, ReceiptIgnored}

// Reasons a webhook call is refused.
const (
	RejectMethod    = "method"          // not a POST
	RejectTooLarge  = "too_large"       // body above the limit
	RejectHeaders   = "missing_headers" // a signature header is missing or malformed
	RejectAlgorithm = "algorithm"       // not HmacSHA256
	RejectStale     = "stale_timestamp" // outside the tolerance
	RejectSignature = "bad_signature"
	RejectReplay    = "replayed_nonce"
	RejectBody      = "bad_body" // signed but not JSON
)

var rejectReasons = []string{RejectMethod, RejectTooLarge, RejectHeaders, RejectAlgorithm, RejectStale,
	RejectSignature, RejectReplay, RejectBody}

// Metrics holds one process's collectors on its own registry, so tests and
// several servers in one process never collide.
type Metrics struct {
	reg          *prometheus.Registry
	sends        *prometheus.CounterVec
	sendLatency  prometheus.Histogram
	throttled    prometheus.Counter
	rate         prometheus.Gauge
	trackerPages prometheus.Counter
	receipts     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	inspector    *asynq.Inspector
}

// New registers our collectors and the Go runtime and process ones. Every
// labelled series starts at zero, so dashboards and alerts see them before
// the first event.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sends_total",
		Help: "Send attempts by result: accepted by Sinch, or the class of the failed attempt.",
	}, []string{"result"})
	m.sendLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "send_duration_seconds",
		Help:    "Duration of one messages:send call (after the rate-limit wait), any result.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sinch_429_total",
		Help: "429 Too Many Requests answers from Sinch (sends and tracking), as reported to the rate limiter.",
	})
	m.rate = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "rate_limit_effective",
		Help: "Effective shared send rate (requests/s) as this process last saw it; drops after 429s, then recovers.",
	})
	m.trackerPages = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "tracker_pages_total",
		Help: "Pages of DISPATCH_SOURCE messages listed by outcome tracking.",
	})
	m.receipts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "webhook_receipts_total",
		Help: "Verified webhook callbacks by delivery status and what was done with them.",
	}, []string{"status", "result"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "webhook_rejected_total",
		Help: "Webhook calls refused, by reason (nothing was recorded for them).",
	}, []string{"reason"})
	for _, r := range sendResults {
		m.sends.WithLabelValues(r)
	}
	for _, s := range receiptStatuses {
		for _, r := range receiptResults {
			m.receipts.WithLabelValues(s, r)
		}
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	m.reg.MustRegister(m.sends, m.sendLatency, m.throttled, m.rate, m.trackerPages, m.receipts, m.rejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WithQueues adds Asynq's queue collector (asynq_queue_size,
// asynq_tasks_enqueued_total{state}, asynq_queue_latency_seconds, …), which
// reads the queues from Redis at each scrape. Call Close to release its
// connection.
func (m *Metrics) WithQueues(opt asynq.RedisConnOpt) *Metrics {
	m.inspector = asynq.NewInspector(opt)
	m.reg.MustRegister(asynqmetrics.NewQueueMetricsCollector(m.inspector))
	return m
}

// Close releases the queue collector's Redis connection, if any.
func (m *Metrics) Close() error {
	if m.inspector == nil {
		return nil
	}
	return m.inspector.Close()
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Handler is the dashboard's /metrics on its own: the queue collector plus
// our (idle) series. A dashboard that also serves the webhook should build
// one Metrics, pass it to the webhook as its Observer and mount its Handler,
// so receipts are counted on the same page.
func Handler(opt asynq.RedisConnOpt) http.Handler { return New().WithQueues(opt).Handler() }

// Registry is the underlying registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveSend records one send attempt; result is "sent" or a jobs.Class
// name (it implements jobs.Observer).
func (m *Metrics) ObserveSend(result string, latency time.Duration) {
	if result == "sent" {
		result = "accepted"
	}
	m.sends.WithLabelValues(oneOf(result, sendResults)).Inc()
	m.sendLatency.Observe(latency.Seconds())
}

// Throttled counts one 429 (wire to ratelimit.Config.OnThrottled).
func (m *Metrics) Throttled() { m.throttled.Inc() }

// SetRate sets the effective-rate gauge (wire to
// ratelimit.Config.OnRateChange, and set it once at start).
func (m *Metrics) SetRate(rate float64) { m.rate.Set(rate) }

// TrackerPage counts one page listed (wire to tracking.Config.OnPage).
func (m *Metrics) TrackerPage() { m.trackerPages.Inc() }

// ObserveReceipt counts one verified callback (it implements
// webhook.Observer). status is the delivery status, "" for other events.
func (m *Metrics) ObserveReceipt(status, result string) {
	if status == "" {
		status = "none"
	}
	m.receipts.WithLabelValues(oneOf(status, receiptStatuses), oneOf(result, receiptResults)).Inc()
}

// ObserveRejected counts one refused webhook call (it implements
// webhook.Observer).
func (m *Metrics) ObserveRejected(reason string) {
	m.rejected.WithLabelValues(oneOf(reason, rejectReasons)).Inc()
}

// oneOf keeps label values to a fixed list.
func oneOf(v string, allowed []string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return "other"
}

// Package webhook receives Sinch's signed callbacks (POST /webhooks/sinch)
// and records MESSAGE_DELIVERY receipts as campaign outcomes, with the same
// precedence rules as outcome tracking (campaign.SetOutcome).
//
// A call is accepted only when its signature headers verify (see Verify),
// its timestamp is fresh and its nonce was never seen (a Redis SET NX that
// outlives the tolerance window). Refused calls get 401 and record nothing.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Path is where the dashboard mounts the handler.
const Path = "/webhooks/sinch"

const (
	// DefaultTolerance is how far a callback's timestamp may be from our
	// clock, either way.
	DefaultTolerance = 5 * time.Minute
	// DefaultMaxBody bounds a callback body; receipts are about 1 KB.
	DefaultMaxBody = 256 << 10
)

// ErrNoSecret is returned by New without a secret (even with an
// OverrideSecret: Sinch signs the app webhook's callbacks with the webhook
// secret): unsigned callbacks could forge outcomes, so the receiver
// refuses to run.
var ErrNoSecret = errors.New("webhook: SINCH_WEBHOOK_SECRET is required to verify Sinch's callbacks")

// Observer counts what the handler does (implemented by *metrics.Metrics).
type Observer interface {
	// ObserveReceipt counts a verified callback: its delivery status ("" for
	// other events) and a metrics.Receipt* result.
	ObserveReceipt(status, result string)
	// ObserveRejected counts a refused call by metrics.Reject* reason.
	ObserveRejected(reason string)
}

// Config configures a Handler.
type Config struct {
	// Secret is the webhook secret configured in Sinch (SINCH_WEBHOOK_SECRET).
	// Required. Never logged.
	Secret string
	// OverrideSecret is the app's
	// callback_settings.secret_for_overridden_callback_urls
	// (SINCH_WEBHOOK_OVERRIDE_SECRET): Sinch signs the receipts of messages
	// sent with their own callback_url with it. Optional; callbacks signed
	// with either secret are accepted. Never logged.
	OverrideSecret string
	// Store records outcomes. Required.
	Store *campaign.Store
	// Redis holds the nonce replay cache. Required.
	Redis redis.UniversalClient
	// Tolerance is the accepted timestamp skew, either way. Defaults to
	// DefaultTolerance.
	Tolerance time.Duration
	// MaxBody bounds the body in bytes. Defaults to DefaultMaxBody.
	MaxBody int64
	// Observer is optional (metrics).
	Observer Observer
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// Now is the clock timestamps are checked against. Defaults to time.Now.
	Now func() time.Time
}

// Handler is the http.Handler of POST /webhooks/sinch.
type Handler struct {
	cfg Config
}

// New returns a Handler; cfg is validated.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Secret == "":
		return nil, ErrNoSecret
	case cfg.Store == nil || cfg.Redis == nil:
		return nil, errors.New("webhook: Store and Redis are required")
	case cfg.Tolerance < 0:
		return nil, errors.New("webhook: the timestamp tolerance must not be negative")
	case cfg.MaxBody < 0:
		return nil, errors.New("webhook: MaxBody must not be negative")
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Tolerance < time.Second {
		return nil, errors.New("webhook: the timestamp tolerance must be at least 1s (timestamps are whole seconds)")
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Handler{cfg: cfg}, nil
}

// nonceTTL keeps a nonce for as long as its timestamp can be accepted: a
// callback first seen at ts−tolerance stays valid until ts+tolerance.
func (h *Handler) nonceTTL() time.Duration { return 2*h.cfg.Tolerance + time.Second }

// ServeHTTP verifies, de-duplicates and records one callback. Sinch retries
// non-2xx answers, so only our own failures (Redis) ask for a retry;
// receipts we cannot use are acknowledged with 200 and counted.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, metrics.RejectMethod, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, metrics.RejectTooLarge, "body too large")
			return
		}
		h.refuse(w, r, http.StatusBadRequest, metrics.RejectBody, "cannot read body")
		return
	}
	nonce, err := VerifyAny([]string{h.cfg.Secret, h.cfg.OverrideSecret}, r.Header, body, h.cfg.Now(), h.cfg.Tolerance)
	if err != nil {
		var ve *VerifyError
		errors.As(err, &ve)
		h.refuse(w, r, http.StatusUnauthorized, ve.Reason, err.Error())
		return
	}
	ctx := r.Context()
	// The nonce is checked after the signature, so unsigned calls cannot
	// fill the cache or burn a real callback's nonce.
	key := keyspace.WebhookNonce(nonce)
	fresh, err := h.cfg.Redis.SetNX(ctx, key, 1, h.nonceTTL()).Result()
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "webhook: nonce cache unavailable", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		h.refuse(w, r, http.StatusUnauthorized, metrics.RejectReplay, "webhook signature: nonce already used (replay)")
		return
	}
	status, result, err := h.record(ctx, body)
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			h.refuse(w, r, http.StatusBadRequest, metrics.RejectBody, err.Error())
			return
		}
		// Forget the nonce: Sinch's retry of this callback must be accepted.
		h.cfg.Redis.Del(context.WithoutCancel(ctx), key)
		if errors.Is(err, errNotYetRecorded) {
			h.cfg.Observer.ObserveReceipt(status, metrics.ReceiptEarly)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "message not recorded yet, retry", http.StatusServiceUnavailable)
			return
		}
		h.cfg.Logger.ErrorContext(ctx, "webhook: receipt not recorded", "err", err)
		http.Error(w, "not recorded, retry", http.StatusInternalServerError)
		return
	}
	h.cfg.Observer.ObserveReceipt(status, result)
	w.WriteHeader(http.StatusOK)
}

// refuse answers an unusable call and counts it. msg never holds secrets.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	h.cfg.Observer.ObserveRejected(reason)
	h.cfg.Logger.WarnContext(r.Context(), "webhook: call refused", "reason", reason, "status", code, "remote", r.RemoteAddr)
	http.Error(w, msg, code)
}

// bodyError is a signed body that is not a callback.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "webhook: body is not a Sinch callback: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// record applies a delivery receipt, with the channel it names, and
// counts a SWITCHING_CHANNEL one; other events are ignored. It returns
// the receipt's status and a metrics.Receipt* result.
func (h *Handler) record(ctx context.Context, body []byte) (status, result string, err error) {
	var ev sinch.DeliveryReceipt
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", "", &bodyError{err}
	}
	rep := ev.MessageDeliveryReport
	if rep == nil { // MESSAGE_INBOUND, EVENT_DELIVERY, … : not ours to record
		return "", metrics.ReceiptIgnored, nil
	}
	status = string(rep.Status)
	u, ok := campaign.DeliveryUpdate(rep.Status, rep.Reason)
	switching := rep.Status == sinch.StatusSwitchingChannel
	if !ok && !switching { // unknown statuses set no outcome
		return status, metrics.ReceiptIgnored, nil
	}
	id, rk, err := h.recipient(ctx, &ev)
	if err != nil {
		return status, "", err
	}
	if rk == "" {
		if id != "" && h.cfg.Now().Sub(ev.AcceptedTime) < earlyReceiptWindow {
			// A receipt can overtake the worker recording the message ID
			// it just got from Sinch: have Sinch deliver it again.
			return status, "", errNotYetRecorded
		}
		h.cfg.Logger.DebugContext(ctx, "webhook: receipt for an unknown message", "message_id", rep.MessageID, "status", status)
		return status, metrics.ReceiptUnknown, nil
	}
	if switching {
		// A fallback to the next channel: counted, the outcome unchanged
		// (the next channel's receipts tell it).
		counted, err := h.cfg.Store.CountSwitch(ctx, id, rk)
		if err != nil || !counted {
			return status, metrics.ReceiptUnknown, err
		}
		return status, metrics.ReceiptRecorded, nil
	}
	if ci := rep.ChannelIdentity; ci != nil {
		u.Channel = ci.Channel // the channel that delivered, with fallback
	}
	u.Key = rk
	res, err := h.cfg.Store.SetOutcomes(ctx, id, []campaign.OutcomeUpdate{u})
	changed := err == nil && res[0]
	if err != nil {
		return status, "", err
	}
	if changed {
		return status, metrics.ReceiptRecorded, nil
	}
	return status, metrics.ReceiptUnchanged, nil
}

// earlyReceiptWindow is how long after Sinch accepted a message a receipt
// for a campaign of ours whose message ID is not recorded yet is answered
// "retry later" rather than dropped as unknown.
const earlyReceiptWindow = 2 * time.Minute

// errNotYetRecorded: the receipt's campaign exists but the send's message
// ID is not recorded yet (the worker is between Sinch's answer and Redis).
var errNotYetRecorded = errors.New("webhook: the message is not recorded yet")

// recipient finds the campaign and recipient a receipt is about: the
// campaign is the message_metadata the worker sent (else the
// correlation_id's "<campaign>:<row>" prefix), the recipient the one the
// message ID was recorded for. rk is "" when none matches; id is then the
// campaign that exists, if one does.
func (h *Handler) recipient(ctx context.Context, ev *sinch.DeliveryReceipt) (id, rk string, err error) {
	msgID := ev.MessageDeliveryReport.MessageID
	if msgID == "" {
		return "", "", nil
	}
	corr, _, _ := strings.Cut(ev.CorrelationID, ":")
	for _, id := range []string{ev.MessageMetadata, corr} {
		if campaign.ValidateID(id) != nil {
			continue
		}
		rk, err := h.cfg.Store.KeyForMessage(ctx, id, msgID)
		if errors.Is(err, campaign.ErrNotFound) {
			if _, gerr := h.cfg.Store.Get(ctx, id); gerr == nil {
				return id, "", nil
			}
			continue
		}
		return id, rk, err
	}
	return "", "", nil
}

type nopObserver struct{}

func (nopObserver) ObserveReceipt(string, string) {}
func (nopObserver) ObserveRejected(string)        {}

package sinchsim

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultProjectID             = "sim-project"
	DefaultAppID                 = "sim-app"
	DefaultKeyID                 = "sim-key"
	DefaultKeySecret             = "sim-secret" // a public sandbox default, not a secret
	DefaultTokenTTL              = time.Hour
	DefaultRateLimit             = 800
	DefaultOutboundRate          = 20
	DefaultDispatchRetentionDays = 1
	DefaultProcessingMode        = ModeConversation
	DefaultReplyText             = "STOP"
	DefaultCallbackWorkers       = 8
	DefaultCallbackQueueSize     = 10000
	DefaultCallbackTimeout       = 5 * time.Second
	DefaultMaxStoredMessages     = 200000
)

// RetentionNone as Config.DispatchRetentionDays stores nothing in the
// dispatch store, like a Sinch app whose dispatch_retention_policy.ttl_days
// is 0 (Sinch's own default). Zero in Config means DefaultDispatchRetentionDays.
const RetentionNone = -1

// Processing modes of the simulated app (App.processing_mode).
const (
	ModeConversation = "CONVERSATION"
	ModeDispatch     = "DISPATCH"
)

// Config configures a simulated project and its apps. Zero fields take the
// documented defaults; New rejects invalid values rather than clamping them.
// Settings other than those of App (processing mode, retention, callbacks,
// faults) apply to every app.
type Config struct {
	// ProjectID is the only project_id the API paths accept; others get 403.
	// Defaults to DefaultProjectID.
	ProjectID string
	// AppID is the project's first app (the default for contact
	// messages). With Apps empty it is the only app, with OutboundRate,
	// OutboundQueueSize and every channel; with Apps set it must be empty
	// or Apps[0].ID. Defaults to Apps[0].ID, else DefaultAppID.
	AppID string
	// Apps are the project's apps, each with its own outbound rate,
	// channels and MT queue. Defaults to the one app AppID.
	Apps []App
	// KeyID and KeySecret are the access key accepted by POST /oauth2/token
	// (HTTP Basic client auth) and by HTTP Basic auth on the API.
	// Default to DefaultKeyID and DefaultKeySecret.
	KeyID     string
	KeySecret string
	// AuthDisabled turns authentication off: every API call and token
	// request is accepted. Defaults to false (auth required), so that the
	// zero Config behaves like Sinch.
	AuthDisabled bool
	// TokenTTL is the lifetime of issued access tokens (expires_in).
	// Defaults to DefaultTokenTTL (1h).
	TokenTTL time.Duration

	// RateLimit is the sustained number of API requests per second the
	// project may make (a token bucket over every /v1 endpoint); above it
	// the API answers 429 with Retry-After. Defaults to DefaultRateLimit;
	// negative means unlimited.
	RateLimit float64
	// RateBurst is the bucket size. Defaults to RateLimit rounded up (one
	// second's worth), at least 1.
	RateBurst int
	// OutboundRate is the default App.OutboundRate: the messages per
	// second an app's MT queue forwards to channels (GET app's
	// rate_limits.outbound), enforced with ModelOutboundQueues.
	// Defaults to DefaultOutboundRate.
	OutboundRate int
	// ModelOutboundQueues turns on the model of each app's MT queue: it
	// forwards messages to their channel at the app's outbound rate, so
	// receipts follow a message's turn (and a ttl may pass meanwhile), and
	// a send to a full queue answers 429. Off (the zero Config, which
	// in-process tests of the product use), messages reach their channel
	// at once and queues never fill; cmd/sinchsim turns it on by default.
	ModelOutboundQueues bool
	// OutboundQueueSize is the default App.QueueSize, the capacity of an
	// app's MT queue; a send to a full queue answers 429.
	// Defaults to DefaultOutboundQueueSize.
	OutboundQueueSize int

	// ProcessingMode is the app's processing mode, ModeConversation or
	// ModeDispatch. With ModeDispatch, or processing_strategy DISPATCH_ONLY,
	// messages go to the dispatch store and recipient.contact_id is refused.
	// Defaults to DefaultProcessingMode (ModeConversation, as for new apps).
	ProcessingMode string
	// DispatchRetentionDays is the app's dispatch_retention_policy.ttl_days:
	// how long DISPATCH messages stay listable. RetentionNone stores
	// nothing. Defaults to DefaultDispatchRetentionDays (1).
	DispatchRetentionDays int
	// MaxStoredMessages bounds each message store (conversation, dispatch);
	// the oldest messages are evicted first. Sinch keeps everything within
	// retention; the bound only protects the sandbox's memory.
	// Defaults to DefaultMaxStoredMessages.
	MaxStoredMessages int

	// Latency is added to every API and token response. The wait honours
	// the request's context. Defaults to 0.
	Latency time.Duration
	// FaultRate500 and FaultRate503 are the probabilities that messages:send
	// answers 500 INTERNAL or 503 UNAVAILABLE without accepting the message.
	// Default to 0.
	FaultRate500 float64
	FaultRate503 float64
	// FaultResetBeforeAccept is the probability that messages:send closes
	// the connection with no response and accepts nothing. Defaults to 0.
	FaultResetBeforeAccept float64
	// FaultLostAfterAccept is the probability that messages:send accepts
	// (and stores, and reports delivery of) the message but then closes the
	// connection with no response, so the client cannot know. Defaults to 0.
	// The four fault probabilities are exclusive and must sum to at most 1.
	FaultLostAfterAccept float64
	// Seed seeds the fault draws so a run is reproducible. Defaults to 0,
	// which picks a random seed.
	Seed uint64

	// ReplySuffix: recipients whose identity ends with it answer each
	// message with ReplyText, stored as a TO_APP contact message whose
	// reply_to is the message. Defaults to "" (nobody replies).
	ReplySuffix string
	// ReplyText is the text of those replies. Defaults to DefaultReplyText.
	ReplyText string
	// FailSuffix: recipients whose identity ends with it are unreachable:
	// their delivery report is FAILED with reason RECIPIENT_NOT_REACHABLE,
	// as Sinch reports a failed delivery, and they send no reply. (A
	// fallback_message is an inbound message the channel could not map,
	// not a delivery failure, so none is made.) It wins over ReplySuffix.
	// Defaults to "" (everyone is reachable).
	FailSuffix string
	// FailFirstChannel is a regular expression (Go syntax, unanchored):
	// a message whose first channel's identity matches it fails there;
	// with another channel to try (channel_priority_order, or the
	// recipient's further identities) Sinch's SWITCHING_CHANNEL receipt
	// follows, then delivery on the next channel, else FAILED.
	// Defaults to "" (every first channel delivers).
	FailFirstChannel string
	// RejectSuffix: messages:send to recipients whose identity ends with it
	// answers 400 INVALID_ARGUMENT, as Sinch does for an identity the
	// channel refuses, so callers can exercise permanent failures.
	// Defaults to "" (nobody is refused).
	RejectSuffix string

	// CallbackURL receives delivery receipts of messages sent without a
	// callback_url, and inbound (MO) messages. Defaults to "" (none).
	CallbackURL string
	// WebhookSecret signs callbacks sent to CallbackURL (see Sign).
	// Defaults to "": unsigned.
	WebhookSecret string
	// OverrideCallbackSecret is the app's
	// callback_settings.secret_for_overridden_callback_urls: it signs the
	// delivery receipts of messages sent with their own callback_url, as
	// Sinch does, and GET app reports it. Defaults to "": those receipts
	// are unsigned.
	OverrideCallbackSecret string
	// PersistMessageStatus is the app's persist_message_status.enabled:
	// listed and fetched app messages carry message_status {status,
	// event_time, reason}. Defaults to false, as for Sinch apps, and
	// message_status is then null.
	PersistMessageStatus bool
	// CallbackDelay is the wait between acceptance and QUEUED_ON_CHANNEL,
	// and again before the final DELIVERED or FAILED. Defaults to 0.
	CallbackDelay time.Duration
	// CallbackWorkers is the number of concurrent callback deliveries.
	// Defaults to DefaultCallbackWorkers.
	CallbackWorkers int
	// CallbackQueueSize bounds the callbacks waiting for delivery; beyond
	// it new ones are dropped and counted, so a slow receiver cannot
	// exhaust memory. Defaults to DefaultCallbackQueueSize.
	CallbackQueueSize int
	// CallbackTimeout bounds one callback POST. Defaults to
	// DefaultCallbackTimeout.
	CallbackTimeout time.Duration

	// Clock returns the current time; tests inject a fake one to control
	// token expiry, rate limiting and the per-second statistics.
	// Defaults to time.Now. Callback delays always use real timers.
	Clock func() time.Time
}

// FieldError is a Config validation error; Field is the Config field name,
// so that callers (like cmd/sinchsim) can name their own flag instead.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.ProjectID = cmp.Or(c.ProjectID, DefaultProjectID)
	if c.AppID == "" && len(c.Apps) > 0 {
		c.AppID = c.Apps[0].ID
	}
	c.AppID = cmp.Or(c.AppID, DefaultAppID)
	c.KeyID = cmp.Or(c.KeyID, DefaultKeyID)
	c.KeySecret = cmp.Or(c.KeySecret, DefaultKeySecret)
	c.TokenTTL = cmp.Or(c.TokenTTL, DefaultTokenTTL)
	c.RateLimit = cmp.Or(c.RateLimit, DefaultRateLimit)
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = max(1, int(c.RateLimit+0.999999))
	}
	c.OutboundRate = cmp.Or(c.OutboundRate, DefaultOutboundRate)
	c.OutboundQueueSize = cmp.Or(c.OutboundQueueSize, DefaultOutboundQueueSize)
	c.Apps = c.appsWithDefaults()
	c.ProcessingMode = cmp.Or(c.ProcessingMode, DefaultProcessingMode)
	c.DispatchRetentionDays = cmp.Or(c.DispatchRetentionDays, DefaultDispatchRetentionDays)
	c.MaxStoredMessages = cmp.Or(c.MaxStoredMessages, DefaultMaxStoredMessages)
	c.ReplyText = cmp.Or(c.ReplyText, DefaultReplyText)
	c.CallbackWorkers = cmp.Or(c.CallbackWorkers, DefaultCallbackWorkers)
	c.CallbackQueueSize = cmp.Or(c.CallbackQueueSize, DefaultCallbackQueueSize)
	c.CallbackTimeout = cmp.Or(c.CallbackTimeout, DefaultCallbackTimeout)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports the first invalid field of c after defaults are
// applied, as a *FieldError.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.TokenTTL < time.Second:
		return bad("TokenTTL", "must be at least 1s")
	case c.RateLimit > 0 && c.RateBurst < 1:
		return bad("RateBurst", "must be at least 1")
	case c.OutboundRate < 0:
		return bad("OutboundRate", "must not be negative")
	case c.OutboundQueueSize < 0:
		return bad("OutboundQueueSize", "must not be negative")
	case c.ProcessingMode != ModeConversation && c.ProcessingMode != ModeDispatch:
		return bad("ProcessingMode", "must be %s or %s", ModeConversation, ModeDispatch)
	case c.DispatchRetentionDays < RetentionNone:
		return bad("DispatchRetentionDays", "must not be negative (use RetentionNone to store nothing)")
	case c.MaxStoredMessages < 1:
		return bad("MaxStoredMessages", "must be at least 1")
	case c.Latency < 0:
		return bad("Latency", "must not be negative")
	case c.CallbackDelay < 0:
		return bad("CallbackDelay", "must not be negative")
	case c.CallbackWorkers < 1:
		return bad("CallbackWorkers", "must be at least 1")
	case c.CallbackQueueSize < 1:
		return bad("CallbackQueueSize", "must be at least 1")
	case c.CallbackTimeout <= 0:
		return bad("CallbackTimeout", "must be positive")
	}
	if err := validateApps(c); err != nil {
		return err
	}
	faults := []struct {
		field string
		p     float64
	}{
		{"FaultRate500", c.FaultRate500},
		{"FaultRate503", c.FaultRate503},
		{"FaultResetBeforeAccept", c.FaultResetBeforeAccept},
		{"FaultLostAfterAccept", c.FaultLostAfterAccept},
	}
	sum := 0.0
	for _, f := range faults {
		// The negated form also rejects NaN.
		if !(f.p >= 0 && f.p <= 1) {
			return bad(f.field, "must be between 0 and 1")
		}
		sum += f.p
	}
	if sum > 1+1e-9 {
		return bad("FaultRate500", "plus the other fault probabilities must not exceed 1")
	}
	if _, err := regexp.Compile(c.FailFirstChannel); err != nil {
		return bad("FailFirstChannel", "is not a valid regular expression: %s", err)
	}
	if c.CallbackURL != "" {
		if err := checkCallbackURL(c.CallbackURL); err != nil {
			return bad("CallbackURL", "%s", err)
		}
	}
	return nil
}

// checkCallbackURL accepts absolute http(s) URLs with a host, as Sinch
// does for callback_url.
func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	return nil
}

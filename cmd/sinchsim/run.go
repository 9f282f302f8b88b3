package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// DefaultAddr is where sinchsim listens unless --addr says otherwise.
const DefaultAddr = "127.0.0.1:9090"

// envPrefix + the flag name in upper snake case is each flag's variable,
// e.g. SINCHSIM_KEY_SECRET for --key-secret. A flag given on the command
// line wins.
const envPrefix = "SINCHSIM_"

// shutdownTimeout bounds the wait for in-flight requests on SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

// options are the parsed flags.
type options struct {
	addr          string
	cfg           sinchsim.Config
	authRequired  bool
	retentionDays int
	apps          string
	fs            *flag.FlagSet
	fieldFlag     map[string]string // Config field → flag, to name flags in errors
}

// newFlags declares every flag; each Config field has one.
func newFlags() *options {
	o := &options{fs: flag.NewFlagSet("sinchsim", flag.ContinueOnError), fieldFlag: map[string]string{}}
	fs, c := o.fs, &o.cfg
	str := func(p *string, name, field, def, usage string) {
		fs.StringVar(p, name, def, usage)
		o.fieldFlag[field] = name
	}
	dur := func(p *time.Duration, name, field string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, usage)
		o.fieldFlag[field] = name
	}
	num := func(p *int, name, field string, def int, usage string) {
		fs.IntVar(p, name, def, usage)
		o.fieldFlag[field] = name
	}
	prob := func(p *float64, name, field, usage string) {
		fs.Float64Var(p, name, 0, usage+" (probability 0..1)")
		o.fieldFlag[field] = name
	}

	fs.StringVar(&o.addr, "addr", DefaultAddr, "listen address (host:port; port 0 picks a free one)")
	str(&c.ProjectID, "project-id", "ProjectID", sinchsim.DefaultProjectID, "the project_id API paths must use")
	str(&c.AppID, "app-id", "AppID", sinchsim.DefaultAppID, "the ID of the project's app (without --apps)")
	fs.StringVar(&o.apps, "apps", "", "the project's apps, instead of --app-id: comma-separated ID[=RATE][:CHANNEL+CHANNEL...], "+
		"e.g. sim-app=20,app2=200:SMS+WHATSAPP; RATE is the app's outbound rate (default --outbound-rate), "+
		"the channels those it has credentials for (default all)")
	o.fieldFlag["Apps"] = "apps"
	str(&c.KeyID, "key-id", "KeyID", sinchsim.DefaultKeyID, "access key ID accepted by /oauth2/token and Basic auth")
	str(&c.KeySecret, "key-secret", "KeySecret", sinchsim.DefaultKeySecret,
		"access key secret (prefer "+envName("key-secret")+": flags show in ps; never logged)")
	fs.BoolVar(&o.authRequired, "auth-required", true, "require a Bearer token or Basic access key on the API")
	dur(&c.TokenTTL, "token-ttl", "TokenTTL", sinchsim.DefaultTokenTTL, "lifetime of issued access tokens")
	fs.Float64Var(&c.RateLimit, "rate-limit", sinchsim.DefaultRateLimit,
		"API requests per second over all /v1 endpoints, then 429 with Retry-After; negative: unlimited")
	o.fieldFlag["RateLimit"] = "rate-limit"
	num(&c.RateBurst, "rate-burst", "RateBurst", 0, "rate limit bucket size; 0: one second's worth of --rate-limit")
	num(&c.OutboundRate, "outbound-rate", "OutboundRate", sinchsim.DefaultOutboundRate,
		"messages per second an app's MT queue forwards to channels (burst: one second's worth; see --outbound-queues), "+
			"reported by GET app as rate_limits.outbound; receipts follow a message's turn")
	fs.BoolVar(&c.ModelOutboundQueues, "outbound-queues", true,
		"model each app's MT queue: messages reach their channel at the app's outbound rate and a full queue answers 429; "+
			"false: at once, never full")
	o.fieldFlag["ModelOutboundQueues"] = "outbound-queues"
	num(&c.OutboundQueueSize, "outbound-queue-size", "OutboundQueueSize", sinchsim.DefaultOutboundQueueSize,
		"messages an app's MT queue holds; a send to a full queue answers 429 with Retry-After")
	str(&c.ProcessingMode, "processing-mode", "ProcessingMode", sinchsim.DefaultProcessingMode,
		"app processing mode: CONVERSATION or DISPATCH (DISPATCH refuses recipient.contact_id)")
	fs.IntVar(&o.retentionDays, "dispatch-retention-days", sinchsim.DefaultDispatchRetentionDays,
		"days DISPATCH messages stay listable (dispatch_retention_policy.ttl_days); 0: store nothing, like Sinch's default")
	o.fieldFlag["DispatchRetentionDays"] = "dispatch-retention-days"
	num(&c.MaxStoredMessages, "max-stored-messages", "MaxStoredMessages", sinchsim.DefaultMaxStoredMessages,
		"messages kept per store (conversation, dispatch); the oldest are evicted first")
	dur(&c.Latency, "latency", "Latency", 0, "delay added to every API and token response")
	prob(&c.FaultRate500, "fault-500", "FaultRate500", "share of messages:send answered 500 INTERNAL")
	prob(&c.FaultRate503, "fault-503", "FaultRate503", "share of messages:send answered 503 UNAVAILABLE")
	prob(&c.FaultResetBeforeAccept, "fault-reset", "FaultResetBeforeAccept",
		"share of messages:send whose connection is reset with nothing accepted")
	prob(&c.FaultLostAfterAccept, "fault-lost", "FaultLostAfterAccept",
		"share of messages:send accepted, then reset with no response")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed of the fault draws, for reproducible runs; 0: random")
	o.fieldFlag["Seed"] = "seed"
	str(&c.ReplySuffix, "reply-suffix", "ReplySuffix", "",
		"recipients whose identity ends with this reply with --reply-text (TO_APP, reply_to the message)")
	str(&c.ReplyText, "reply-text", "ReplyText", sinchsim.DefaultReplyText, "text of those replies")
	str(&c.FailSuffix, "fail-suffix", "FailSuffix", "",
		"recipients whose identity ends with this are unreachable: their delivery receipt is FAILED (RECIPIENT_NOT_REACHABLE)")
	str(&c.FailFirstChannel, "fail-first-channel", "FailFirstChannel", "",
		"regular expression: messages whose first channel's identity matches it fail there, then (SWITCHING_CHANNEL) "+
			"are delivered on the next channel of channel_priority_order or of the recipient's identities, else FAILED")
	str(&c.RejectSuffix, "reject-suffix", "RejectSuffix", "",
		"messages:send to recipients whose identity ends with this answers 400 (a permanent failure)")
	str(&c.CallbackURL, "callback-url", "CallbackURL", "",
		"webhook for delivery receipts (unless a message sets callback_url) and inbound messages")
	str(&c.WebhookSecret, "webhook-secret", "WebhookSecret", "",
		"secret that signs callbacks to --callback-url; empty: unsigned (prefer "+envName("webhook-secret")+"; never logged)")
	str(&c.OverrideCallbackSecret, "override-callback-secret", "OverrideCallbackSecret", "",
		"the app's callback_settings.secret_for_overridden_callback_urls: signs receipts sent to a message's own "+
			"callback_url; empty: unsigned (prefer "+envName("override-callback-secret")+"; never logged)")
	fs.BoolVar(&c.PersistMessageStatus, "persist-message-status", false,
		"the app's persist_message_status: listed messages carry message_status; off (null), as Sinch's default")
	o.fieldFlag["PersistMessageStatus"] = "persist-message-status"
	dur(&c.CallbackDelay, "callback-delay", "CallbackDelay", 0,
		"wait before QUEUED_ON_CHANNEL and again before DELIVERED/FAILED")
	num(&c.CallbackWorkers, "callback-workers", "CallbackWorkers", sinchsim.DefaultCallbackWorkers,
		"concurrent callback deliveries")
	num(&c.CallbackQueueSize, "callback-queue-size", "CallbackQueueSize", sinchsim.DefaultCallbackQueueSize,
		"callbacks waiting at most; more are dropped and counted")
	dur(&c.CallbackTimeout, "callback-timeout", "CallbackTimeout", sinchsim.DefaultCallbackTimeout,
		"timeout of one callback POST")
	return o
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// run parses args (falling back to SINCHSIM_* variables), serves until ctx
// ends, then shuts down. --help prints usage to stdout and returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o := newFlags()
	o.fs.SetOutput(io.Discard) // errors are returned, usage goes to stdout
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.usage(stdout)
			return nil
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	if o.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", o.fs.Arg(0))
	}
	if err := o.applyEnv(getenv); err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	sim, err := sinchsim.New(cfg)
	if err != nil {
		var fe *sinchsim.FieldError
		if errors.As(err, &fe) && o.fieldFlag[fe.Field] != "" {
			return fmt.Errorf("--%s %s", o.fieldFlag[fe.Field], fe.Reason)
		}
		return err
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("sinchsim ready", "url", "http://"+ln.Addr().String(), "project_id", cfg.ProjectID,
		"app_ids", appIDs(cfg), "key_id", cfg.KeyID, "auth_required", !cfg.AuthDisabled)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("sinchsim stopped")
	return nil
}

// applyEnv sets each flag not given on the command line from its
// variable. Errors name the variable and flag but never echo the value.
func (o *options) applyEnv(getenv func(string) string) error {
	given := map[string]bool{}
	o.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	o.fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if err != nil || given[f.Name] || v == "" {
			return
		}
		if o.fs.Set(f.Name, v) != nil {
			err = fmt.Errorf("%s (--%s) has an invalid value", envName(f.Name), f.Name)
		}
	})
	return err
}

// config checks what Config would otherwise read as "use the default"
// (a zero), so a bad flag fails instead of being silently replaced, and
// maps flags whose meaning differs from Config's.
func (o *options) config() (sinchsim.Config, error) {
	c := o.cfg
	nonEmpty := []struct{ field, value string }{
		{"ProjectID", c.ProjectID}, {"AppID", c.AppID}, {"KeyID", c.KeyID}, {"KeySecret", c.KeySecret},
		{"ProcessingMode", c.ProcessingMode}, {"ReplyText", c.ReplyText},
	}
	for _, f := range nonEmpty {
		if f.value == "" {
			return c, fmt.Errorf("--%s must not be empty", o.fieldFlag[f.field])
		}
	}
	positive := []struct {
		field string
		ok    bool
	}{
		{"TokenTTL", c.TokenTTL > 0},
		{"OutboundRate", c.OutboundRate > 0},
		{"OutboundQueueSize", c.OutboundQueueSize > 0},
		{"MaxStoredMessages", c.MaxStoredMessages > 0},
		{"CallbackWorkers", c.CallbackWorkers > 0},
		{"CallbackQueueSize", c.CallbackQueueSize > 0},
		{"CallbackTimeout", c.CallbackTimeout > 0},
	}
	for _, p := range positive {
		if !p.ok {
			return c, fmt.Errorf("--%s must be positive", o.fieldFlag[p.field])
		}
	}
	switch {
	case c.RateLimit == 0:
		return c, errors.New("--rate-limit must not be 0 (use a negative value for unlimited)")
	case c.RateBurst < 0:
		return c, errors.New("--rate-burst must not be negative")
	case o.retentionDays < 0:
		return c, errors.New("--dispatch-retention-days must not be negative")
	case o.retentionDays == 0:
		c.DispatchRetentionDays = sinchsim.RetentionNone
	default:
		c.DispatchRetentionDays = o.retentionDays
	}
	if o.apps != "" {
		given := false
		o.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "app-id" })
		if given {
			return c, errors.New("--app-id and --apps are exclusive: list every app in --apps")
		}
		apps, err := sinchsim.ParseApps(o.apps)
		if err != nil {
			return c, fmt.Errorf("--apps: %w", err)
		}
		c.Apps, c.AppID = apps, ""
	}
	c.AuthDisabled = !o.authRequired
	return c, nil
}

// usage prints every flag with its default and variable.
func (o *options) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: sinchsim [flags]\n\n"+
		"Serves a simulated Sinch Conversation API: POST /oauth2/token, POST /v1/projects/{project}/messages:send,\n"+
		"GET /v1/projects/{project}/messages[/{id}], DELETE .../messages/{id}, GET /v1/projects/{project}/apps[/{app}],\n"+
		"and GET /_sim/stats, POST /_sim/reset, POST /_sim/expire-tokens (no auth). Every flag can also be set with %s<FLAG>\n"+
		"(upper case, dashes as underscores); the command line wins. The four --fault-* rates are exclusive\n"+
		"(one draw per send) and must sum to at most 1.\n\nFlags:\n", envPrefix)
	o.fs.SetOutput(w)
	o.fs.PrintDefaults()
}

// appIDs lists the IDs of cfg's apps for the start-up log line.
func appIDs(cfg sinchsim.Config) string {
	if len(cfg.Apps) == 0 {
		return cfg.AppID
	}
	ids := make([]string, len(cfg.Apps))
	for i, a := range cfg.Apps {
		ids[i] = a.ID
	}
	return strings.Join(ids, ",")
}

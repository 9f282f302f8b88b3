package enqueue

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// Spec describes one upload as a person writes it: the enqueue command's
// flags, an entry of the schedules file, a JSON body. Resolve checks every
// field, each check written once here, and returns the Options to run.
//
// Keys are the enqueue flags' names with underscores (--template-id is
// template_id). Durations, sizes and the threshold are strings ("2h",
// "64KiB", "50%"). An empty field takes its default; a nil pointer was not
// given.
//
// To add a field: add it here with its key, check it in Resolve, and map
// its flag in enqueuecli.
type Spec struct {
	// Campaign is the campaign ID: letters, digits, '.', '_' and '-', at
	// most campaign.MaxIDLen. Required.
	Campaign string `json:"campaign,omitempty" yaml:"campaign,omitempty"`

	// Text, TemplateID or MediaURL is the message: exactly one is required.
	// Text is a Go template over the CSV's columns ("Hi {{.first_name}}").
	Text string `json:"text,omitempty" yaml:"text,omitempty"`
	// TemplateID is a Sinch omni template whose parameters are the CSV's
	// columns; TemplateVersion and TemplateLanguage need it.
	TemplateID       string `json:"template_id,omitempty" yaml:"template_id,omitempty"`
	TemplateVersion  string `json:"template_version,omitempty" yaml:"template_version,omitempty"`
	TemplateLanguage string `json:"template_language,omitempty" yaml:"template_language,omitempty"`
	// MediaURL, an absolute http(s) URL, is sent to every recipient.
	MediaURL string `json:"media_url,omitempty" yaml:"media_url,omitempty"`

	// Channel is the default channel; a "channel" column overrides it per
	// row. Defaults to SMS.
	Channel string `json:"channel,omitempty" yaml:"channel,omitempty"`
	// App is the Sinch app ID the campaign sends from. Defaults to the
	// worker's configured app (enqueue fills in SINCH_APP_ID when set).
	App string `json:"app,omitempty" yaml:"app,omitempty"`
	// Channels is an ordered channel fallback ("WHATSAPP", "SMS"): each
	// message is sent with channel_priority_order in this order and one
	// identity per channel, the row's phone for phone-based channels and a
	// <channel> column (lower case) for the others. One channel is the same
	// as Channel; it cannot be combined with Channel. Defaults to none.
	Channels []string `json:"channels,omitempty" yaml:"channels,omitempty"`
	// ChannelText is a text per channel ("SMS": "Hi {{.first_name}}"), a Go
	// template like Text, sent on that channel instead of the message
	// (explicit_channel_omni_message). Each channel must be listed.
	ChannelText map[string]string `json:"channel_text,omitempty" yaml:"channel_text,omitempty"`
	// ChannelTemplate is a template per channel, "ID" or "ID:LANGUAGE"
	// ("WHATSAPP": "spring_sale:en_US"), sent on that channel instead of
	// the omni template (template_message.channel_template); the
	// parameters are the CSV's columns. Without TemplateID it is the
	// message. Each channel must be listed.
	ChannelTemplate map[string]string `json:"channel_template,omitempty" yaml:"channel_template,omitempty"`
	// ContentType is marketing or notification: Sinch's consent management
	// decides by it (message_content_type) which opt-out list applies.
	// Defaults to none (Sinch's CONTENT_UNKNOWN).
	ContentType string `json:"content_type,omitempty" yaml:"content_type,omitempty"`
	// Priority is high or normal. Defaults to normal.
	Priority string `json:"priority,omitempty" yaml:"priority,omitempty"`
	// TTL is the message's time to live at Sinch, whole seconds of at
	// least 3s. Defaults to 24h.
	TTL string `json:"ttl,omitempty" yaml:"ttl,omitempty"`
	// StrictTTL refuses, before writing anything, a campaign whose
	// recipients cannot all be sent within TTL at the app's outbound rate
	// (without it, the upload only warns). Defaults to false.
	StrictTTL bool `json:"strict_ttl,omitempty" yaml:"strict_ttl,omitempty"`
	// ExpectedRows is the recipient count StrictTTL checks when the CSV is
	// a stream that cannot be counted first (the HTTP API's upload); a file
	// is counted by a dry run instead. Needs StrictTTL.
	ExpectedRows *int `json:"expected_rows,omitempty" yaml:"expected_rows,omitempty"`
	// At (an RFC3339 time) or In (a delay from now), not both, schedules
	// the sends. Defaults to now.
	At string `json:"at,omitempty" yaml:"at,omitempty"`
	In string `json:"in,omitempty" yaml:"in,omitempty"`
	// Window is the daily send window, HH:MM-HH:MM in TZ (an IANA name;
	// defaults to UTC). Defaults to any time; TZ needs Window.
	Window string `json:"window,omitempty" yaml:"window,omitempty"`
	TZ     string `json:"tz,omitempty" yaml:"tz,omitempty"`
	// DefaultRegion is the country (US, FR) of numbers written without
	// +country code. Defaults to none: such numbers are rejected.
	DefaultRegion string `json:"default_region,omitempty" yaml:"default_region,omitempty"`
	// Delimiter separates CSV fields: one character, or `\t`. Defaults to ",".
	Delimiter string `json:"delimiter,omitempty" yaml:"delimiter,omitempty"`
	// Encoding is the CSV's text encoding when it is not UTF-8, a name
	// such as windows-1252 or shift_jis. UTF-16 with a byte-order mark is
	// read whatever this says. Defaults to UTF-8.
	Encoding string `json:"encoding,omitempty" yaml:"encoding,omitempty"`
	// StrictQuotes rejects a row with a " inside an unquoted value (an inch
	// mark: 27" screen) instead of reading it as a literal quote, as
	// spreadsheets do. Defaults to false.
	StrictQuotes bool `json:"strict_quotes,omitempty" yaml:"strict_quotes,omitempty"`
	// Suppress is a file of identities this upload skips (see
	// ReadSuppressList); read by ReadSuppress.
	Suppress string `json:"suppress,omitempty" yaml:"suppress,omitempty"`

	// The input limits. Each defaults to recipients' default of the same
	// name (DefaultMaxBytes …, DefaultMaxTextRunes for MaxMessageChars).
	MaxBytes        string `json:"max_bytes,omitempty" yaml:"max_bytes,omitempty"`
	MaxRowBytes     string `json:"max_row_bytes,omitempty" yaml:"max_row_bytes,omitempty"`
	MaxFieldBytes   string `json:"max_field_bytes,omitempty" yaml:"max_field_bytes,omitempty"`
	MaxColumns      *int   `json:"max_columns,omitempty" yaml:"max_columns,omitempty"`
	MaxMessageChars *int   `json:"max_message_chars,omitempty" yaml:"max_message_chars,omitempty"`

	// AutoPauseWindow and AutoPauseThreshold ("50%" or "0.5") set the
	// campaign's error breaker (campaign.AutoPause). Each one not given
	// keeps the campaign's setting: campaign.DefaultAutoPause for a new one.
	AutoPauseWindow    *int   `json:"autopause_window,omitempty" yaml:"autopause_window,omitempty"`
	AutoPauseThreshold string `json:"autopause_threshold,omitempty" yaml:"autopause_threshold,omitempty"`

	// MaxSegments rejects a row whose SMS, once personalised, needs more
	// segments (at least 1). Defaults to no bound.
	MaxSegments *int `json:"max_segments,omitempty" yaml:"max_segments,omitempty"`
	// GSMSafe replaces typographic characters (’ “ – … and the no-break
	// space) with GSM-7 ones before counting and sending (sms.GSMSafe).
	// Defaults to false.
	GSMSafe bool `json:"gsm_safe,omitempty" yaml:"gsm_safe,omitempty"`
	// PricePerSegment ("0.0075") and Prices (a file of country,price lines;
	// read by ReadPrices) estimate the cost of the SMS. A country's price
	// wins over the file's default, which wins over PricePerSegment.
	// Defaults to no estimate.
	PricePerSegment string `json:"price_per_segment,omitempty" yaml:"price_per_segment,omitempty"`
	Prices          string `json:"prices,omitempty" yaml:"prices,omitempty"`
}

// Vocabulary is how a caller names a Spec's fields in errors.
type Vocabulary int

const (
	// Keys names fields by their JSON/YAML key: "ttl: must be …".
	Keys Vocabulary = iota
	// Flags names fields by their enqueue flag: "--ttl must be …".
	Flags
)

// Name is the field key as the vocabulary writes it.
func (v Vocabulary) Name(key string) string {
	if v == Flags {
		return "--" + strings.ReplaceAll(key, "_", "-")
	}
	return key
}

// FieldError is a problem with one field of a Spec.
type FieldError struct {
	// Field is the field's key, e.g. "ttl" or "template_id".
	Field string
	// Msg says what is wrong as a predicate of the field ("must be at
	// least 1"); another field is written {key}. Empty when Err is set.
	Msg string
	// Err is why the value could not be read (an unknown time zone, an
	// unreadable file).
	Err error
}

// Error names the field by its key.
func (e *FieldError) Error() string { return e.In(Keys) }

func (e *FieldError) Unwrap() error { return e.Err }

var placeholder = regexp.MustCompile(`\{([a-z][a-z_]*)\}`)

// In writes the error in the vocabulary v: "ttl: must be at least 3s" or
// "--ttl must be at least 3s"; "tz: unknown time zone …" or "--tz: …".
func (e *FieldError) In(v Vocabulary) string {
	if e.Err != nil {
		return v.Name(e.Field) + ": " + e.Err.Error()
	}
	msg := placeholder.ReplaceAllStringFunc(e.Msg, func(m string) string { return v.Name(m[1 : len(m)-1]) })
	if v == Flags {
		return v.Name(e.Field) + " " + msg
	}
	return v.Name(e.Field) + ": " + msg
}

// Errors are every problem of one Spec, in field order.
type Errors []*FieldError

// Error names the fields by their keys, one problem per line.
func (e Errors) Error() string { return e.In(Keys) }

// In writes every problem in the vocabulary v, one per line.
func (e Errors) In(v Vocabulary) string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.In(v)
	}
	return strings.Join(lines, "\n")
}

func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// check collects a Spec's problems.
type check struct{ errs Errors }

// must records a predicate on field (see FieldError.Msg).
func (c *check) must(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fail records why field could not be read; a *FieldError is kept as is.
func (c *check) fail(field string, err error) {
	if fe, ok := err.(*FieldError); ok {
		c.errs = append(c.errs, fe)
		return
	}
	c.errs = append(c.errs, &FieldError{Field: field, Err: err})
}

func (c *check) failf(field, format string, args ...any) { c.fail(field, fmt.Errorf(format, args...)) }

func (c *check) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// Resolve checks every field and returns the upload's options (CSV,
// Suppress, Rejects and the run settings are left to the caller). The
// error, if any, is Errors, one per bad field. now is the time In counts
// from.
func (s Spec) Resolve(now time.Time) (Options, error) {
	var c check
	var o Options
	if err := campaign.ValidateID(s.Campaign); err != nil {
		c.fail("campaign", err)
	}
	o.CampaignID = s.Campaign

	o.Channel = recipients.DefaultChannel
	if s.Channel != "" {
		ch, err := recipients.ParseChannel(s.Channel)
		if err != nil {
			c.fail("channel", err)
		}
		o.Channel = ch
	}
	if s.App != "" {
		if err := sinch.ValidateAppID(s.App); err != nil {
			c.fail("app", err)
		}
		o.App = s.App
	}
	c.channels(s, &o) // channels.go
	switch strings.ToLower(strings.TrimSpace(s.ContentType)) {
	case "":
	case "marketing":
		o.ContentType = sinch.ContentMarketing
	case "notification":
		o.ContentType = sinch.ContentNotification
	default:
		c.must("content_type", "must be marketing or notification, got %q", s.ContentType)
	}
	o.Priority = campaign.PriorityNormal
	if s.Priority != "" {
		p, err := campaign.ParsePriority(s.Priority)
		if err != nil {
			c.fail("priority", err)
		}
		o.Priority = p
	}
	o.TTL = DefaultTTL
	if d, ok := c.duration("ttl", s.TTL); ok {
		if err := checkTTL(d); err != nil {
			c.fail("ttl", err)
		}
		o.TTL = d
	}

	o.StrictTTL = s.StrictTTL
	if s.ExpectedRows != nil {
		if !s.StrictTTL {
			c.must("expected_rows", "needs {strict_ttl} (it is the count strict_ttl checks)")
		}
		o.ExpectedRows = int64(c.count("expected_rows", s.ExpectedRows, 0))
	}

	switch {
	case s.At != "" && s.In != "":
		c.must("in", "cannot be combined with {at}: give {at} or {in}, not both")
	case s.At != "":
		t, err := time.Parse(time.RFC3339, s.At)
		if err != nil {
			c.failf("at", "want an RFC3339 time like 2026-11-23T09:00:00+01:00, got %q", s.At)
		}
		o.ProcessAt = t
	default:
		if d, ok := c.duration("in", s.In); ok {
			if d < 0 {
				c.must("in", "must not be negative")
			} else if d > 0 {
				o.ProcessAt = now.Add(d)
			}
		}
	}

	loc, err := s.Location()
	if err != nil {
		c.fail("tz", err)
		loc = time.UTC // check the window's hours anyway
	}
	switch {
	case s.Window != "":
		w, err := campaign.ParseWindow(s.Window, loc)
		if err != nil {
			c.fail("window", err)
		}
		o.Window = w
	case s.TZ != "":
		c.must("tz", "needs {window} (it is the window's time zone)")
	}

	region, err := recipients.ParseRegion(s.DefaultRegion)
	if err != nil {
		c.fail("default_region", err)
	}
	o.DefaultRegion = region
	o.Delimiter = recipients.DefaultDelimiter
	if s.Delimiter != "" {
		d, err := recipients.ParseDelimiter(s.Delimiter)
		if err != nil {
			c.fail("delimiter", err)
		}
		o.Delimiter = d
	}

	if _, err := recipients.ParseEncoding(s.Encoding); err != nil {
		c.fail("encoding", err)
	}
	o.Encoding, o.StrictQuotes = s.Encoding, s.StrictQuotes

	o.MaxBytes = c.size("max_bytes", s.MaxBytes, recipients.DefaultMaxBytes)
	rowBytes := c.size("max_row_bytes", s.MaxRowBytes, recipients.DefaultMaxRowBytes)
	fieldBytes := c.size("max_field_bytes", s.MaxFieldBytes, recipients.DefaultMaxFieldBytes)
	if fieldBytes > rowBytes && rowBytes > 0 {
		c.must("max_field_bytes", "(%s) must not exceed {max_row_bytes} (%s)", FormatSize(fieldBytes), FormatSize(rowBytes))
	}
	o.MaxRowBytes, o.MaxFieldBytes = int(rowBytes), int(fieldBytes)
	o.MaxColumns = c.count("max_columns", s.MaxColumns, recipients.DefaultMaxColumns)
	maxChars := c.count("max_message_chars", s.MaxMessageChars, recipients.DefaultMaxTextRunes)

	textLimits := recipients.TemplateOptions{MaxTextRunes: max(maxChars, 0)}
	o.Source = c.channelContent(s, o.listed(), c.source(s, textLimits), textLimits) // channels.go

	if s.AutoPauseWindow != nil {
		ap := campaign.DefaultAutoPause
		ap.Window = *s.AutoPauseWindow
		if err := ap.Validate(); err != nil {
			c.fail("autopause_window", err)
		}
		o.AutoPauseWindow = &ap.Window
	}
	if s.AutoPauseThreshold != "" {
		ap := campaign.DefaultAutoPause
		ap.Threshold, err = parseFraction(s.AutoPauseThreshold)
		if err == nil {
			err = ap.Validate()
		}
		if err != nil {
			c.fail("autopause_threshold", err)
		}
		o.AutoPauseThreshold = &ap.Threshold
	}

	if s.MaxSegments != nil {
		o.SMS.MaxSegments = c.count("max_segments", s.MaxSegments, 0)
	}
	o.SMS.GSMSafe = s.GSMSafe
	if s.PricePerSegment != "" {
		flat, err := sms.ParsePrice(s.PricePerSegment)
		if err != nil {
			c.fail("price_per_segment", err)
		}
		p := sms.Prices{}.WithFlat(flat)
		o.SMS.Prices = &p
	}
	return o, c.err()
}

// ReadPrices reads the Prices file, with PricePerSegment as the price of
// countries it has no line for, into o (which Resolve returned). It does
// nothing without a file.
func (s Spec) ReadPrices(o *Options) error {
	if s.Prices == "" {
		return nil
	}
	f, err := os.Open(s.Prices)
	if err != nil {
		return &FieldError{Field: "prices", Err: err}
	}
	defer f.Close()
	p, err := sms.ParsePrices(f)
	if err != nil {
		return &FieldError{Field: "prices", Err: fmt.Errorf("%s: %w", filepath.Base(s.Prices), err)}
	}
	if s.PricePerSegment != "" {
		flat, err := sms.ParsePrice(s.PricePerSegment)
		if err != nil {
			return &FieldError{Field: "price_per_segment", Err: err}
		}
		p = p.WithFlat(flat)
	}
	o.SMS.Prices = &p
	return nil
}

// Location is the time zone of the window (TZ), UTC when TZ is empty.
func (s Spec) Location() (*time.Location, error) {
	return campaign.LoadLocation(s.TZ)
}

// ReadSuppress reads the Suppress file (nil when there is none). Its
// numbers are normalised with DefaultRegion.
func (s Spec) ReadSuppress() (*SuppressList, error) {
	if s.Suppress == "" {
		return nil, nil
	}
	f, err := os.Open(s.Suppress)
	if err != nil {
		return nil, &FieldError{Field: "suppress", Err: err}
	}
	defer f.Close()
	l, err := ReadSuppressList(f, s.DefaultRegion)
	if err != nil {
		return nil, &FieldError{Field: "suppress", Err: fmt.Errorf("%s: %w", filepath.Base(s.Suppress), err)}
	}
	return l, nil
}

// source picks exactly one of text, template_id and media_url (nil when
// the choice is wrong or the chosen one is bad).
func (c *check) source(s Spec, textLimits recipients.TemplateOptions) Source {
	var given []string
	template, templateKey := s.TemplateID, "template_id"
	if template == "" && len(s.ChannelTemplate) > 0 {
		template, templateKey = "channel", "channel_template" // a channel template alone is the template
	}
	for _, f := range []struct{ key, v string }{{"text", s.Text}, {templateKey, template}, {"media_url", s.MediaURL}} {
		if f.v != "" {
			given = append(given, f.key)
		}
	}
	if s.TemplateID == "" {
		if s.TemplateVersion != "" {
			c.must("template_version", "needs {template_id}")
		}
		if s.TemplateLanguage != "" {
			c.must("template_language", "needs {template_id}")
		}
	}
	switch {
	case len(given) == 0:
		c.must("text", "is required (or {template_id} or {media_url}): give exactly one message source")
		return nil
	case len(given) > 1:
		c.must(given[1], "cannot be combined with {%s}: give exactly one message source", given[0])
		return nil
	case s.Text != "":
		src, err := NewTextSourceWith(s.Text, textLimits)
		if err != nil {
			c.fail("text", err)
			return nil
		}
		return src
	case template != "":
		return &TemplateSource{ID: s.TemplateID, Version: s.TemplateVersion, Language: s.TemplateLanguage}
	}
	src, err := NewMediaSource(s.MediaURL)
	if err != nil {
		c.fail("media_url", err)
		return nil
	}
	return src
}

// duration reads a duration field; ok is false when it is empty or bad.
func (c *check) duration(field, v string) (d time.Duration, ok bool) {
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		c.failf(field, "want a duration such as 24h or 90m, got %q", v)
		return 0, false
	}
	return d, true
}

// size reads a size field of at least 1 byte, def when empty (0 when bad).
func (c *check) size(field, v string, def int64) int64 {
	if v == "" {
		return def
	}
	n, err := ParseSize(v)
	switch {
	case err != nil:
		c.fail(field, err)
		return 0
	case n < 1:
		c.must(field, "must be at least 1")
		return 0
	case n > math.MaxInt:
		c.must(field, "must be at most %s", FormatSize(math.MaxInt))
		return 0
	}
	return n
}

// count reads a count field of at least 1, def when not given (0 when bad).
func (c *check) count(field string, v *int, def int) int {
	if v == nil {
		return def
	}
	if *v < 1 {
		c.must(field, "must be at least 1")
		return 0
	}
	return *v
}

// checkTTL is the one check of a message TTL.
func checkTTL(d time.Duration) error {
	if d < sinch.MinTTL || d > sinch.MaxTTL || d%time.Second != 0 {
		return &FieldError{Field: "ttl", Msg: fmt.Sprintf("must be whole seconds between %s and %s", sinch.MinTTL, sinch.MaxTTL)}
	}
	return nil
}

// checkMediaURL is the one check of a media URL.
func checkMediaURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &FieldError{Field: "media_url", Msg: "must be an absolute http(s) URL"}
	}
	return nil
}

// parseFraction reads "50%" or "0.5".
func parseFraction(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a percentage like 50%% or a fraction like 0.5, got %q", s)
	}
	if pct {
		f /= 100
	}
	return f, nil
}

// autoPause is the campaign's auto-pause with the given settings applied
// on top of cur, and whether any was given.
func (o *Options) autoPause(cur campaign.AutoPause) (campaign.AutoPause, bool) {
	if o.AutoPauseWindow != nil {
		cur.Window = *o.AutoPauseWindow
	}
	if o.AutoPauseThreshold != nil {
		cur.Threshold = *o.AutoPauseThreshold
	}
	return cur, o.AutoPauseWindow != nil || o.AutoPauseThreshold != nil
}

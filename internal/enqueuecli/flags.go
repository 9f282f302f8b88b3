package enqueuecli

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
)

// specFlags maps the upload's flags onto s, one flag per Spec field, named
// as its key with dashes (see enqueue.Flags). The defaults shown are the
// Spec's: a flag not given leaves its field empty.
func specFlags(fs *flag.FlagSet, s *enqueue.Spec) {
	str := func(p *string, name, def, usage string) { fs.Var(&textFlag{p: p, def: def}, name, usage) }
	num := func(p **int, name string, def int, usage string) { fs.Var(&intFlag{p: p, def: def}, name, usage) }

	str(&s.Campaign, "campaign", "", "campaign `ID` (letters, digits, . _ -; at most 64) [required]")
	str(&s.Text, "text", "", "message `text`: a Go template over the CSV columns, e.g. 'Hi {{.first_name}}'")
	str(&s.TemplateID, "template-id", "", "Sinch omni template `ID`; its parameters come from the CSV columns")
	str(&s.TemplateVersion, "template-version", "", "Sinch template `version` (with --template-id)")
	str(&s.TemplateLanguage, "template-language", "", "Sinch template `language` code, e.g. en-US (with --template-id)")
	str(&s.MediaURL, "media-url", "", "send this media `URL` to every recipient")
	str(&s.Channel, "channel", string(recipients.DefaultChannel), "default `channel`; a 'channel' column overrides it per row")
	str(&s.App, "app", "", "Sinch app `ID` the campaign sends from (default: the workers' SINCH_APP_ID)")
	fs.Var(&listFlag{p: &s.Channels}, "channels", "ordered channel fallback, e.g. `WHATSAPP,SMS`: the phone for phone-based channels, a <channel> column (messenger) for the others")
	fs.Var(&mapFlag{p: &s.ChannelText}, "channel-text", "a text of its own for one listed channel, `CHANNEL=TEXT` (e.g. SMS='Hi {{.first_name}}'); repeatable")
	fs.Var(&mapFlag{p: &s.ChannelTemplate}, "channel-template", "a template for one listed channel instead of the omni template, `CHANNEL=ID[:LANGUAGE]` (e.g. WHATSAPP=spring_sale:en_US); repeatable")
	str(&s.ContentType, "content-type", "", "message `kind` for Sinch's consent management: marketing or notification (message_content_type)")
	str(&s.Priority, "priority", string(campaign.PriorityNormal), "priority `level`: high (Sinch HIGH_PRIORITY, queue critical) or normal (NORMAL_PRIORITY, queue default)")
	str(&s.TTL, "ttl", enqueue.DefaultTTL.String(), "message time to live at Sinch, a `duration` of whole seconds, 3s or more")
	fs.BoolVar(&s.StrictTTL, "strict-ttl", false, "refuse, writing nothing, a campaign that cannot be sent within --ttl at the app's outbound rate (default: warn)")
	num(&s.ExpectedRows, "expected-rows", 0, "the recipient `count` --strict-ttl checks instead of counting the CSV first")
	str(&s.At, "at", "", "send at this RFC3339 `time` instead of now")
	str(&s.In, "in", "", "send after this `delay` (e.g. 2h) instead of now")
	str(&s.Window, "window", "", "send only between these local `hours` each day, e.g. 09:00-20:00 (20:00-08:00 crosses midnight); sends due outside wait")
	str(&s.TZ, "tz", "UTC", "time `zone` of --window, an IANA name such as Europe/Paris")
	str(&s.Suppress, "suppress", "", "skip the identities in this `file` for this upload only: a CSV with a phone column, or one number per line")
	str(&s.DefaultRegion, "default-region", "", "`country` code (e.g. US, FR) for phone numbers written without +country code")
	str(&s.Encoding, "encoding", "", "text `encoding` of the CSV when not UTF-8, e.g. windows-1252 (UTF-16 with a byte-order mark is always read)")
	fs.BoolVar(&s.StrictQuotes, "strict-quotes", false, "reject rows with a \" inside an unquoted value instead of reading it as an inch mark")
	str(&s.Delimiter, "delimiter", string(recipients.DefaultDelimiter), "CSV field delimiter, one `character` (\\t for tab)")

	// Input limits: each bounds the memory or cost of one hostile or
	// mistaken upload; the defaults fit any real campaign.
	str(&s.MaxBytes, "max-bytes", enqueue.FormatSize(recipients.DefaultMaxBytes), "refuse a CSV larger than this `size` (e.g. 2GiB, 500MiB, 10MB)")
	str(&s.MaxRowBytes, "max-row-bytes", enqueue.FormatSize(recipients.DefaultMaxRowBytes), "reject a CSV row longer than this `size`")
	str(&s.MaxFieldBytes, "max-field-bytes", enqueue.FormatSize(recipients.DefaultMaxFieldBytes), "reject a CSV row with a cell longer than this `size`")
	num(&s.MaxColumns, "max-columns", recipients.DefaultMaxColumns, "refuse a CSV whose header has more columns than this `number`")
	num(&s.MaxMessageChars, "max-message-chars", recipients.DefaultMaxTextRunes,
		"reject a row whose rendered --text message is longer than this `number` of characters")

	// Only the auto-pause flags given change a campaign's settings: a
	// re-run keeps the others.
	num(&s.AutoPauseWindow, "autopause-window", campaign.DefaultAutoPauseWindow,
		"auto-pause: how many (a `number`) of the latest final send outcomes are looked at; 0 disables auto-pause")
	str(&s.AutoPauseThreshold, "autopause-threshold", "50%",
		"auto-pause: pause the campaign when more than this `share` of those failed (50% or 0.5)")

	// SMS length and cost (docs/sms.md).
	num(&s.MaxSegments, "max-segments", 0, "reject a row whose SMS needs more than this `number` of segments (default: no bound)")
	fs.BoolVar(&s.GSMSafe, "gsm-safe", false, "replace typographic characters (’ “ – … no-break space) with GSM-7 ones before counting and sending")
	str(&s.PricePerSegment, "price-per-segment", "", "estimate the cost at this `price` per SMS segment, e.g. 0.0075")
	str(&s.Prices, "prices", "", "estimate the cost from this CSV `file` of country,price lines (ISO codes such as US, FR; a default line)")
}

// textFlag sets a Spec string field when given; help shows def.
type textFlag struct {
	p   *string
	def string
}

func (f *textFlag) String() string {
	if f.p == nil || *f.p == "" {
		return f.def
	}
	return *f.p
}

func (f *textFlag) Set(v string) error { *f.p = v; return nil }

// listFlag sets a Spec list field from a comma-separated value.
type listFlag struct{ p *[]string }

func (f *listFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f *listFlag) Set(v string) error { *f.p = strings.Split(v, ","); return nil }

// mapFlag adds KEY=VALUE to a Spec map field, once per use of the flag.
type mapFlag struct{ p *map[string]string }

func (f *mapFlag) String() string {
	if f.p == nil || len(*f.p) == 0 {
		return ""
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(*f.p)) {
		kv = append(kv, k+"="+(*f.p)[k])
	}
	return strings.Join(kv, " ")
}

func (f *mapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New("want CHANNEL=VALUE")
	}
	if *f.p == nil {
		*f.p = map[string]string{}
	}
	if _, dup := (*f.p)[k]; dup {
		return fmt.Errorf("%s is given twice", k)
	}
	(*f.p)[k] = val
	return nil
}

// intFlag sets a Spec *int field when given; help shows def.
type intFlag struct {
	p   **int
	def int
}

func (f *intFlag) String() string {
	if f.p == nil || *f.p == nil {
		return strconv.Itoa(f.def)
	}
	return strconv.Itoa(**f.p)
}

func (f *intFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("want a whole number")
	}
	*f.p = &n
	return nil
}

// inFlags writes the Spec's errors with flag names: --ttl, not ttl.
func inFlags(err error) error {
	var errs enqueue.Errors
	if errors.As(err, &errs) {
		return errors.New(errs.In(enqueue.Flags))
	}
	var fe *enqueue.FieldError
	if errors.As(err, &fe) {
		return errors.New(fe.In(enqueue.Flags))
	}
	return err
}

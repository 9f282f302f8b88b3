package enqueue

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func intp(n int) *int { return &n }

func goodSpec() Spec { return Spec{Campaign: "c1", Text: "Hi {{.name}}"} }

func TestResolveDefaultsAndValues(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	o, err := goodSpec().Resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{CampaignID: "c1", Source: o.Source, Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal,
		TTL: DefaultTTL, Delimiter: ',', MaxBytes: recipients.DefaultMaxBytes, MaxRowBytes: recipients.DefaultMaxRowBytes,
		MaxFieldBytes: recipients.DefaultMaxFieldBytes, MaxColumns: recipients.DefaultMaxColumns}
	if !reflect.DeepEqual(o, want) || o.Source.Describe() != "text" {
		t.Fatalf("defaults: got %+v, want %+v", o, want)
	}

	s := Spec{Campaign: "c2", TemplateID: "welcome", TemplateVersion: "2", TemplateLanguage: "fr-FR",
		Channel: "whatsapp", Priority: "high", TTL: "2h", In: "90m", Window: "20:00-08:00", TZ: "Europe/Paris",
		DefaultRegion: "fr", Delimiter: `\t`, MaxBytes: "10MiB", MaxRowBytes: "64KiB", MaxFieldBytes: "1KiB",
		MaxColumns: intp(5), MaxMessageChars: intp(160), AutoPauseWindow: intp(20), AutoPauseThreshold: "25%"}
	o, err = s.Resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	if o.Channel != sinch.ChannelWhatsApp || o.Priority != campaign.PriorityHigh || o.TTL != 2*time.Hour ||
		!o.ProcessAt.Equal(now.Add(90*time.Minute)) || o.Window.String() != "20:00-08:00 Europe/Paris" ||
		o.DefaultRegion != "FR" || o.Delimiter != '\t' || o.MaxBytes != 10<<20 || o.MaxRowBytes != 64<<10 ||
		o.MaxFieldBytes != 1<<10 || o.MaxColumns != 5 || *o.AutoPauseWindow != 20 || *o.AutoPauseThreshold != 0.25 {
		t.Fatalf("got %+v", o)
	}
	if ts, ok := o.Source.(*TemplateSource); !ok || !reflect.DeepEqual(*ts, TemplateSource{ID: "welcome", Version: "2", Language: "fr-FR"}) {
		t.Fatalf("got source %#v, want the template", o.Source)
	}
	at, _ := Spec{Campaign: "c3", MediaURL: "https://x.example/a.png", At: "2026-12-01T09:00:00+01:00"}.Resolve(now)
	if at.ProcessAt.UTC() != time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC) || at.Source.Describe() != "media" {
		t.Fatalf("got %+v, want the --at time and the media source", at)
	}
}

func TestResolveNamesTheFieldInBothVocabularies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*Spec)
		key, flag string // the error in each vocabulary
	}{
		{"no campaign", func(s *Spec) { s.Campaign = "" }, "campaign: campaign ID is required", "--campaign: campaign ID is required"},
		{"bad campaign", func(s *Spec) { s.Campaign = "a b" }, "campaign: campaign ID may contain only", "--campaign: campaign ID may contain only"},
		{"no message", func(s *Spec) { s.Text = "" },
			"text: is required (or template_id or media_url): give exactly one message source",
			"--text is required (or --template-id or --media-url): give exactly one message source"},
		{"two messages", func(s *Spec) { s.MediaURL = "https://x.example/a.png" },
			"media_url: cannot be combined with text: give exactly one message source",
			"--media-url cannot be combined with --text: give exactly one message source"},
		{"bad template", func(s *Spec) { s.Text = "Hi {{.name" }, "text: recipients: invalid message template: ", "--text: recipients: invalid message template: "},
		{"version without template", func(s *Spec) { s.TemplateVersion = "2" }, "template_version: needs template_id", "--template-version needs --template-id"},
		{"language without template", func(s *Spec) { s.TemplateLanguage = "fr" }, "template_language: needs template_id", "--template-language needs --template-id"},
		{"bad media url", func(s *Spec) { s.Text, s.MediaURL = "", "ftp://x/a.png" }, "media_url: must be an absolute http(s) URL", "--media-url must be an absolute http(s) URL"},
		{"bad channel", func(s *Spec) { s.Channel = "PIGEON" }, "channel: unknown channel (want one of", "--channel: unknown channel (want one of"},
		{"bad priority", func(s *Spec) { s.Priority = "urgent" }, `priority: priority must be high or normal, got "urgent"`, `--priority: priority must be high or normal`},
		{"unreadable ttl", func(s *Spec) { s.TTL = "a day" }, `ttl: want a duration such as 24h or 90m, got "a day"`, `--ttl: want a duration`},
		{"short ttl", func(s *Spec) { s.TTL = "2s" }, "ttl: must be whole seconds between 3s and", "--ttl must be whole seconds between 3s and"},
		{"fractional ttl", func(s *Spec) { s.TTL = "3500ms" }, "ttl: must be whole seconds", "--ttl must be whole seconds"},
		{"expected rows without strict ttl", func(s *Spec) { s.ExpectedRows = intp(10) }, "expected_rows: needs strict_ttl", "--expected-rows needs --strict-ttl"},
		{"zero expected rows", func(s *Spec) { s.StrictTTL, s.ExpectedRows = true, intp(0) }, "expected_rows: must be at least 1", "--expected-rows must be at least 1"},
		{"at and in", func(s *Spec) { s.At, s.In = "2030-01-01T00:00:00Z", "1h" }, "in: cannot be combined with at: give at or in, not both", "--in cannot be combined with --at: give --at or --in, not both"},
		{"bad at", func(s *Spec) { s.At = "tomorrow" }, `at: want an RFC3339 time`, `--at: want an RFC3339 time`},
		{"bad in", func(s *Spec) { s.In = "soon" }, `in: want a duration`, `--in: want a duration`},
		{"negative in", func(s *Spec) { s.In = "-1h" }, "in: must not be negative", "--in must not be negative"},
		{"bad window", func(s *Spec) { s.Window = "9am-5pm" }, "window: window start: want HH:MM", "--window: window start: want HH:MM"},
		{"bad tz", func(s *Spec) { s.Window, s.TZ = "09:00-20:00", "Europe/Lutetia" }, `tz: unknown time zone "Europe/Lutetia"`, `--tz: unknown time zone "Europe/Lutetia"`},
		{"tz without window", func(s *Spec) { s.TZ = "Europe/Paris" }, "tz: needs window (it is the window's time zone)", "--tz needs --window (it is the window's time zone)"},
		{"bad region", func(s *Spec) { s.DefaultRegion = "XX" }, `default_region: "XX" is not a country code`, `--default-region: "XX" is not a country code`},
		{"long delimiter", func(s *Spec) { s.Delimiter = ";;" }, "delimiter: must be one character", "--delimiter: must be one character"},
		{"quote delimiter", func(s *Spec) { s.Delimiter = `"` }, "delimiter: must be one character", "--delimiter: must be one character"},
		{"non-ASCII delimiter", func(s *Spec) { s.Delimiter = "é" }, "delimiter: must be one character", "--delimiter: must be one character"},
		{"unreadable size", func(s *Spec) { s.MaxBytes = "2XB" }, `max_bytes: want a size such as`, `--max-bytes: want a size such as`},
		{"zero max bytes", func(s *Spec) { s.MaxBytes = "0" }, "max_bytes: must be at least 1", "--max-bytes must be at least 1"},
		{"zero row bytes", func(s *Spec) { s.MaxRowBytes = "0" }, "max_row_bytes: must be at least 1", "--max-row-bytes must be at least 1"},
		{"zero field bytes", func(s *Spec) { s.MaxFieldBytes = "0B" }, "max_field_bytes: must be at least 1", "--max-field-bytes must be at least 1"},
		{"field over row", func(s *Spec) { s.MaxFieldBytes = "2MiB" }, "max_field_bytes: (2MiB) must not exceed max_row_bytes (1MiB)", "--max-field-bytes (2MiB) must not exceed --max-row-bytes (1MiB)"},
		{"zero columns", func(s *Spec) { s.MaxColumns = intp(0) }, "max_columns: must be at least 1", "--max-columns must be at least 1"},
		{"zero message chars", func(s *Spec) { s.MaxMessageChars = intp(0) }, "max_message_chars: must be at least 1", "--max-message-chars must be at least 1"},
		{"negative autopause window", func(s *Spec) { s.AutoPauseWindow = intp(-1) }, "autopause_window: auto-pause window must not be negative", "--autopause-window: auto-pause window must not be negative"},
		{"huge autopause window", func(s *Spec) { s.AutoPauseWindow = intp(100001) }, "autopause_window: auto-pause window must be at most 100000", "--autopause-window: auto-pause window must be at most"},
		{"threshold over 100%", func(s *Spec) { s.AutoPauseThreshold = "150%" }, "autopause_threshold: auto-pause threshold must be at least 0 and below 1", "--autopause-threshold: auto-pause threshold must be"},
		{"threshold of 1", func(s *Spec) { s.AutoPauseThreshold = "1" }, "autopause_threshold: auto-pause threshold must be at least 0 and below 1", "--autopause-threshold: auto-pause threshold"},
		{"unreadable threshold", func(s *Spec) { s.AutoPauseThreshold = "half" }, `autopause_threshold: want a percentage like 50% or a fraction like 0.5, got "half"`, `--autopause-threshold: want a percentage`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goodSpec()
			tc.edit(&s)
			_, err := s.Resolve(time.Now())
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one field error", err)
			}
			if got := errs.In(Keys); !strings.HasPrefix(got, tc.key) || err.Error() != got {
				t.Errorf("keys: got %q (Error %q), want it to start with %q", got, err.Error(), tc.key)
			}
			if got := errs.In(Flags); !strings.HasPrefix(got, tc.flag) {
				t.Errorf("flags: got %q, want it to start with %q", got, tc.flag)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.key, fe.Field+":") {
				t.Errorf("got field %v, want the one named in %q", fe, tc.key)
			}
		})
	}
}

func TestResolveReportsEveryBadField(t *testing.T) {
	s := Spec{TTL: "1s", Channel: "PIGEON", MaxColumns: intp(0)}
	_, err := s.Resolve(time.Now())
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want Errors", err)
	}
	var fields []string
	for _, fe := range errs {
		fields = append(fields, fe.Field)
	}
	if want := []string{"campaign", "channel", "ttl", "max_columns", "text"}; !reflect.DeepEqual(fields, want) {
		t.Fatalf("got fields %v, want %v", fields, want)
	}
}

func TestReadSuppressNamesTheField(t *testing.T) {
	dir := t.TempDir()
	s := goodSpec()
	s.Suppress = dir + "/nope.txt"
	if _, err := s.ReadSuppress(); err == nil || !strings.HasPrefix(err.Error(), "suppress: open ") {
		t.Fatalf("got %v, want suppress: open …", err)
	}
	if l, err := goodSpec().ReadSuppress(); l != nil || err != nil {
		t.Fatalf("no file: got %v, %v; want nothing", l, err)
	}
}

func TestDecodeSpecJSON(t *testing.T) {
	s, err := DecodeSpecJSON(strings.NewReader(`{"campaign": "c1", "text": "Hi", "ttl": "2h", "max_bytes": "1MiB",
		"max_columns": 10, "autopause_window": 20, "autopause_threshold": "50%", "template_id": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{Campaign: "c1", Text: "Hi", TTL: "2h", MaxBytes: "1MiB", MaxColumns: intp(10), AutoPauseWindow: intp(20), AutoPauseThreshold: "50%"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}

	for _, tc := range []struct {
		name, in string
		want     []string // every error, keys vocabulary
	}{
		{"unknown keys", `{"campaign": "c1", "txet": "Hi", "csv": "r.csv"}`, []string{"csv: is not a known key", "txet: is not a known key"}},
		{"duration as a number", `{"ttl": 7200}`, []string{"ttl: want a string, got a JSON number"}},
		{"size as a number", `{"max_bytes": 1048576}`, []string{"max_bytes: want a string, got a JSON number"}},
		{"count as a string", `{"max_columns": "10"}`, []string{"max_columns: want a whole number, got a JSON string"}},
		{"count as a fraction", `{"autopause_window": 2.5}`, []string{"autopause_window: want a whole number, got a JSON number 2.5"}},
		{"several at once", `{"zz": 1, "ttl": true, "text": 3}`, []string{"text: want a string, got a JSON number", "ttl: want a string, got a JSON bool", "zz: is not a known key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSpecJSON(strings.NewReader(tc.in))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want Errors", err)
			}
			if got := strings.Split(errs.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[1]`, `null`, `{"text": "a"} {"text": "b"}`, `{"text": `} {
		if _, err := DecodeSpecJSON(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "want one JSON object") {
			t.Errorf("%q: got %v, want one JSON object", bad, err)
		}
	}
}

// Every Spec field has a key, and the keys are what DecodeSpecJSON knows.
func TestEverySpecFieldHasAKey(t *testing.T) {
	typ := reflect.TypeFor[Spec]()
	if len(specFields) != typ.NumField() {
		t.Fatalf("got %d keys for %d fields", len(specFields), typ.NumField())
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		j, y := f.Tag.Get("json"), f.Tag.Get("yaml")
		if j == "" || j != y {
			t.Errorf("field %s: json tag %q, yaml tag %q; want the same key", f.Name, j, y)
		}
	}
}

// Auto-pause settings are written with the campaign; a re-run changes only
// those it is given.
func TestAutoPauseIsWrittenWithTheCampaign(t *testing.T) {
	r := redistest.New(t)
	ctx := context.Background()
	store := campaign.NewStore(r.Client)
	client := asynq.NewClient(r.AsynqOpt())
	defer client.Close()
	e := New(store, client)
	run := func(s Spec) {
		t.Helper()
		o, err := s.Resolve(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		o.CSV = bytes.NewReader([]byte("phone,name\n+33612345678,Ann\n"))
		if _, err := e.Run(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id string) *campaign.AutoPause {
		t.Helper()
		def, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return def.AutoPause
	}

	s := goodSpec()
	run(s)
	if ap := get("c1"); ap != nil {
		t.Fatalf("no settings given: got %+v, want none stored (the defaults apply)", ap)
	}
	s.Campaign, s.AutoPauseWindow = "c2", intp(20)
	run(s)
	if ap := get("c2"); ap == nil || *ap != (campaign.AutoPause{Window: 20, Threshold: campaign.DefaultAutoPauseThreshold}) {
		t.Fatalf("window given: got %+v, want window 20 and the default threshold", ap)
	}
	s.AutoPauseWindow, s.AutoPauseThreshold = nil, "10%"
	run(s)
	if ap := get("c2"); ap == nil || *ap != (campaign.AutoPause{Window: 20, Threshold: 0.1}) {
		t.Fatalf("re-run with the threshold: got %+v, want window 20 kept and threshold 0.1", ap)
	}
	s.AutoPauseThreshold = ""
	run(s)
	if ap := get("c2"); ap == nil || *ap != (campaign.AutoPause{Window: 20, Threshold: 0.1}) {
		t.Fatalf("re-run without settings: got %+v, want them kept", ap)
	}

	// Options built in Go are checked too, and nothing is created.
	bad := 0.5
	o, _ := Spec{Campaign: "c3", Text: "Hi"}.Resolve(time.Now())
	o.AutoPauseThreshold, o.CSV = &bad, bytes.NewReader([]byte("phone\n+33612345678\n"))
	bad = 1.5
	if _, err := e.Run(ctx, o); err == nil || !strings.Contains(err.Error(), "auto-pause threshold") {
		t.Fatalf("got %v, want the threshold refused", err)
	}
	if _, err := store.Get(ctx, "c3"); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("got %v, want no campaign c3", err)
	}
}

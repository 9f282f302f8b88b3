package schedule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// testDir holds a recipients CSV and a suppress file for schedules to name.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"r.csv":        "phone,first_name\n+33612345678,Ann\n+33612345679,Bob\n",
		"semi.csv":     "phone;first_name\n+33612345678;Ann\n",
		"stop.txt":     "+33612345679\n",
		"bad-stop.txt": "+33612345679\nnot a number\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "a-dir"), 0o700)
	return dir
}

func goodEntry() map[string]any {
	return map[string]any{
		"name": "weekly-digest", "cron": "0 9 * * MON", "tz": "Europe/Paris", "csv": "r.csv",
		"text": "Hi {{.first_name}}", "channel": "sms", "priority": "high", "ttl": "6h",
		"default_region": "FR", "window": "09:00-20:00", "suppress": "stop.txt",
	}
}

func parseEntries(t *testing.T, dir string, entries ...map[string]any) (*Config, error) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schedules": entries})
	if err != nil {
		t.Fatal(err)
	}
	return Parse(b, true, dir)
}

func TestParseValidEntry(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	cfg, err := parseEntries(t, dir, goodEntry())
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Lookup("weekly-digest")
	if e == nil || len(cfg.Entries) != 1 {
		t.Fatalf("got %+v, want the one entry", cfg.Entries)
	}
	if e.Cron != "CRON_TZ=Europe/Paris 0 9 * * MON" || e.Location.String() != "Europe/Paris" ||
		e.CSV != filepath.Join(dir, "r.csv") || e.Spec.Suppress != filepath.Join(dir, "stop.txt") ||
		e.Options.Channel != sinch.ChannelSMS || e.Options.Priority != campaign.PriorityHigh || e.Options.TTL != 6*time.Hour ||
		e.Options.DefaultRegion != "FR" || e.Options.Window.String() != "09:00-20:00 Europe/Paris" || e.Options.Source.Describe() != "text" {
		t.Fatalf("got entry %+v", e)
	}
	// Defaults, a CRON_TZ prefix instead of tz, another message source.
	cfg, err = parseEntries(t, dir, map[string]any{"name": "n", "cron": "CRON_TZ=America/New_York @daily",
		"csv": "semi.csv", "delimiter": ";", "media_url": "https://x.example/a.png"})
	if err != nil {
		t.Fatal(err)
	}
	e = cfg.Entries[0]
	if e.Options.Window != nil || e.Options.AutoPauseWindow != nil || e.Options.MaxColumns != recipients.DefaultMaxColumns {
		t.Fatalf("got %+v, want no window (tz is the cron's), no auto-pause settings and the default limits", e.Options)
	}
	if e.Location.String() != "America/New_York" || e.Options.Channel != sinch.ChannelSMS || e.Options.Priority != campaign.PriorityNormal ||
		e.Options.TTL != 24*time.Hour || e.Options.Window != nil || e.Options.Source.Describe() != "media" || e.Options.Delimiter != ';' {
		t.Fatalf("got entry %+v, want defaults", e)
	}
}

func TestParseNamesTheEntryAndFieldOfEachError(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	with := func(k string, v any) map[string]any {
		e := goodEntry()
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
		return e
	}
	for _, tc := range []struct {
		name  string
		entry map[string]any
		want  string // after "schedules[0] (weekly-digest): "
	}{
		{"no name", with("name", nil), "schedules[0]: name: required"},
		{"bad name", with("name", "weekly digest!"), "name: the name may contain only"},
		{"long name", with("name", strings.Repeat("n", MaxNameLen+1)), "name: at most 48 characters"},
		{"no cron", with("cron", nil), "cron: required"},
		{"bad cron", with("cron", "0 9 * MON"), "cron: expected exactly 5 fields"},
		{"cron with seconds", with("cron", "0 0 9 * * MON"), "cron: expected exactly 5 fields"},
		{"sub-second every", with("cron", "@every 500ms"), "cron: @every needs whole seconds"},
		{"two time zones", with("cron", "CRON_TZ=UTC 0 9 * * *"), "cron: give the time zone once"},
		{"bad tz", with("tz", "Europe/Atlantis"), `tz: unknown time zone "Europe/Atlantis"`},
		{"bad CRON_TZ", func() map[string]any {
			e := with("tz", nil)
			e["cron"] = "CRON_TZ=Nowhere 0 9 * * *"
			return e
		}(), `cron: unknown time zone "Nowhere"`},
		{"no csv", with("csv", nil), "csv: required"},
		{"missing csv", with("csv", "nope.csv"), "csv: stat " + filepath.Join(dir, "nope.csv")},
		{"csv is a directory", with("csv", "a-dir"), "csv: " + filepath.Join(dir, "a-dir") + " is not a file"},
		{"csv lacks a template column", with("text", "Hi {{.surname}}"), "csv: "},
		{"no message", with("text", nil), "text: is required (or template_id or media_url): give exactly one message source"},
		{"two messages", with("media_url", "https://x.example/a.png"), "media_url: cannot be combined with text: give exactly one message source"},
		{"bad template", with("text", "Hi {{.first_name"), "text: "},
		{"version without template", with("template_version", "2"), "template_version: needs template_id"},
		{"bad media url", func() map[string]any { e := with("text", nil); e["media_url"] = "ftp://x/a.png"; return e }(), "media_url: must be an absolute http(s) URL"},
		{"bad channel", with("channel", "PIGEON"), "channel: unknown channel"},
		{"bad priority", with("priority", "urgent"), "priority: priority must be high or normal"},
		{"bad ttl", with("ttl", "a day"), "ttl: want a duration"},
		{"short ttl", with("ttl", "2s"), "ttl: must be whole seconds between"},
		{"bad delimiter", with("delimiter", ";;"), "delimiter: must be one character"},
		{"bad window", with("window", "9am-5pm"), "window: window start: want HH:MM"},
		{"empty window", with("window", "10:00-10:00"), "window: window \"10:00-10:00\" opens and closes at the same time"},
		{"missing suppress file", with("suppress", "nope.txt"), "suppress: open " + filepath.Join(dir, "nope.txt")},
		{"bad suppress file", with("suppress", "bad-stop.txt"), "suppress: bad-stop.txt: line 2: "},
		{"missing prices file", with("prices", "nope-prices.csv"), "prices: open " + filepath.Join(dir, "nope-prices.csv")},
		{"negative price", with("price_per_segment", "-1"), "price_per_segment: "},
		{"zero max segments", with("max_segments", 0), "max_segments: must be at least 1"},
		{"campaign in a schedule", with("campaign", "c1"), "campaign: not allowed in a schedule"},
		{"at in a schedule", with("at", "2030-01-01T00:00:00Z"), "at: not allowed in a schedule"},
		{"in in a schedule", with("in", "1h"), "in: not allowed in a schedule"},
		{"bad region", with("default_region", "XX"), `default_region: "XX" is not a country code`},
		{"bad max_bytes", with("max_bytes", "lots"), "max_bytes: want a size"},
		{"field over row", with("max_field_bytes", "2MiB"), "max_field_bytes: (2MiB) must not exceed max_row_bytes (1MiB)"},
		{"zero max_columns", with("max_columns", 0), "max_columns: must be at least 1"},
		{"csv wider than max_columns", with("max_columns", 1), "csv: recipients: line 1: too many columns"},
		{"bad autopause_window", with("autopause_window", -1), "autopause_window: auto-pause window must not be negative"},
		{"bad autopause_threshold", with("autopause_threshold", "150%"), "autopause_threshold: auto-pause threshold must be"},
		{"unknown field", with("txet", "Hi"), `json: unknown field "txet"`},
		{"ttl as a number", with("ttl", 3600), "ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEntries(t, dir, tc.entry)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			want := tc.want
			if !strings.HasPrefix(want, "schedules[0]") && !strings.HasPrefix(want, "json") && tc.name != "ttl as a number" {
				want = "schedules[0] (" + tc.entry["name"].(string) + "): " + want
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("got %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	a := goodEntry()
	a["cron"], a["ttl"] = "every monday", "forever"
	b := goodEntry()
	c := goodEntry() // same name as b
	c["priority"] = "high"
	_, err := parseEntries(t, dir, a, b, c)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		"schedules[0] (weekly-digest): cron:", "schedules[0] (weekly-digest): ttl:",
		`schedules[2] (weekly-digest): name: "weekly-digest" is used by an earlier entry`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "schedules[1]") {
		t.Errorf("got %q: the valid entry is reported", err)
	}
}

func TestLoadReadsYAMLAndJSON(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	yml := filepath.Join(dir, "schedules.yaml")
	os.WriteFile(yml, []byte(`# recurring campaigns
schedules:
  - name: weekly-digest
    cron: "0 9 * * MON"
    tz: Europe/Paris
    csv: r.csv
    text: "Hi {{.first_name}}, here is your digest"
    window: "09:00-20:00"
  - name: reminders
    cron: "@every 30m"
    csv: r.csv
    template_id: reminder
    template_language: fr-FR
    max_bytes: 10MiB
    max_field_bytes: 1KiB
    max_columns: 20
    max_message_chars: 160
    autopause_window: 50
    autopause_threshold: 20%
`), 0o600)
	cfg, err := Load(yml)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Entries) != 2 || cfg.Lookup("reminders").every != 30*time.Minute {
		t.Fatalf("got %+v, want two entries, the second every 30m", cfg.Entries)
	}
	if o := cfg.Lookup("reminders").Options; o.MaxBytes != 10<<20 || o.MaxFieldBytes != 1<<10 || o.MaxColumns != 20 ||
		o.AutoPauseWindow == nil || *o.AutoPauseWindow != 50 || o.AutoPauseThreshold == nil || *o.AutoPauseThreshold != 0.2 {
		t.Fatalf("got options %+v, want the limits and auto-pause settings", o)
	}
	js := filepath.Join(dir, "schedules.json")
	os.WriteFile(js, []byte(`{"schedules": [{"name": "n", "cron": "@hourly", "csv": "r.csv", "text": "Hi"}]}`), 0o600)
	if _, err := Load(js); err != nil {
		t.Fatal(err)
	}

	os.WriteFile(yml, []byte("schedules:\n  - name: n\n    cron: '@hourly'\n    csv: r.csv\n    txt: Hi\n"), 0o600)
	if _, err := Load(yml); err == nil || !strings.Contains(err.Error(), `line 5: unknown field "txt"`) || !strings.Contains(err.Error(), yml) {
		t.Fatalf("got %v, want the file, the line and the unknown field", err)
	}
	os.WriteFile(yml, []byte("# nothing yet\n"), 0o600)
	if _, err := Load(yml); err == nil || !strings.Contains(err.Error(), "no schedules") {
		t.Fatalf("got %v, want no schedules", err)
	}
}

func TestFiringIsTheSameForEveryCopyOfOneFiring(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	e1 := goodEntry()                                                                       // Mondays 09:00 Paris
	e2 := map[string]any{"name": "tick", "cron": "@every 2s", "csv": "r.csv", "text": "Hi"} // every 2s
	e3 := map[string]any{"name": "hourly", "cron": "@every 1h", "csv": "r.csv", "text": "Hi", "tz": "Asia/Tokyo"}
	cfg, err := parseEntries(t, dir, e1, e2, e3)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := campaign.LoadLocation("Europe/Paris")
	monday9 := time.Date(2026, 11, 23, 9, 0, 0, 0, paris)
	tick := time.Date(2026, 11, 23, 8, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		entry  string
		handle time.Time // when a copy of the firing is handled
		wantID string
	}{
		{"weekly-digest", monday9.Add(20 * time.Millisecond), "weekly-digest-20261123T0900"},
		{"weekly-digest", monday9.Add(3 * time.Hour), "weekly-digest-20261123T0900"},
		{"weekly-digest", monday9.Add(-4 * time.Second), "weekly-digest-20261123T0900"}, // this worker's clock is behind
		{"weekly-digest", monday9.Add(-time.Minute), "weekly-digest-20261116T0900"},
		{"tick", tick.Add(100 * time.Millisecond), "tick-20261123T080010"},
		{"tick", tick.Add(time.Second + 300*time.Millisecond), "tick-20261123T080010"}, // a Scheduler ticking on odd seconds
		{"tick", tick.Add(-200 * time.Millisecond), "tick-20261123T080010"},
		{"tick", tick.Add(2 * time.Second), "tick-20261123T080012"},
		{"hourly", time.Date(2026, 11, 23, 8, 40, 0, 0, time.UTC), "hourly-20261123T1700"}, // 08:00 UTC is 17:00 in Tokyo
	} {
		e := cfg.Lookup(tc.entry)
		f, err := e.Firing(tc.handle)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.CampaignID(f); got != tc.wantID {
			t.Errorf("%s handled at %s: got %s, want %s", tc.entry, tc.handle.UTC().Format(time.RFC3339Nano), got, tc.wantID)
		}
		if err := campaign.ValidateID(e.CampaignID(f)); err != nil {
			t.Errorf("campaign ID %s: %v", e.CampaignID(f), err)
		}
	}
	// The longest name still makes a valid campaign ID.
	long := goodEntry()
	long["name"] = strings.Repeat("n", MaxNameLen)
	long["cron"] = "@every 5s"
	cfg, err = parseEntries(t, dir, long)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := cfg.Entries[0].Firing(tick)
	if id := cfg.Entries[0].CampaignID(f); campaign.ValidateID(id) != nil || len(id) != campaign.MaxIDLen {
		t.Fatalf("campaign ID %q (%d chars) is not a valid ID of at most %d", id, len(id), campaign.MaxIDLen)
	}
}

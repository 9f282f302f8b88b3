// Package schedule runs recurring campaigns: a schedules file lists entries
// (a cron spec, a CSV, a message), every worker started with the file runs
// an asynq Scheduler that enqueues a TypeScheduleFire task when an entry is
// due, and the fire handler creates that firing's campaign through the same
// enqueue pipeline as the enqueue command.
//
// Several workers fire each schedule once: every copy of a firing maps to
// the same campaign ID (schedule name + firing time), and a marker in Redis
// lets only the first copy run the enqueue (see Handler).
package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// stampLen is the length of the firing time appended to a schedule's name
// ("-20261123T0900" or, for sub-minute @every schedules, "-20261123T090002").
const stampLen = len("-20060102T150405")

// MaxNameLen keeps name + firing time within campaign.MaxIDLen.
const MaxNameLen = campaign.MaxIDLen - stampLen

// Config is a validated schedules file.
type Config struct {
	Entries []*Entry
	byName  map[string]*Entry
}

// Lookup returns the entry named name, or nil.
func (c *Config) Lookup(name string) *Entry { return c.byName[name] }

// Entry is one recurring campaign.
type Entry struct {
	Name string
	// Cron is the spec registered with asynq's Scheduler, with a CRON_TZ=
	// prefix when the entry has a time zone.
	Cron string
	// Location is the time zone of the cron spec, the send window and the
	// firing time in campaign IDs. Defaults to UTC.
	Location *time.Location
	CSV      string // absolute path, read at every firing
	// Spec is the upload as written, with the suppress path made absolute.
	Spec enqueue.Spec
	// Options is the upload Spec resolves to; each firing sets its
	// campaign ID and CSV.
	Options enqueue.Options

	schedule cron.Schedule
	every    time.Duration // the period of an "@every" spec, else 0
}

// entryFile is one entry as written: a name, a cron spec and a CSV, and
// the upload's keys (enqueue.Spec: the enqueue flags' names). Keys are the
// same in YAML and JSON.
type entryFile struct {
	Name         string `json:"name" yaml:"name"`
	Cron         string `json:"cron" yaml:"cron"`
	CSV          string `json:"csv" yaml:"csv"`
	enqueue.Spec `yaml:",inline"`
}

type file struct {
	Schedules []entryFile `json:"schedules" yaml:"schedules"`
}

// Load reads and validates a schedules file: YAML, or JSON when the name
// ends in .json or the content starts with '{'. Relative csv and suppress
// paths are relative to the file's directory. Every problem is reported,
// each naming the entry and the field.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schedules file: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("schedules file: %w", err)
	}
	asJSON := strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))
	cfg, err := Parse(b, asJSON, dir)
	if err != nil {
		return nil, fmt.Errorf("schedules file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a schedules file's content; dir resolves
// relative paths.
func Parse(b []byte, asJSON bool, dir string) (*Config, error) {
	var f file
	if asJSON {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file
			return nil, fmt.Errorf("not valid YAML: %s", yamlError(err))
		}
	}
	if len(f.Schedules) == 0 {
		return nil, errors.New(`no schedules: want a top-level "schedules" list`)
	}
	cfg := &Config{byName: map[string]*Entry{}}
	var errs []error
	for i, ef := range f.Schedules {
		label := fmt.Sprintf("schedules[%d]", i)
		if ef.Name != "" {
			label += fmt.Sprintf(" (%s)", ef.Name)
		}
		e, fieldErrs := ef.validate(dir)
		for _, err := range fieldErrs {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		if e == nil {
			continue
		}
		if _, dup := cfg.byName[e.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: name: %q is used by an earlier entry", label, e.Name))
			continue
		}
		cfg.byName[e.Name] = e
		cfg.Entries = append(cfg.Entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// yamlError turns "field x not found in type schedule.entryFile" into words
// an operator can act on.
func yamlError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if before, _, ok := strings.Cut(m, " not found in type"); ok {
			if line, field, ok := strings.Cut(before, ": field "); ok {
				m = fmt.Sprintf("%s: unknown field %q", line, field)
			}
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

// validate checks every field; it returns the entry when all are valid, and
// one error per bad field, each starting with the field's key.
func (f entryFile) validate(dir string) (*Entry, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	e := &Entry{Name: f.Name, Location: time.UTC}

	switch err := campaign.ValidateID(f.Name); {
	case f.Name == "":
		bad("name", "required")
	case err != nil:
		bad("name", "%v", strings.Replace(err.Error(), "campaign ID", "the name", 1))
	case len(f.Name) > MaxNameLen:
		bad("name", "at most %d characters (the campaign ID adds the firing time)", MaxNameLen)
	}
	// Each firing is its own campaign, sent when it fires.
	for _, k := range []struct{ key, v string }{{"campaign", f.Campaign}, {"at", f.At}, {"in", f.In}} {
		if k.v != "" {
			bad(k.key, "not allowed in a schedule: each firing is a new campaign, <name>-<firing time>, sent at once")
		}
	}

	spec := f.Spec
	e.Cron, e.Location, e.schedule, e.every = parseCron(f.Cron, &spec, bad)

	switch {
	case f.CSV == "":
		bad("csv", "required")
	default:
		e.CSV = resolve(dir, f.CSV)
		if fi, err := os.Stat(e.CSV); err != nil {
			bad("csv", "%v", err)
		} else if !fi.Mode().IsRegular() {
			bad("csv", "%s is not a file", e.CSV)
		}
	}

	if spec.Suppress != "" {
		spec.Suppress = resolve(dir, spec.Suppress)
	}
	if spec.Prices != "" {
		spec.Prices = resolve(dir, spec.Prices)
	}
	// The tz key is the cron spec's time zone too; the upload's check that
	// it comes with a window is for one-off uploads.
	upload := spec
	if upload.Window == "" {
		upload.TZ = ""
	}
	// A stand-in: the name is checked above, and each firing sets its
	// campaign ID from it.
	upload.Campaign = "schedule"
	opts, err := upload.Resolve(time.Now())
	var specErrs enqueue.Errors
	if errors.As(err, &specErrs) {
		for _, fe := range specErrs {
			if fe.Field != "tz" { // parseCron reports the time zone
				errs = append(errs, fe)
			}
		}
	}
	if _, err := spec.ReadSuppress(); err != nil {
		errs = append(errs, err)
	}
	if err := spec.ReadPrices(&opts); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	opts.CampaignID = ""
	e.Spec, e.Options = spec, opts
	// The CSV as it is now must suit the message and the options; it is read
	// again, whole, at every firing.
	if err := checkCSV(e); err != nil {
		return nil, []error{fmt.Errorf("csv: %w", err)}
	}
	return e, nil
}

// parseCron reads the cron spec and the time zone (the tz field, or a
// CRON_TZ= prefix in the spec, not both) with the parser asynq's Scheduler
// uses: five fields, or a descriptor such as @daily or @every 10m.
func parseCron(spec string, s *enqueue.Spec, bad func(field, format string, args ...any)) (string, *time.Location, cron.Schedule, time.Duration) {
	spec = strings.TrimSpace(spec)
	body, tzField := spec, "tz"
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(spec, p); ok {
			if s.TZ != "" {
				bad("cron", "give the time zone once: in tz or as a CRON_TZ= prefix, not both")
				return "", nil, nil, 0
			}
			s.TZ, body, _ = strings.Cut(rest, " ")
			body, tzField = strings.TrimSpace(body), "cron"
		}
	}
	loc, err := s.Location()
	if err != nil {
		bad(tzField, "%v", err)
		loc = nil
	}
	if body == "" {
		bad("cron", `required (e.g. "0 9 * * MON" or "@every 1h")`)
		return "", loc, nil, 0
	}
	full := body
	if s.TZ != "" && loc != nil {
		full = "CRON_TZ=" + s.TZ + " " + body
	}
	sched, err := cron.ParseStandard(full)
	if err != nil {
		bad("cron", "%v (want five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly, @every 10m…)", err)
		return "", loc, nil, 0
	}
	if loc == nil {
		return "", nil, nil, 0 // the spec is fine; the time zone was reported
	}
	var every time.Duration
	if c, ok := sched.(cron.ConstantDelaySchedule); ok {
		every = c.Delay
		d, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(body, "@every")))
		if d < time.Second || d%time.Second != 0 {
			bad("cron", "@every needs whole seconds, at least 1s")
			return "", loc, nil, 0
		}
	}
	return full, loc, sched, every
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// checkCSV reads the CSV's header with the entry's options (delimiter,
// default region, channel, limits) and checks the message can be built
// from it.
func checkCSV(e *Entry) error {
	f, err := os.Open(e.CSV)
	if err != nil {
		return err
	}
	defer f.Close()
	return e.Options.CheckHeader(f)
}

// Firing returns the firing a task handled at t belongs to. Every copy of
// one firing maps to the same time, whichever worker enqueued or handles
// it, provided it is handled before the next firing is due and the
// workers' clocks agree within the tolerance (10s, or a quarter of an
// @every period if shorter).
//
// A cron firing is the latest time the spec matches at or before t +
// tolerance. An @every schedule fires once per period-long interval of wall
// time aligned on the Unix epoch (asynq starts each worker's @every clock
// when the worker starts, so the workers' ticks are not aligned; the
// interval is what they agree on).
func (e *Entry) Firing(t time.Time) (time.Time, error) {
	t = t.Add(e.tolerance())
	if e.every > 0 {
		return t.Truncate(e.every), nil
	}
	for _, back := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 8 * 24 * time.Hour,
		32 * 24 * time.Hour, 367 * 24 * time.Hour, 9 * 367 * 24 * time.Hour} {
		n := e.schedule.Next(t.Add(-back))
		if n.IsZero() || n.After(t) {
			continue
		}
		for {
			next := e.schedule.Next(n)
			if next.IsZero() || next.After(t) {
				return n, nil
			}
			n = next
		}
	}
	return time.Time{}, fmt.Errorf("schedule %s: no firing of %q in the 9 years before %s", e.Name, e.Cron, t.Format(time.RFC3339))
}

func (e *Entry) tolerance() time.Duration {
	if e.every > 0 {
		return min(e.every/4, 10*time.Second)
	}
	return 10 * time.Second
}

// uniqueFor is how long asynq refuses a second copy of a pending firing:
// long enough to cover the workers' Schedulers firing together, shorter
// than the period so it never holds back the next firing.
func (e *Entry) uniqueFor() time.Duration {
	if e.every > 0 {
		return max(time.Second, min(e.every/2, 30*time.Second))
	}
	return 30 * time.Second
}

// CampaignID is the ID of the campaign a firing creates: the name and the
// firing time in the entry's time zone, e.g. weekly-digest-20261123T0900
// (seconds are added for @every periods that are not whole minutes).
func (e *Entry) CampaignID(firing time.Time) string {
	layout := "20060102T1504"
	if e.every%time.Minute != 0 {
		layout = "20060102T150405"
	}
	return e.Name + "-" + firing.In(e.Location).Format(layout)
}

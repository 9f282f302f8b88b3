// Package enqueuecli is the enqueue command: it maps flags onto an upload,
// runs the enqueue pipeline and prints the summary.
package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

const enqueueUsage = `enqueue --campaign ID --csv FILE (--text TEMPLATE | --template-id ID | --media-url URL) [options]`

// Run is the enqueue command: CSV in, one task per recipient out.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("enqueue", stderr, enqueueUsage)
	settings := config.Register(fs)
	var (
		campaignID = fs.String("campaign", "", "campaign ID (letters, digits, . _ -; at most 64) [required]")
		csvPath    = fs.String("csv", "", "recipient CSV file with a header row and a phone column [required]")
		text       = fs.String("text", "", "message text: a Go template over the CSV columns, e.g. 'Hi {{.first_name}}'")
		tmplID     = fs.String("template-id", "", "Sinch omni template ID; its parameters come from the CSV columns")
		tmplVer    = fs.String("template-version", "", "Sinch template version (with --template-id)")
		tmplLang   = fs.String("template-language", "", "Sinch template language code, e.g. en-US (with --template-id)")
		mediaURL   = fs.String("media-url", "", "send this media URL to every recipient")
		channel    = fs.String("channel", "SMS", "default channel; a 'channel' column overrides it per row")
		priority   = fs.String("priority", "normal", "high (Sinch HIGH_PRIORITY, queue critical) or normal (NORMAL_PRIORITY, queue default)")
		ttl        = fs.Duration("ttl", enqueue.DefaultTTL, "message time to live at Sinch (whole seconds, 3s or more)")
		at         = fs.String("at", "", "send at this RFC3339 time instead of now")
		in         = fs.Duration("in", 0, "send after this delay instead of now")
		window     = fs.String("window", "", "send only between these local times each day, e.g. 09:00-20:00 (20:00-08:00 crosses midnight); sends due outside wait")
		tz         = fs.String("tz", "UTC", "time zone of --window, an IANA name such as Europe/Paris")
		suppress   = fs.String("suppress", "", "skip the identities in this file for this upload only: a CSV with a phone column, or one number per line")
		region     = fs.String("default-region", "", "country code (e.g. US, FR) for phone numbers written without +country code")
		rejects    = fs.String("rejects", "", "write rejected rows (row, column, reason) to this CSV file")
		delimiter  = fs.String("delimiter", ",", "CSV field delimiter (one character; \\t for tab)")
		dryRun     = fs.Bool("dry-run", false, "validate and render every row; enqueue nothing")
		jsonOut    = fs.Bool("json", false, "print the summary as one JSON object on the last line of stdout")
		conc       = fs.Int("concurrency", enqueue.DefaultConcurrency, "concurrent enqueue calls to Redis")
	)
	autoPause := autoPauseFlags(fs) // --autopause-window, --autopause-threshold (autopause.go)
	limits := limitFlags(fs)        // --max-bytes, --max-row-bytes, … (limits.go)
	if err := cli.Parse(fs, settings, args, getenv); err != nil {
		return err
	}

	// Validate every flag before touching the CSV or Redis.
	opts := enqueue.Options{CampaignID: *campaignID, Channel: sinch.Channel(strings.ToUpper(*channel)),
		TTL: *ttl, DefaultRegion: strings.ToUpper(*region), DryRun: *dryRun, Concurrency: *conc}
	if err := campaign.ValidateID(*campaignID); err != nil {
		return fmt.Errorf("--campaign: %w", err)
	}
	if *csvPath == "" {
		return errors.New("--csv is required")
	}
	if !opts.Channel.Valid() {
		return fmt.Errorf("--channel %q is not a Sinch channel (one of %s)", *channel, strings.Join(sinch.ChannelNames(), ", "))
	}
	p, err := campaign.ParsePriority(*priority)
	if err != nil {
		return fmt.Errorf("--priority: %w", err)
	}
	opts.Priority = p
	if *ttl < sinch.MinTTL || *ttl > sinch.MaxTTL || *ttl%time.Second != 0 {
		return fmt.Errorf("--ttl must be whole seconds between %s and %s", sinch.MinTTL, sinch.MaxTTL)
	}
	if opts.ProcessAt, err = schedule(*at, *in, time.Now()); err != nil {
		return err
	}
	if opts.Window, err = sendWindow(*window, *tz, flagSet(fs, "tz")); err != nil {
		return err
	}
	d, err := parseDelimiter(*delimiter)
	if err != nil {
		return err
	}
	opts.Delimiter = d
	if *conc < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	if err := autoPause.validate(fs); err != nil {
		return err
	}
	if err := limits.validate(); err != nil {
		return err
	}
	limits.apply(&opts)
	if opts.Source, err = messageSource(*text, *tmplID, *tmplVer, *tmplLang, *mediaURL, limits.template()); err != nil {
		return err
	}

	f, err := os.Open(*csvPath)
	if err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	defer f.Close()
	if err := limits.checkSize(f); err != nil {
		return err
	}
	opts.CSV, opts.CSVName = f, filepath.Base(*csvPath)
	if *suppress != "" {
		if opts.Suppress, err = readSuppress(*suppress, opts.DefaultRegion); err != nil {
			return err
		}
	}
	if *rejects != "" {
		rf, err := os.Create(*rejects)
		if err != nil {
			return fmt.Errorf("--rejects: %w", err)
		}
		defer rf.Close()
		opts.Rejects = rf
	}
	if fi, err := f.Stat(); err == nil && cli.IsTerminal(stderr) && !*jsonOut {
		bar := newProgress(stderr, fi.Size(), f)
		opts.CSV = bar
		opts.Progress = bar.rows
		defer bar.done()
	}

	var e *enqueue.Enqueuer
	if !*dryRun {
		rdb, err := cli.ConnectRedis(ctx, settings)
		if err != nil {
			return err
		}
		defer rdb.Close()
		ropt, _ := settings.RedisOpt()
		client := asynq.NewClient(ropt)
		defer client.Close()
		e = enqueue.New(campaign.NewStore(rdb), client)
		undo, err := autoPause.apply(ctx, campaign.NewStore(rdb), *campaignID)
		if err != nil {
			return err
		}
		defer undo()
	} else {
		e = enqueue.New(nil, nil)
	}

	sum, err := e.Run(ctx, opts)
	if err != nil {
		if sum.Rows > 0 && !errors.Is(err, recipients.ErrTooLarge) { // re-running cannot finish a file over --max-bytes
			fmt.Fprintf(stderr, "stopped after %d rows; run the same command again to finish (nothing is sent twice)\n", sum.Rows)
		}
		return err
	}
	return printSummary(stdout, sum, *jsonOut, *rejects)
}

func printSummary(w io.Writer, s enqueue.Summary, asJSON bool, rejectsPath string) error {
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	verb := "enqueued"
	if s.DryRun {
		verb = "would enqueue (dry run)"
	}
	fmt.Fprintf(w, "campaign %s: %d rows, %s %d, already enqueued %d, duplicates %d, rejected %d, suppressed %d\n",
		s.CampaignID, s.Rows, verb, s.Enqueued, s.AlreadyEnqueued, s.Duplicates, s.Rejected, s.Suppressed)
	PrintRejects(w, s)
	if s.Rejected > 0 && rejectsPath != "" {
		fmt.Fprintf(w, "every rejected row is listed in %s\n", rejectsPath)
	} else if s.Rejected > int64(len(s.FirstRejects)) {
		fmt.Fprintln(w, "pass --rejects FILE to list every rejected row")
	}
	return nil
}

// messageSource picks exactly one of the three message sources.
func messageSource(text, tmplID, tmplVer, tmplLang, mediaURL string, textLimits recipients.TemplateOptions) (enqueue.Source, error) {
	n := 0
	for _, v := range []string{text, tmplID, mediaURL} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one message source: --text, --template-id or --media-url")
	}
	if (tmplVer != "" || tmplLang != "") && tmplID == "" {
		return nil, errors.New("--template-version and --template-language need --template-id")
	}
	switch {
	case text != "":
		s, err := enqueue.NewTextSourceWith(text, textLimits)
		if err != nil {
			return nil, fmt.Errorf("--text: %w", err)
		}
		return s, nil
	case tmplID != "":
		return &enqueue.TemplateSource{ID: tmplID, Version: tmplVer, Language: tmplLang}, nil
	}
	return enqueue.NewMediaSource(mediaURL)
}

// schedule turns --at/--in into a send time (zero: now).
func schedule(at string, in time.Duration, now time.Time) (time.Time, error) {
	switch {
	case at != "" && in != 0:
		return time.Time{}, errors.New("give --at or --in, not both")
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, fmt.Errorf("--at must be an RFC3339 time like 2026-11-23T09:00:00+01:00: %v", err)
		}
		return t, nil
	case in < 0:
		return time.Time{}, errors.New("--in must not be negative")
	case in > 0:
		return now.Add(in), nil
	}
	return time.Time{}, nil
}

// sendWindow reads --window and --tz (nil: no window).
func sendWindow(window, tz string, tzSet bool) (*campaign.Window, error) {
	loc, err := campaign.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("--tz: %w", err)
	}
	if window == "" {
		if tzSet {
			return nil, errors.New("--tz needs --window (it is the window's time zone)")
		}
		return nil, nil
	}
	w, err := campaign.ParseWindow(window, loc)
	if err != nil {
		return nil, fmt.Errorf("--window: %w", err)
	}
	return w, nil
}

// readSuppress reads the --suppress file.
func readSuppress(path, region string) (*enqueue.SuppressList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--suppress: %w", err)
	}
	defer f.Close()
	l, err := enqueue.ReadSuppressList(f, region)
	if err != nil {
		return nil, fmt.Errorf("--suppress %s: %w", filepath.Base(path), err)
	}
	return l, nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func parseDelimiter(s string) (rune, error) {
	if s == `\t` {
		return '\t', nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || size != len(s) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		return 0, fmt.Errorf("--delimiter must be one character other than a quote or newline, got %q", s)
	}
	return r, nil
}

// PrintRejects lists the summary's first rejected rows, if any.
func PrintRejects(w io.Writer, s enqueue.Summary) {
	if s.Rejected == 0 {
		return
	}
	fmt.Fprintf(w, "rejected rows (%s):\n", firstOf(len(s.FirstRejects), s.Rejected))
	for _, r := range s.FirstRejects {
		if r.Column != "" {
			fmt.Fprintf(w, "  row %d, column %s: %s\n", r.Row, printable(r.Column), r.Reason)
		} else {
			fmt.Fprintf(w, "  row %d: %s\n", r.Row, r.Reason)
		}
	}
}

// firstOf says how much of a list of total is shown: "all 3" or "first 10 of 37".
func firstOf(shown int, total int64) string {
	if int64(shown) == total {
		return fmt.Sprintf("all %d", total)
	}
	return fmt.Sprintf("first %d of %d", shown, total)
}

// printable returns a CSV header name as is, or Go-quoted if it holds a
// control or other non-printing character that a terminal could act on.
func printable(name string) string {
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}

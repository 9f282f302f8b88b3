// Package enqueuecli is the enqueue command: it maps flags onto an upload,
// runs the enqueue pipeline and prints the summary.
package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
)

const enqueueUsage = `enqueue --campaign ID --csv FILE (--text TEMPLATE | --template-id ID | --media-url URL) [options]`

// Run is the enqueue command: CSV in, one task per recipient out.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("enqueue", stderr, enqueueUsage)
	settings := config.Register(fs)
	var spec enqueue.Spec
	specFlags(fs, &spec) // the upload: flags.go
	eviction := cli.RegisterEviction(fs)
	var (
		csvPath = fs.String("csv", "", "recipient CSV file with a header row and a phone column [required]")
		rejects = fs.String("rejects", "", "write rejected rows (row, column, reason) to this CSV file")
		preview = fs.String("preview", "", "write one line per valid row (row, channel, identity, encoding, segments, characters, text) to this CSV file")
		dryRun  = fs.Bool("dry-run", false, "validate and render every row; enqueue nothing")
		jsonOut = fs.Bool("json", false, "print the summary as one JSON object on the last line of stdout")
		conc    = fs.Int("concurrency", enqueue.DefaultConcurrency, "concurrent enqueue calls to Redis")
		appRate = cli.AppRateFlag(fs)
	)
	if err := cli.Parse(fs, settings, args, getenv); err != nil {
		return err
	}

	// Validate every flag before touching the CSV or Redis.
	opts, err := spec.Resolve(time.Now())
	if err != nil {
		return inFlags(err)
	}
	if *csvPath == "" {
		return errors.New("--csv is required")
	}
	if *conc < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	opts.DryRun, opts.Concurrency = *dryRun, *conc
	rates, err := cli.OutboundRates(settings, *appRate)
	if err != nil {
		return err
	}
	if opts.Suppress, err = spec.ReadSuppress(); err != nil {
		return inFlags(err)
	}
	if err := spec.ReadPrices(&opts); err != nil {
		return inFlags(err)
	}

	f, err := os.Open(*csvPath)
	if err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	defer f.Close()
	if err := checkSize(f, opts.MaxBytes); err != nil {
		return err
	}
	opts.CSV, opts.CSVName = f, filepath.Base(*csvPath)
	if *rejects != "" {
		rf, err := os.Create(*rejects)
		if err != nil {
			return fmt.Errorf("--rejects: %w", err)
		}
		defer rf.Close()
		opts.Rejects = rf
	}
	if *preview != "" {
		pf, err := os.Create(*preview)
		if err != nil {
			return fmt.Errorf("--preview: %w", err)
		}
		defer pf.Close()
		opts.Preview = pf
	}
	var bar *progress
	if fi, err := f.Stat(); err == nil && cli.IsTerminal(stderr) && !*jsonOut {
		bar = newProgress(stderr, fi.Size(), f)
		opts.CSV = bar
		opts.Progress = bar.rows
	}

	opts.Rate = rates(ctx, opts.App)

	var e *enqueue.Enqueuer
	if !*dryRun {
		rdb, err := cli.ConnectRedis(ctx, settings)
		if err != nil {
			return err
		}
		defer rdb.Close()
		if err := eviction.Check(ctx, rdb, getenv, func(msg string) { fmt.Fprintln(stderr, "enqueue: "+msg) }); err != nil {
			return err
		}
		ropt, _ := settings.RedisOpt()
		client := asynq.NewClient(ropt)
		defer client.Close()
		e = enqueue.New(campaign.NewStore(rdb), client)
	} else {
		e = enqueue.New(nil, nil)
	}

	sum, err := e.Run(ctx, opts)
	if bar != nil {
		bar.done(sum.Rows)
	}
	if errors.Is(err, enqueue.ErrStrictTTL) {
		return fmt.Errorf("refused by --strict-ttl, nothing written: %s", inFlags(err))
	}
	if err != nil {
		// Re-running cannot finish a file over --max-bytes; a full Redis's
		// error says itself how far the upload got and what to do.
		if sum.Rows > 0 && !errors.Is(err, recipients.ErrTooLarge) && !errors.Is(err, enqueue.ErrRedisFull) {
			fmt.Fprintf(stderr, "stopped after %d rows; run the same command again to finish (nothing is sent twice)\n", sum.Rows)
		}
		return inFlags(err)
	}
	if sum.TTL != nil {
		if p := sum.TTL.Problem(); p != nil {
			fmt.Fprintln(stderr, "warning:", p.In(enqueue.Flags))
		}
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
	if s.SMS != nil {
		fmt.Fprintf(w, "sms: %s\n", s.SMS)
		if s.GSMSafeChanged > 0 {
			fmt.Fprintf(w, "gsm-safe: replaced typographic characters in %d rows\n", s.GSMSafeChanged)
		}
	}
	if s.Cost != nil {
		fmt.Fprintf(w, "cost: %s\n", s.Cost)
	}
	PrintRejects(w, s)
	if s.Rejected > 0 && rejectsPath != "" {
		fmt.Fprintf(w, "every rejected row is listed in %s\n", rejectsPath)
	} else if s.Rejected > int64(len(s.FirstRejects)) {
		fmt.Fprintln(w, "pass --rejects FILE to list every rejected row")
	}
	return nil
}

// checkSize refuses a regular file over --max-bytes before any row is read,
// so nothing of it is enqueued. Pipes are stopped by the reader instead.
func checkSize(f *os.File, maxBytes int64) error {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= maxBytes {
		return nil
	}
	return fmt.Errorf("--csv: %s is %s, larger than --max-bytes %s; split it or raise --max-bytes",
		fi.Name(), enqueue.FormatSize(fi.Size()), enqueue.FormatSize(maxBytes))
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

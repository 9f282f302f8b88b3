// Package enqueue turns a recipient CSV into chunk tasks (each carrying up
// to a batch of valid, distinct recipients, see jobs.TypeChunk), and
// records the campaign and its counts in Redis. Chunks to send now go to
// the campaign's feed, from which the workers' feeder moves them into
// asynq by priority and in turn with the app's other campaigns
// (jobs.PushFeed); chunks scheduled for later go to asynq's scheduled set.
//
// Rows stream through in batches: one Redis round trip registers a batch of
// recipients, and its new ones become one chunk task, which one of several
// goroutines encodes and enqueues. Memory does not grow with the file:
// repeats within the upload are detected in Redis, not in a map.
package enqueue

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// Defaults for Options.
const (
	DefaultTTL         = 24 * time.Hour
	DefaultConcurrency = 16
	DefaultBatchSize   = 256
)

// Options describe one upload.
type Options struct {
	CampaignID string
	CSV        io.Reader
	CSVName    string // shown in status; not read
	Source     Source

	// Channel is the default channel; a "channel" column overrides it. Defaults to SMS.
	Channel sinch.Channel
	// Channels, when it lists two or more, is the campaign's ordered
	// channel fallback (recipients.Options.Channels): sent as
	// channel_priority_order with one identity per channel. Channel is its
	// first.
	Channels []sinch.Channel
	// Priority selects both Sinch's queue and the Asynq queue. Defaults to normal.
	Priority campaign.Priority
	// App is the Sinch app the campaign sends from; "" is the worker's
	// configured app.
	App string
	// ContentType is each send's message_content_type; "" sends none.
	ContentType sinch.ContentType
	// TTL is the message's time to live at Sinch. Defaults to 24h.
	TTL time.Duration
	// ProcessAt schedules the sends; zero sends now.
	ProcessAt time.Time
	// Window, when set, is the campaign's daily send window: the workers
	// defer sends due outside it to its next opening. Nil sends at any hour.
	Window *campaign.Window
	// Suppress lists identities this upload skips (counted as suppressed),
	// on top of the suppression list in Redis. May be nil.
	Suppress *SuppressList
	// DefaultRegion parses national-format numbers (e.g. "US").
	DefaultRegion string
	// Delimiter separates CSV fields. Defaults to ','.
	Delimiter rune
	// Encoding names the CSV's text encoding (recipients.Options.Encoding);
	// "" is UTF-8, and a UTF-16 byte-order mark is always followed.
	Encoding string
	// StrictQuotes rejects rows with a bare " inside an unquoted value
	// instead of reading it as a literal quote.
	StrictQuotes bool
	// MaxBytes, MaxRowBytes, MaxFieldBytes and MaxColumns bound the CSV as
	// the fields of the same names in recipients.Options do; zero takes
	// recipients' default.
	MaxBytes                               int64
	MaxRowBytes, MaxFieldBytes, MaxColumns int
	// AutoPauseWindow and AutoPauseThreshold, when set, are written with
	// the campaign: a new campaign is created with them (the one not set
	// from campaign.DefaultAutoPause), an existing one has them changed.
	// Nil keeps the campaign's setting.
	AutoPauseWindow    *int
	AutoPauseThreshold *float64
	// Rejects receives one CSV line per rejected row; may be nil.
	Rejects io.Writer
	// DryRun validates and renders every row but writes nothing to Redis.
	DryRun bool
	// Rate is the app's outbound rate (messages per second) the TTL check
	// (ttl.go) measures the upload against; 0 skips the check.
	Rate float64
	// StrictTTL refuses, before writing anything, an upload whose
	// recipients cannot all be sent within TTL at Rate.
	StrictTTL bool
	// ExpectedRows, when set, is the recipient count StrictTTL checks
	// instead of counting the CSV first (a stream cannot be read twice).
	ExpectedRows int64
	// Concurrency is the number of concurrent Enqueue calls. Defaults to 16.
	Concurrency int
	// BatchSize is the number of rows registered per Redis round trip. Defaults to 256.
	BatchSize int
	// Progress, when set, is called after each batch with rows read so far.
	Progress func(rows int64)

	// SMS settings; they apply to text messages on the SMS channel.
	SMS SMSOptions
	// Preview receives one CSV line per valid row (see PreviewHeader); may
	// be nil.
	Preview io.Writer
}

// SMSOptions count, bound and price each SMS after personalisation.
type SMSOptions struct {
	// MaxSegments rejects a row whose SMS needs more segments. Zero: no bound.
	MaxSegments int
	// GSMSafe replaces typographic characters with GSM-7 ones before
	// counting and sending (sms.GSMSafe).
	GSMSafe bool
	// Prices, when set, estimate the cost of the SMS sent (Summary.Cost).
	Prices *sms.Prices
}

// Summary is the result of one upload. Rows = Enqueued + AlreadyEnqueued +
// Duplicates + Rejected + Suppressed.
type Summary struct {
	CampaignID      string `json:"campaign_id"`
	Rows            int64  `json:"rows"`
	Enqueued        int64  `json:"enqueued"`
	AlreadyEnqueued int64  `json:"already_enqueued"`
	Duplicates      int64  `json:"duplicates"`
	Rejected        int64  `json:"rejected"`
	// Suppressed rows were valid but their identity is on the suppression
	// list (Redis; not checked in a dry run) or the upload's Suppress list.
	Suppressed int64 `json:"suppressed"`
	DryRun     bool  `json:"dry_run,omitempty"`
	// FirstRejects are the first SummaryRejects rejected rows, in file
	// order, so a summary can say what went wrong without a rejects file.
	FirstRejects []RejectedRow `json:"first_rejects,omitempty"`
	// SMS counts encodings and segments of the SMS this upload enqueues
	// (in a dry run: would enqueue); nil when it has none.
	SMS *sms.Totals `json:"sms,omitempty"`
	// GSMSafeChanged counts the rows whose text --gsm-safe changed.
	GSMSafeChanged int64 `json:"gsm_safe_changed,omitempty"`
	// Cost estimates what those SMS cost from the upload's prices; nil
	// without prices.
	Cost *sms.Cost `json:"cost,omitempty"`
	// TTL is how long the recipients take to send at the app's rate,
	// against the TTL; nil without a rate (ttl.go).
	TTL *TTLEstimate `json:"ttl_estimate,omitempty"`
	// Warnings are what the upload did but should not have to, e.g. a TTL
	// shorter than the sending takes; fields named by their keys.
	Warnings []string `json:"warnings,omitempty"`
}

// SummaryRejects is how many rejected rows a Summary lists.
const SummaryRejects = 10

// RejectedRow is a rejected row as the summary lists it. Like the rejects
// file, it holds no cell value: only the row number, column and reason.
type RejectedRow struct {
	Row    int    `json:"row"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// Enqueuer runs uploads.
type Enqueuer struct {
	store  *campaign.Store
	client *asynq.Client
	insp   *asynq.Inspector // finds a fed chunk in asynq
}

// New returns an Enqueuer. store and client may be nil for dry runs only.
func New(store *campaign.Store, client *asynq.Client) *Enqueuer {
	e := &Enqueuer{store: store, client: client}
	if store != nil {
		e.insp = asynq.NewInspectorFromRedisClient(store.Redis())
	}
	return e
}

func (o *Options) withDefaults() error {
	if err := campaign.ValidateID(o.CampaignID); err != nil {
		return err
	}
	if o.CSV == nil {
		return errors.New("no CSV given")
	}
	if o.Source == nil {
		return errors.New("no message source given")
	}
	if o.Channel == "" {
		o.Channel = sinch.ChannelSMS
	}
	if !o.Channel.Valid() {
		return fmt.Errorf("channel %q is not a Sinch channel", o.Channel)
	}
	if o.Priority == "" {
		o.Priority = campaign.PriorityNormal
	}
	if _, err := campaign.ParsePriority(string(o.Priority)); err != nil {
		return err
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if err := checkTTL(o.TTL); err != nil {
		return err
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Concurrency < 1 || o.BatchSize < 1 {
		return errors.New("concurrency and batch size must be at least 1")
	}
	if o.Rate < 0 || o.ExpectedRows < 0 {
		return errors.New("rate and expected rows must not be negative")
	}
	return nil
}

// pending is one valid row waiting for registration, with its chunk entry
// built.
type pending struct {
	reg  campaign.Registration
	rcpt jobs.ChunkRecipient
	sms  *smsCount // nil unless an SMS text
	// fallback holds a fallback row's identities after its first, which
	// the suppression lists are checked for too.
	fallback []sinch.ChannelIdentity
}

// smsCount is what the parallel stage measured of one SMS.
type smsCount struct {
	count   sms.Count
	region  string // for the cost estimate; "" without prices
	changed bool   // by --gsm-safe
}

// run holds one upload's moving parts.
type run struct {
	e       *Enqueuer
	opts    Options
	def     campaign.Definition
	runID   string
	sum     Summary
	rejects *recipients.RejectWriter
	preview *previewWriter
	seen    map[string]struct{} // dry run only: repeats without Redis
	room    room                // Redis's room for the upload (room.go)

	tasks    chan *jobs.ChunkPayload
	enqueued atomic.Int64
	already  atomic.Int64
	errMu    sync.Mutex
	err      error // first fatal error of an enqueue goroutine
	cancel   context.CancelFunc
}

// Run reads the CSV and enqueues every valid recipient. A fatal error (bad
// file, Redis down) stops the run; everything done so far is recorded so
// that running the same command again finishes the job.
func (e *Enqueuer) Run(ctx context.Context, opts Options) (Summary, error) {
	if err := opts.withDefaults(); err != nil {
		return Summary{}, err
	}
	r := &run{e: e, opts: opts, sum: Summary{CampaignID: opts.CampaignID, DryRun: opts.DryRun}}
	if opts.Rejects != nil {
		r.rejects = recipients.NewRejectWriter(opts.Rejects)
	}
	if opts.Preview != nil {
		r.preview = newPreviewWriter(opts.Preview)
	}
	if opts.StrictTTL && opts.Rate > 0 && !opts.DryRun && e.store != nil {
		// Before the campaign exists and before its header is read (the
		// count rewinds the file): a refusal leaves nothing behind.
		n, err := e.precount(ctx, opts)
		if err != nil {
			return r.sum, err
		}
		est, err := r.estimate(ctx, n)
		if err != nil {
			return r.sum, err
		}
		if p := est.Problem(); p != nil {
			r.sum.TTL = &est
			return r.sum, ttlRefusal{p}
		}
	}
	if !opts.DryRun && e.store != nil {
		// Before the header is read: a file is counted from its start.
		if err := r.checkRoom(ctx); err != nil {
			return r.sum, err
		}
	}
	reader, err := opts.reader(opts.CSV)
	if err != nil {
		return r.sum, err
	}
	if opts.DryRun {
		r.seen = map[string]struct{}{}
		sum, err := r.read(ctx, reader, nil)
		if err != nil {
			return sum, err
		}
		return r.checkTTL(ctx, sum)
	}
	if e.store == nil || e.client == nil {
		return r.sum, errors.New("enqueue needs Redis unless it is a dry run")
	}
	if err := r.createCampaign(ctx); err != nil {
		return r.sum, r.full(err, r.sum)
	}
	r.runID = rand.Text()
	if opts.ProcessAt.IsZero() {
		if err := jobs.NoteFeedApp(ctx, e.store.Redis(), opts.App); err != nil {
			return r.sum, err
		}
	}

	ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	// A chunk for every goroutine and as many waiting: they keep working
	// while the next batch is registered.
	r.tasks = make(chan *jobs.ChunkPayload, 2*opts.Concurrency)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() { defer wg.Done(); r.enqueueLoop(ctx) }()
	}
	sum, readErr := r.read(ctx, reader, r.tasks)
	close(r.tasks)
	wg.Wait()
	sum.Enqueued, sum.AlreadyEnqueued = r.enqueued.Load(), r.already.Load()+sum.AlreadyEnqueued

	// Record what was done even after a failure, so status adds up.
	rec := context.WithoutCancel(ctx)
	upErr := e.store.AddUpload(rec, opts.CampaignID, campaign.Upload{
		Rows: sum.Rows, Enqueued: sum.Enqueued, AlreadyEnqueued: sum.AlreadyEnqueued,
		Duplicates: sum.Duplicates, Rejected: sum.Rejected, Suppressed: sum.Suppressed,
	})
	endErr := e.store.EndUpload(rec, opts.CampaignID, r.runID)
	if err := r.firstErr(nil); err != nil {
		return sum, r.full(err, sum)
	}
	if readErr != nil {
		return sum, r.full(readErr, sum)
	}
	if err := errors.Join(upErr, endErr); err != nil {
		return sum, err
	}
	return r.checkTTL(ctx, sum)
}

// checkTTL measures the finished upload against its TTL (ttl.go): a
// warning in the summary, and in a dry run under StrictTTL the refusal the
// upload would meet.
func (r *run) checkTTL(ctx context.Context, sum Summary) (Summary, error) {
	if r.opts.Rate <= 0 || sum.Enqueued == 0 {
		return sum, nil
	}
	est, err := r.estimate(ctx, sum.Enqueued)
	if err != nil {
		return sum, err
	}
	sum.TTL = &est
	if p := est.Problem(); p != nil {
		sum.Warnings = append(sum.Warnings, p.In(Keys))
		if r.opts.DryRun && r.opts.StrictTTL {
			return sum, ttlRefusal{p}
		}
	}
	return sum, nil
}

// reader opens the CSV with the upload's options and checks that its
// header suits the message source.
func (o *Options) reader(csv io.Reader) (*recipients.Reader, error) {
	reader, err := recipients.NewReader(csv, recipients.Options{
		Delimiter: o.Delimiter, DefaultRegion: o.DefaultRegion, DefaultChannel: o.Channel, Channels: o.Channels,
		MaxBytes: o.MaxBytes, MaxRowBytes: o.MaxRowBytes, MaxFieldBytes: o.MaxFieldBytes, MaxColumns: o.MaxColumns,
		Encoding: o.Encoding, StrictQuotes: o.StrictQuotes,
	})
	if err != nil {
		return nil, err
	}
	if err := o.Source.Check(reader.Columns()); err != nil {
		return nil, err
	}
	return reader, nil
}

// CheckHeader reads the header of csv as Run would and checks the message
// can be built from it, without reading any row.
func (o Options) CheckHeader(csv io.Reader) error {
	if o.Source == nil {
		return errors.New("no message source given")
	}
	_, err := o.reader(csv)
	return err
}

// createCampaign creates the campaign with its auto-pause settings, or
// checks that the existing one suits this upload and applies the
// auto-pause settings given.
func (r *run) createCampaign(ctx context.Context) error {
	def := campaign.Definition{
		ID: r.opts.CampaignID, Source: r.opts.Source.Describe(), Channel: r.opts.Channel, Channels: r.opts.Channels,
		Priority: r.opts.Priority, TTL: r.opts.TTL, ScheduledAt: r.opts.ProcessAt, CSVName: r.opts.CSVName,
		Window: r.opts.Window, QueueShards: jobs.ShardsFor(r.e.store.Redis()), App: r.opts.App,
		ContentType: r.opts.ContentType,
	}
	if ap, given := r.opts.autoPause(campaign.DefaultAutoPause); given {
		def.AutoPause = &ap
	}
	stored, created, err := r.e.store.Create(ctx, def)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if stored.Priority != def.Priority {
		return fmt.Errorf("campaign %s exists with priority %s; use the same priority or a new campaign ID", def.ID, stored.Priority)
	}
	if stored.App != def.App {
		// Tasks carry the app and sit in its queues: one campaign sending
		// from two apps would split its rate, its queues and its tracking.
		return fmt.Errorf("campaign %s exists on app %s; use the same --app or a new campaign ID", def.ID, cmp.Or(stored.App, `"" (the workers' SINCH_APP_ID)`))
	}
	if !stored.Window.Equal(def.Window) {
		// Tasks carry the window: two windows in one campaign would be both.
		return fmt.Errorf("campaign %s exists with send window %s; use the same window or a new campaign ID", def.ID, describeWindow(stored.Window))
	}
	if err := sameChannels(stored, def); err != nil { // channels.go
		return err
	}
	if !created {
		// A re-run changes only the auto-pause settings it was given.
		cur := cmp.Or(stored.AutoPause, &campaign.DefaultAutoPause)
		if ap, given := r.opts.autoPause(*cur); given && ap != *cur {
			if err := r.e.store.SetAutoPause(ctx, def.ID, ap); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			stored.AutoPause = &ap
		}
	}
	r.def = stored
	return nil
}

// chunkRows is how many consecutive CSV records one worker validates and
// renders at a time.
const chunkRows = 64

// chunk is a run of consecutive records. A worker fills in each item; the
// collector takes chunks in file order once done is closed.
type chunk struct {
	items []item
	done  chan struct{}
	err   error // fatal error of the item at errAt: the run stops there
	errAt int
}

// item is one CSV record: rejected (rowErr) or valid (p).
type item struct {
	rec    recipients.Record
	rowErr *recipients.RowError
	p      pending
	text   string // the personalised text, for the preview
}

// read streams rows, rejects bad ones, and registers good ones in batches.
//
// Three stages keep the single-threaded parts short: one goroutine reads
// and splits the CSV into chunks; GOMAXPROCS workers validate (phone
// numbers: the costly part), render and encode them; this goroutine takes
// the chunks in file order and registers rows in batches. Row numbers,
// rejects (in file order) and duplicates (the first occurrence wins) are
// exactly those of reading row by row.
func (r *run) read(ctx context.Context, reader *recipients.Reader, out chan<- *jobs.ChunkPayload) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reader and the workers on an early return
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers+2) // bounds the chunks in flight
	var readErr error                         // fatal read error; set before ordered is closed
	go r.split(ctx, reader, work, ordered, &readErr)
	for range workers {
		go func() {
			for c := range work {
				r.prepare(c)
				close(c.done)
			}
		}()
	}

	batch := make([]pending, 0, r.opts.BatchSize)
	flush := func() error {
		err := r.register(ctx, batch, out)
		batch = batch[:0]
		if r.opts.Progress != nil {
			r.opts.Progress(r.sum.Rows)
		}
		return err
	}
	for c := range ordered {
		if err := ctx.Err(); err != nil {
			return r.sum, r.firstErr(err)
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return r.sum, r.firstErr(ctx.Err())
		}
		for i := range c.items {
			r.sum.Rows++
			if c.err != nil && i == c.errAt {
				return r.sum, c.err
			}
			it := &c.items[i]
			if it.rowErr != nil {
				if err := r.reject(it.rowErr); err != nil {
					return r.sum, err
				}
				continue
			}
			if r.preview != nil {
				if err := r.preview.write(it); err != nil {
					return r.sum, err
				}
			}
			batch = append(batch, it.p)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return r.sum, err
				}
			}
		}
	}
	if readErr != nil {
		return r.sum, r.firstErr(readErr)
	}
	if err := flush(); err != nil {
		return r.sum, err
	}
	if r.rejects != nil {
		if err := r.rejects.Flush(); err != nil {
			return r.sum, fmt.Errorf("write rejects: %w", err)
		}
	}
	if r.preview != nil {
		if err := r.preview.flush(); err != nil {
			return r.sum, err
		}
	}
	return r.sum, nil
}

// split reads records into chunks and hands each to the workers and, in
// file order, to the collector. It sets *errp to the fatal read error, if
// any, after handing over the records read before it, and before closing
// the channels.
func (r *run) split(ctx context.Context, reader *recipients.Reader, work, ordered chan<- *chunk, errp *error) (err error) {
	defer close(ordered)
	defer close(work)
	defer func() { *errp = err }() // runs first
	c := &chunk{items: make([]item, 0, chunkRows), done: make(chan struct{})}
	emit := func() error {
		for _, ch := range []chan<- *chunk{ordered, work} {
			select {
			case ch <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c = &chunk{items: make([]item, 0, chunkRows), done: make(chan struct{})}
		return nil
	}
	for {
		rec, err := reader.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *recipients.RowError
		switch {
		case errors.As(err, &rowErr):
			c.items = append(c.items, item{rowErr: rowErr})
		case err != nil:
			if len(c.items) > 0 {
				if eerr := emit(); eerr != nil {
					return eerr
				}
			}
			return err
		default:
			c.items = append(c.items, item{rec: rec})
		}
		if len(c.items) == chunkRows {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	if len(c.items) > 0 {
		return emit()
	}
	return nil
}

// prepare validates, renders and encodes the records of c. It runs on the
// workers, concurrently for different chunks.
func (r *run) prepare(c *chunk) {
	for i := range c.items {
		it := &c.items[i]
		if it.rowErr != nil {
			continue
		}
		if err := r.prepareRow(it); err != nil {
			c.err, c.errAt = err, i
			return
		}
	}
}

// prepareRow fills in one item; an error is fatal for the run.
func (r *run) prepareRow(it *item) error {
	row, err := it.rec.Row()
	var rowErr *recipients.RowError
	if errors.As(err, &rowErr) {
		it.rowErr = rowErr
		return nil
	}
	if err != nil {
		return err
	}
	msg, err := r.opts.Source.Build(row)
	if errors.As(err, &rowErr) {
		if rowErr.Line == 0 {
			rowErr.Line = row.Line
		}
		it.rowErr = rowErr
		return nil
	}
	if err != nil {
		return err
	}
	if text, ok := msg.TextFor(sinch.ChannelSMS); ok && sendsOn(row, sinch.ChannelSMS) {
		if it.p.sms, it.rowErr = r.measure(row, &msg, text); it.rowErr != nil {
			return nil
		}
		it.text, _ = msg.TextFor(sinch.ChannelSMS)
	} else if tm := msg.TextMessage; tm != nil {
		it.text = tm.Text
	}
	key := campaign.RecipientKey(row.Channel, row.Identity)
	it.p.reg = campaign.Registration{Key: key, Record: campaign.Record{Row: row.Line, Channel: row.Channel, Identity: row.Identity}}
	if len(row.Identities) > 1 {
		it.p.fallback = row.Identities[1:]
	}
	// The record gets the SMS's encoding, segments and cost when it is sent
	// (the handler measures the text it sends): a pending record stays
	// small, as Redis holds one per recipient.
	var segPrice sms.Price
	if c := it.p.sms; c != nil && r.opts.SMS.Prices != nil {
		segPrice, _ = r.opts.SMS.Prices.Lookup(c.region)
	}
	if r.opts.DryRun {
		return nil
	}
	// What differs per recipient; the chunk carries the rest once.
	it.p.rcpt = jobs.ChunkRecipientOf(jobs.SendPayload{
		Row: row.Line, Channel: row.Channel, Identity: row.Identity, Message: msg, SegmentPrice: segPrice,
		Identities: otherIdentities(row),
	}, r.opts.Channel)
	return nil
}

// measure applies --gsm-safe to the SMS text of msg (in place), counts
// its segments and rejects it above --max-segments.
func (r *run) measure(row recipients.Row, msg *sinch.AppMessage, text string) (*smsCount, *recipients.RowError) {
	c := &smsCount{}
	if r.opts.SMS.GSMSafe {
		if text, c.changed = sms.GSMSafe(text); c.changed {
			msg.SetTextFor(sinch.ChannelSMS, text, false)
		}
	}
	c.count = sms.Measure(text)
	if max := r.opts.SMS.MaxSegments; max > 0 && c.count.Segments > max {
		return nil, &recipients.RowError{Line: row.Line, Column: "text", Reason: fmt.Sprintf(
			"the %s SMS needs %d segments, more than --max-segments %d", c.count.Encoding, c.count.Segments, max)}
	}
	if r.opts.SMS.Prices != nil {
		c.region = recipients.RegionOf(row.Identity)
	}
	return c, nil
}

// counted adds a recipient about to be enqueued to the SMS totals and the
// cost estimate.
func (r *run) counted(p pending) {
	if p.sms == nil {
		return
	}
	if r.sum.SMS == nil {
		r.sum.SMS = &sms.Totals{}
		if r.opts.SMS.Prices != nil {
			r.sum.Cost = sms.NewCost(*r.opts.SMS.Prices)
		}
	}
	r.sum.SMS.Add(p.sms.count)
	if p.sms.changed {
		r.sum.GSMSafeChanged++
	}
	if r.sum.Cost != nil {
		r.sum.Cost.Add(p.sms.region, p.sms.count.Segments)
	}
}

func (r *run) reject(e *recipients.RowError) error {
	r.sum.Rejected++
	if len(r.sum.FirstRejects) < SummaryRejects {
		r.sum.FirstRejects = append(r.sum.FirstRejects, RejectedRow{Row: e.Line, Column: e.Column, Reason: e.Reason})
	}
	if r.rejects == nil {
		return nil
	}
	if err := r.rejects.Write(e); err != nil {
		return fmt.Errorf("write rejects: %w", err)
	}
	return nil
}

// register records a batch in Redis (or, in a dry run, in memory) and hands
// its new recipients, as one chunk, to the enqueue goroutines.
func (r *run) register(ctx context.Context, batch []pending, out chan<- *jobs.ChunkPayload) error {
	batch, err := r.unsuppressed(ctx, batch)
	if err != nil || len(batch) == 0 {
		return err
	}
	if r.opts.DryRun {
		for _, p := range batch {
			if _, dup := r.seen[p.reg.Key]; dup {
				r.sum.Duplicates++
				continue
			}
			r.seen[p.reg.Key] = struct{}{}
			r.sum.Enqueued++ // would be enqueued
			r.counted(p)
		}
		return nil
	}
	if err := r.watchRoom(ctx, len(batch)); err != nil {
		return err
	}
	regs := make([]campaign.Registration, len(batch))
	for i, p := range batch {
		regs[i] = p.reg
	}
	r.room.lastRow = batch[len(batch)-1].reg.Record.Row
	results, err := r.e.store.Register(ctx, r.opts.CampaignID, r.runID, regs)
	if err != nil {
		return r.firstErr(fmt.Errorf("redis: %w", err))
	}
	r.room.owe(results)
	c := &jobs.ChunkPayload{
		CampaignID: r.opts.CampaignID, Channel: r.opts.Channel, Queue: r.opts.Priority.SinchQueue(),
		TTLSeconds: int64(r.opts.TTL / time.Second), Window: r.opts.Window, ContentType: r.opts.ContentType,
		Channels: r.opts.Channels, App: r.opts.App,
	}
	for i, res := range results {
		if res == campaign.RegisteredDuplicate {
			r.sum.Duplicates++
			continue
		}
		// New, or pending from an earlier run whose chunk may be missing:
		// the chunk's task ID tells (the same CSV makes the same chunks).
		// Sent, failed or cancelled: done already.
		if st, known := res.Existing(); known && st != campaign.StatusPending {
			r.sum.AlreadyEnqueued++
			continue
		}
		r.counted(batch[i])
		c.Recipients = append(c.Recipients, batch[i].rcpt)
	}
	if len(c.Recipients) == 0 {
		return nil
	}
	select {
	case out <- c:
	case <-ctx.Done():
		return r.firstErr(ctx.Err())
	}
	return nil
}

// unsuppressed returns the batch without the recipients on the upload's
// Suppress list or on the suppression list in Redis (one round trip per
// batch; skipped in a dry run), counting them as suppressed. A fallback
// row is suppressed when any of its identities is: a recipient who opted
// out on SMS is not sent a WhatsApp message that would fall back to SMS.
func (r *run) unsuppressed(ctx context.Context, batch []pending) ([]pending, error) {
	kept := make([]pending, 0, len(batch))
	for _, p := range batch {
		if r.opts.Suppress != nil && (r.opts.Suppress.Contains(p.reg.Record.Channel, p.reg.Record.Identity) ||
			slices.ContainsFunc(p.fallback, func(id sinch.ChannelIdentity) bool { return r.opts.Suppress.Contains(id.Channel, id.Identity) })) {
			r.sum.Suppressed++
			continue
		}
		kept = append(kept, p)
	}
	if r.opts.DryRun || len(kept) == 0 {
		return kept, nil
	}
	chs := make([]sinch.Channel, 0, len(kept))
	ids := make([]string, 0, len(kept))
	owner := make([]int, 0, len(kept)) // the kept index of each identity asked
	for i, p := range kept {
		chs, ids, owner = append(chs, p.reg.Record.Channel), append(ids, p.reg.Record.Identity), append(owner, i)
		for _, id := range p.fallback {
			chs, ids, owner = append(chs, id.Channel), append(ids, id.Identity), append(owner, i)
		}
	}
	on, err := r.e.store.Suppressed(ctx, chs, ids)
	if err != nil {
		return nil, r.firstErr(fmt.Errorf("redis: %w", err))
	}
	suppressed := make([]bool, len(kept))
	for j, yes := range on {
		suppressed[owner[j]] = suppressed[owner[j]] || yes
	}
	out := kept[:0]
	for i, p := range kept {
		if suppressed[i] {
			r.sum.Suppressed++
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func describeWindow(w *campaign.Window) string {
	if w == nil {
		return "none"
	}
	return w.String()
}

func (r *run) enqueueLoop(ctx context.Context) {
	for c := range r.tasks {
		if ctx.Err() != nil {
			continue // drain after a failure
		}
		n := int64(len(c.Recipients))
		added, err := r.enqueueChunk(ctx, c)
		switch {
		case err != nil:
			r.setErr(err)
		case added:
			r.enqueued.Add(n)
		default:
			r.already.Add(n)
		}
	}
}

// enqueueChunk feeds chunk c, or schedules it with ProcessAt; false when
// it is in the feed or in asynq already (the same CSV makes the same
// chunks).
func (r *run) enqueueChunk(ctx context.Context, c *jobs.ChunkPayload) (bool, error) {
	id := jobs.ChunkTaskID(c)
	queue := jobs.SendShard(r.def, id)
	if r.opts.ProcessAt.IsZero() {
		// Fed already and not done yet: asynq holds it.
		_, err := r.e.insp.GetTaskInfo(queue, id)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			return false, fmt.Errorf("redis: look for a chunk in asynq: %w", err)
		}
		return jobs.PushFeed(ctx, r.e.store.Redis(), c, queue, false)
	}
	task, err := jobs.NewChunkTask(c, queue, r.opts.ProcessAt)
	if err != nil {
		return false, err
	}
	_, err = r.e.client.EnqueueContext(ctx, task)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
		return false, nil
	}
	return false, fmt.Errorf("redis: enqueue: %w", err)
}

func (r *run) setErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil {
		r.err = err
		r.cancel()
	}
}

// firstErr prefers the error that stopped the enqueue goroutines over the
// cancellation it caused.
func (r *run) firstErr(err error) error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err != nil {
		return r.err
	}
	return err
}

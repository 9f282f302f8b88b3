package enqueue

import (
	"context"
	"io"
	"time"
)

// Input is what an upload reads and writes besides its Spec: the rows, and
// the reports the caller wants.
type Input struct {
	CSV     io.Reader
	CSVName string // shown in status; not read
	DryRun  bool
	// Rejects and Preview receive the rejects and preview CSVs; may be nil.
	Rejects, Preview io.Writer
	// Progress, when set, is called after each batch with rows read so far.
	Progress func(rows int64)
	// Rate answers the app's outbound rate for the TTL check; nil skips it.
	Rate RateFunc
}

// CheckRemote refuses a Spec from the network (the HTTP API, the web
// builder) that names a file on the machine running the upload: suppress
// and prices would read the server's files.
func (s Spec) CheckRemote() error {
	var c check
	if s.Suppress != "" {
		c.must("suppress", "names a file on the server: not accepted here")
	}
	if s.Prices != "" {
		c.must("prices", "names a file on the server: not accepted here (use {price_per_segment})")
	}
	return c.err()
}

// RunSpec runs the upload spec describes on in: it resolves and checks
// every field (Errors naming each bad one), reads the suppress and prices
// files the spec names, then runs the pipeline. now is the time "in"
// counts from.
func (e *Enqueuer) RunSpec(ctx context.Context, spec Spec, in Input, now time.Time) (Summary, error) {
	opts, err := spec.Resolve(now)
	if err != nil {
		return Summary{}, err
	}
	if opts.Suppress, err = spec.ReadSuppress(); err != nil {
		return Summary{}, err
	}
	if err := spec.ReadPrices(&opts); err != nil {
		return Summary{}, err
	}
	opts.CSV, opts.CSVName, opts.DryRun = in.CSV, in.CSVName, in.DryRun
	opts.Rejects, opts.Preview, opts.Progress = in.Rejects, in.Preview, in.Progress
	if in.Rate != nil {
		opts.Rate = in.Rate(ctx, opts.App)
	}
	return e.Run(ctx, opts)
}

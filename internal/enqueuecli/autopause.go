package enqueuecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// autoPauseOpts are enqueue's --autopause-window and --autopause-threshold.
type autoPauseOpts struct {
	window    *int
	threshold *string
	set       *campaign.AutoPause // validated values; nil when neither flag was given
	given     map[string]bool
}

func autoPauseFlags(fs *flag.FlagSet) *autoPauseOpts {
	return &autoPauseOpts{
		window: fs.Int("autopause-window", campaign.DefaultAutoPauseWindow,
			"auto-pause: how many of the latest final send outcomes are looked at; 0 disables auto-pause"),
		threshold: fs.String("autopause-threshold", "50%",
			"auto-pause: pause the campaign when more than this share of those failed (50% or 0.5)"),
	}
}

// validate checks the flags; only flags given on the command line change a
// campaign's settings (a re-run keeps the stored ones).
func (a *autoPauseOpts) validate(fs *flag.FlagSet) error {
	a.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { a.given[f.Name] = true })
	th, err := parseFraction(*a.threshold)
	if err != nil {
		return fmt.Errorf("--autopause-threshold: %w", err)
	}
	ap := campaign.AutoPause{Window: *a.window, Threshold: th}
	if err := ap.Validate(); err != nil {
		return fmt.Errorf("--autopause-window/--autopause-threshold: %w", err)
	}
	if a.given["autopause-window"] || a.given["autopause-threshold"] {
		a.set = &ap
	}
	return nil
}

// apply stores the given settings before the upload starts, so the first
// sends already use them; undo removes them again if the upload then fails
// before the campaign exists.
func (a *autoPauseOpts) apply(ctx context.Context, store *campaign.Store, id string) (undo func(), err error) {
	if a.set == nil {
		return func() {}, nil
	}
	cur, err := store.AutoPauseOf(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if a.given["autopause-window"] {
		cur.Window = a.set.Window
	}
	if a.given["autopause-threshold"] {
		cur.Threshold = a.set.Threshold
	}
	if err := store.SetAutoPause(ctx, id, cur); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return func() {
		if _, err := store.Get(context.WithoutCancel(ctx), id); errors.Is(err, campaign.ErrNotFound) {
			store.ClearAutoPause(context.WithoutCancel(ctx), id)
		}
	}, nil
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

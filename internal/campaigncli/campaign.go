// Package campaigncli is the campaign command: list, status, report,
// retry, pause, resume, cancel, track and suppress for operators.
package campaigncli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaignctl"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
)

const campaignUsage = `campaign COMMAND [flags] [ID]

Commands:
  list [--json]                      campaigns, newest first, with state and counts
  status ID [--json]                 one campaign: state, counts, outcomes, rate, ETA
  report ID [--out FILE]             one CSV row per recipient (stdout by default)
  retry ID                           re-queue the campaign's failed sends, and only those
  pause ID [--reason TEXT]           stop sending (sends are deferred, not failed)
  resume ID                          send again
  cancel ID [--reason TEXT]          stop for good: pending recipients count as cancelled
  track ID [--json]                  one outcome-tracking pass now (needs the Sinch settings)
  suppress add [--channel SMS] [--reason TEXT] IDENTITY...
  suppress remove [--channel SMS] IDENTITY...
  suppress list [--json]

Run "campaign COMMAND --help" for a command's flags (Redis and Sinch settings
are read from the same environment variables as the worker).`

// Run is the campaign command: operations on campaigns.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Usage: "+campaignUsage)
		return fmt.Errorf("%w: missing command", cli.ErrUsage)
	}
	c := &campaignCmd{getenv: getenv, stdout: stdout, stderr: stderr}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, "Usage: "+campaignUsage)
		return flag.ErrHelp
	case "list":
		return c.list(ctx, rest)
	case "status":
		return c.status(ctx, rest)
	case "report":
		return c.report(ctx, rest)
	case "retry":
		return c.retry(ctx, rest)
	case "pause", "resume", "cancel":
		return c.control(ctx, name, rest)
	case "track":
		return c.track(ctx, rest)
	case "suppress":
		return c.suppress(ctx, rest)
	}
	fmt.Fprintln(stderr, "Usage: "+campaignUsage)
	return fmt.Errorf("%w: unknown command %q", cli.ErrUsage, name)
}

type campaignCmd struct {
	getenv         cli.Env
	stdout, stderr io.Writer
}

// flags starts a subcommand's flag set with the shared settings.
func (c *campaignCmd) flags(name, usage string) (*flag.FlagSet, *config.Settings) {
	fs := cli.NewFlagSet("campaign "+name, c.stderr, "campaign "+usage)
	return fs, config.Register(fs)
}

// parse parses flags placed before or after the positional arguments
// ("status ID --json" and "status --json ID"), wants exactly n of them (or
// at least n when atLeast), and loads the settings.
func (c *campaignCmd) parse(fs *flag.FlagSet, s *config.Settings, args []string, n int, atLeast bool, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, cli.FlagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	switch {
	case len(pos) < n:
		return nil, fmt.Errorf("%w: missing %s", cli.ErrUsage, what)
	case len(pos) > n && !atLeast:
		return nil, fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, pos[n])
	}
	if n == 1 && !atLeast {
		if err := campaign.ValidateID(pos[0]); err != nil {
			return nil, fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
	}
	return pos, s.Load(c.getenv)
}

func (c *campaignCmd) list(ctx context.Context, args []string) error {
	fs, s := c.flags("list", "list [--json]")
	asJSON := fs.Bool("json", false, "print a JSON array of campaign summaries")
	if _, err := c.parse(fs, s, args, 0, false, ""); err != nil {
		return err
	}
	ctl, closeCtl, err := c.controller(ctx, s)
	if err != nil {
		return err
	}
	defer closeCtl()
	sums, err := ctl.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.stdout).Encode(sums)
	}
	if len(sums) == 0 {
		fmt.Fprintln(c.stdout, "no campaigns")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMPAIGN\tSTATE\tTOTAL\tSENT\tFAILED\tCANCELLED\tPENDING\tDELIVERED\tCREATED")
	for _, m := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", m.CampaignID, m.State, m.Total, m.Sent, m.Failed,
			m.Cancelled, m.Pending, m.Outcomes.Delivered+m.Outcomes.Read, m.CreatedAt.UTC().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func (c *campaignCmd) status(ctx context.Context, args []string) error {
	fs, s := c.flags("status", "status ID [--json] [--app-rate R]")
	asJSON := fs.Bool("json", false, "print one JSON object")
	appRate := cli.AppRateFlag(fs)
	id, ctl, closeCtl, err := c.openOne(ctx, fs, s, args)
	if err != nil {
		return err
	}
	defer closeCtl()
	rates, err := cli.OutboundRates(s, *appRate)
	if err != nil {
		return err
	}
	ctl.SetRate(rates)
	sum, err := ctl.Status(ctx, id)
	if err != nil {
		return err
	}
	return emit(c.stdout, *asJSON, sum, printStatus)
}

// emit writes v as one JSON object with --json, else in its human form.
func emit[T any](w io.Writer, asJSON bool, v T, human func(io.Writer, T)) error {
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	human(w, v)
	return nil
}

// printStatus writes the human form of a summary.
func printStatus(w io.Writer, m campaign.Summary) {
	state := string(m.State)
	if m.Reason != "" {
		state += " (" + m.Reason + ")"
	}
	fmt.Fprintf(w, "campaign %s: %s\n", m.CampaignID, state)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	created := m.CreatedAt.UTC().Format("2006-01-02 15:04:05 MST")
	from := ""
	if m.CSVName != "" {
		from = ", from " + m.CSVName
	}
	content := ""
	if m.ContentType != "" {
		content = ", " + campaign.ContentLabel(m.ContentType)
	}
	line("created", "%s (%s, %s, priority %s%s%s)", created, m.Source, channelsOf(m), m.Priority, content, from)
	if !m.ScheduledAt.IsZero() {
		line("starts", "%s", m.ScheduledAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	line("total", "%d recipients (%d rows uploaded: %d rejected, %d duplicates, %d suppressed)",
		m.Total, m.Counters.Rows, m.Rejected, m.Duplicates, m.Suppressed)
	line("pending", "%d (scheduled %d, retrying %d, waiting %d)", m.Pending, m.Scheduled, m.Retrying, m.Waiting)
	if w := m.WaitingFor(); w != "" {
		line("waiting", "%s", w)
	}
	line("sent", "%d", m.Sent)
	line("failed", "%d", m.Failed)
	line("cancelled", "%d", m.Cancelled)
	rate := fmt.Sprintf("%.1f/s over the last minute", m.SendRate)
	if m.ETASeconds != nil {
		rate += ", ETA " + (time.Duration(*m.ETASeconds) * time.Second).String()
	}
	line("send rate", "%s (%d attempts, %d answered 429)", rate, m.Attempts, m.RateLimited)
	if m.AppRate > 0 {
		app := fmt.Sprintf("%g/s", m.AppRate)
		if m.AppETASeconds != nil {
			app += fmt.Sprintf(", ETA %s (%s)", time.Duration(*m.AppETASeconds*float64(time.Second)).Round(time.Second),
				m.AppETA.Format("2006-01-02 15:04:05 MST"))
		}
		line("app rate", "%s", app)
	}
	if m.SMSSegments > 0 {
		sms := fmt.Sprintf("%d segments sent", m.SMSSegments)
		if m.SMSCost > 0 {
			sms += fmt.Sprintf(", estimated cost %s (from the upload's prices)", m.SMSCost)
		}
		line("sms", "%s", sms)
	}
	var parts []string
	for _, o := range []campaign.Outcome{campaign.OutcomeStored, campaign.OutcomeQueued, campaign.OutcomeDelivered,
		campaign.OutcomeRead, campaign.OutcomeReplied, campaign.OutcomeOptedOut, campaign.OutcomeFailed} {
		n := m.Outcomes.Get(o)
		if o == campaign.OutcomeFailed && n > 0 {
			var reasons []string
			for r, k := range m.Outcomes.FailedByReason {
				reasons = append(reasons, fmt.Sprintf("%s %d", r, k))
			}
			slices.Sort(reasons)
			parts = append(parts, fmt.Sprintf("failed %d (%s)", n, strings.Join(reasons, ", ")))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", o, n))
	}
	line("outcomes", "%s", strings.Join(parts, ", "))
	if on := m.Outcomes.DeliveredByChannel; len(on) > 0 || m.Outcomes.ChannelSwitches > 0 || len(m.Channels) > 0 {
		line("channels", "%s", deliveredOn(m.Outcomes))
	}
	switch t := m.Tracking; {
	case t.Warning != "":
		line("tracking", "WARNING: %s", t.Warning)
	case t.At.IsZero():
		line("tracking", "no pass yet (the worker tracks every --track-interval; or run: campaign track %s)", m.CampaignID)
	default:
		line("tracking", "last pass %s (%d pages, %d messages listed)", t.At.UTC().Format("2006-01-02 15:04:05 MST"), t.Pages, t.Messages)
	}
	line("auto-pause", "%s", m.AutoPause)
}

func (c *campaignCmd) report(ctx context.Context, args []string) error {
	fs, s := c.flags("report", "report ID [--out FILE]")
	out := fs.String("out", "", "write the CSV to this file instead of stdout")
	id, ctl, closeCtl, err := c.openOne(ctx, fs, s, args)
	if err != nil {
		return err
	}
	defer closeCtl()
	rep, err := ctl.Report(ctx, id)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := rep.WriteCSV(ctx, c.stdout)
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer f.Close()
	n, err := rep.WriteCSV(ctx, f)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(c.stdout, "wrote %d recipients of campaign %s to %s\n", n, id, *out)
	return nil
}

// controller connects to Redis and opens the operations the CLI shares
// with the dashboard; closeCtl closes both.
func (c *campaignCmd) controller(ctx context.Context, s *config.Settings) (ctl *campaignctl.Controller, closeCtl func(), err error) {
	rdb, err := cli.ConnectRedis(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	ropt, _ := s.RedisOpt() // validated by Load
	ctl = campaignctl.New(rdb, ropt)
	return ctl, func() { ctl.Close(); rdb.Close() }, nil
}

// openOne parses a command that names one campaign and opens the
// controller for it.
func (c *campaignCmd) openOne(ctx context.Context, fs *flag.FlagSet, s *config.Settings, args []string) (
	id string, ctl *campaignctl.Controller, closeCtl func(), err error) {
	pos, err := c.parse(fs, s, args, 1, false, "campaign ID")
	if err != nil {
		return "", nil, nil, err
	}
	ctl, closeCtl, err = c.controller(ctx, s)
	return pos[0], ctl, closeCtl, err
}

func (c *campaignCmd) retry(ctx context.Context, args []string) error {
	fs, s := c.flags("retry", "retry ID")
	id, ctl, closeCtl, err := c.openOne(ctx, fs, s, args)
	if err != nil {
		return err
	}
	defer closeCtl()
	res, err := ctl.Retry(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "campaign %s: re-queued %d failed sends\n", id, res.Requeued)
	if res.FailedLeft > 0 {
		fmt.Fprintf(c.stdout, "%d failed recipient(s) not re-queued: their archived task is gone (asynq keeps 10,000 archived tasks per queue, for 90 days)\n", res.FailedLeft)
	}
	if res.Paused {
		fmt.Fprintf(c.stdout, "the campaign is paused: they are sent after: campaign resume %s\n", id)
	}
	return nil
}

func (c *campaignCmd) control(ctx context.Context, name string, args []string) error {
	usage := name + " ID"
	if name != "resume" {
		usage += " [--reason TEXT]"
	}
	fs, s := c.flags(name, usage)
	var reason *string
	if name != "resume" {
		reason = fs.String("reason", "", "why (shown in status)")
	}
	id, ctl, closeCtl, err := c.openOne(ctx, fs, s, args)
	if err != nil {
		return err
	}
	defer closeCtl()
	switch name {
	case "pause":
		if err := ctl.Pause(ctx, id, *reason); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "campaign %s paused: workers stop sending it within about a second (nothing is lost); continue with: campaign resume %s\n", id, id)
	case "resume":
		if err := ctl.Resume(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "campaign %s resumed\n", id)
	case "cancel":
		res, err := ctl.Cancel(ctx, id, *reason)
		if err != nil {
			return err
		}
		cn := res.Counters
		fmt.Fprintf(c.stdout, "campaign %s cancelled: %d pending recipients cancelled; now %d sent, %d failed, %d cancelled of %d\n",
			id, res.Cancelled, cn.Sent, cn.Failed, cn.Cancelled, cn.Total())
	}
	return nil
}

func (c *campaignCmd) track(ctx context.Context, args []string) error {
	fs, s := c.flags("track", "track ID [--json] [--rate R] [--app-rate APP=R,...] [--burst B] [--stop-keywords LIST]")
	var (
		asJSON   = fs.Bool("json", false, "print the pass's report as one JSON object")
		rateFlag = fs.Float64("rate", cli.DefaultProjectRate, "the workers' --rate: list calls share their budgets")
		appRate  = cli.AppRateFlag(fs) // the workers' --app-rate
		burst    = fs.Int("burst", 0, "the workers' --burst (default: as the worker computes it)")
		keywords = fs.String("stop-keywords", strings.Join(tracking.DefaultStopKeywords, ","), "replies that opt out (comma-separated)")
	)
	pos, err := c.parse(fs, s, args, 1, false, "campaign ID")
	if err != nil {
		return err
	}
	id := pos[0]
	switch {
	case !(*rateFlag > 0):
		return errors.New("--rate must be positive")
	case *burst < 0:
		return errors.New("--burst must not be negative")
	}
	appRates, err := cli.ParseAppRates(*appRate, s.SinchAppID)
	if err != nil {
		return err
	}
	kw, err := cli.StopKeywords(*keywords)
	if err != nil {
		return err
	}
	if err := s.RequireSinch(); err != nil {
		return err
	}
	client, err := cli.SinchClient(s)
	if err != nil {
		return err
	}
	ctl, closeCtl, err := c.controller(ctx, s)
	if err != nil {
		return err
	}
	defer closeCtl()
	rep, err := ctl.Track(ctx, id, func() (campaignctl.Tracker, error) {
		logger, _ := cli.NewLogger(c.stderr, "text", "warn")
		// The workers' budgets: the pass's list calls take their tokens
		// from the campaign's app and the project like the sends do.
		budgets, err := cli.NewBudgets(ctl.Store().Redis(), s, client, cli.BudgetConfig{Rate: *rateFlag, Burst: *burst, AppRates: appRates}, logger)
		if err != nil {
			return nil, err
		}
		return tracking.New(client, ctl.Store(), budgets, tracking.Config{AppID: s.SinchAppID, StopKeywords: kw, Logger: logger})
	})
	if err != nil {
		return err
	}
	return emit(c.stdout, *asJSON, rep, printTrackReport)
}

func printTrackReport(w io.Writer, r tracking.Report) {
	if r.Note != "" {
		fmt.Fprintf(w, "campaign %s: %s\n", r.CampaignID, r.Note)
		return
	}
	fmt.Fprintf(w, "campaign %s: listed %d messages in %d pages (%s to %s), %d of this campaign\n", r.CampaignID,
		r.Messages, r.Pages, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Matched)
	if r.ChangedTotal() == 0 {
		fmt.Fprintln(w, "no outcome changed")
	}
	for _, o := range campaign.Outcomes {
		if n := r.Changed[o]; n > 0 {
			fmt.Fprintf(w, "  now %-18s %d\n", o, n)
		}
	}
	if r.SuppressedAdded > 0 {
		fmt.Fprintf(w, "added %d opted-out identities to the suppression list\n", r.SuppressedAdded)
	}
}

func (c *campaignCmd) suppress(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: suppress needs add, remove or list", cli.ErrUsage)
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "add", "remove":
	case "list":
		return c.suppressList(ctx, args)
	default:
		return fmt.Errorf("%w: suppress needs add, remove or list, got %q", cli.ErrUsage, verb)
	}
	fs, s := c.flags("suppress "+verb, "suppress "+verb+" [--channel SMS] [--default-region FR] IDENTITY...")
	channel := fs.String("channel", "SMS", "channel of the identities")
	region := fs.String("default-region", "", "country code (e.g. US, FR) for phone numbers written without +country code")
	var reason *string
	if verb == "add" {
		reason = fs.String("reason", "added by an operator", "why (kept with the entry)")
	}
	ids, err := c.parse(fs, s, args, 1, true, "identity")
	if err != nil {
		return err
	}
	ch, err := recipients.ParseChannel(*channel)
	if err != nil {
		return fmt.Errorf("--channel: %w", err)
	}
	norm := make([]string, len(ids))
	for i, raw := range ids {
		if norm[i], err = recipients.NormalizeIdentity(ch, raw, *region); err != nil {
			return fmt.Errorf("identity %d: %w", i+1, err)
		}
	}
	ctl, closeCtl, err := c.controller(ctx, s)
	if err != nil {
		return err
	}
	defer closeCtl()
	var n int
	if verb == "add" {
		n, err = ctl.Suppress(ctx, ch, norm, *reason)
	} else {
		n, err = ctl.Unsuppress(ctx, ch, norm)
	}
	if err != nil {
		return err
	}
	if verb == "add" {
		fmt.Fprintf(c.stdout, "suppressed %d identities on %s (%d already were)\n", n, ch, len(norm)-n)
	} else {
		fmt.Fprintf(c.stdout, "removed %d identities on %s from the suppression list (%d were not on it)\n", n, ch, len(norm)-n)
	}
	return nil
}

func (c *campaignCmd) suppressList(ctx context.Context, args []string) error {
	fs, s := c.flags("suppress list", "suppress list [--json]")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if _, err := c.parse(fs, s, args, 0, false, ""); err != nil {
		return err
	}
	ctl, closeCtl, err := c.controller(ctx, s)
	if err != nil {
		return err
	}
	defer closeCtl()
	enc := json.NewEncoder(c.stdout)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "CHANNEL\tIDENTITY\tSINCE\tREASON")
	}
	n := 0
	err = ctl.Suppressions(ctx, func(sup campaign.Suppression) error {
		n++
		if *asJSON {
			return enc.Encode(sup)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sup.Channel, sup.Identity, sup.At.UTC().Format("2006-01-02 15:04"), sup.Reason)
		return err
	})
	if err != nil {
		return err
	}
	if !*asJSON {
		tw.Flush()
		fmt.Fprintf(c.stdout, "%d suppressed identities\n", n)
	}
	return nil
}

// channelsOf is the campaign's channel, or its fallback order
// ("WHATSAPP>SMS fallback").
func channelsOf(m campaign.Summary) string {
	if len(m.Channels) < 2 {
		return string(m.Channel)
	}
	return sinch.JoinChannels(m.Channels, ">") + " fallback"
}

// deliveredOn is the status line of outcomes per channel: "delivered on
// SMS 2, WHATSAPP 3; 2 channel switches".
func deliveredOn(oc campaign.OutcomeCounts) string {
	var parts []string
	for _, ch := range slices.Sorted(maps.Keys(oc.DeliveredByChannel)) {
		parts = append(parts, fmt.Sprintf("%s %d", ch, oc.DeliveredByChannel[ch]))
	}
	on := "delivered on no channel yet"
	if len(parts) > 0 {
		on = "delivered on " + strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s; %d channel switches", on, oc.ChannelSwitches)
}

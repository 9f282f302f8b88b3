// Package democli is the demo command: a sample campaign end to end on
// embedded Redis (or REDIS_URL) and the built-in Sinch simulator.
package democli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaigncli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboardcli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

const demoUsage = `demo [--csv testdata/sample-campaign.csv] [--rate 50] [--serve]`

// Simulated recipients (by the end of their E.164 number) who make the
// outcomes worth showing: two are unreachable, one answers STOP, and
// demoReplier writes back.
const (
	demoFailSuffix  = "0199"
	demoStopSuffix  = "0132"
	demoReplier     = "+33612345678"
	demoReplyText   = "Thanks, see you on Saturday!"
	demoReceiptWait = 15 * time.Second
)

// Run runs a whole sample campaign on this machine: Redis (the configured
// one if it answers, else embedded), the built-in Sinch simulator, the
// dashboard (whose webhook takes the simulator's signed delivery receipts),
// enqueue, a worker and a tracking pass, then prints what happened to each
// message. Nothing leaves the machine. With --serve the dashboard stays open
// until ctx ends.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("demo", stderr, demoUsage)
	var (
		csvPath  = fs.String("csv", filepath.Join("testdata", "sample-campaign.csv"), "recipient CSV to send")
		text     = fs.String("text", "Hi {{.first_name}}, your spring offer is waiting!", "message template")
		rate     = fs.Float64("rate", 50, "sends per second")
		redisURL = fs.String("redis-url", "", "use this Redis instead of an embedded one [env REDIS_URL]")
		timeout  = fs.Duration("timeout", 2*time.Minute, "give up if the campaign has not finished by then")
		serve    = fs.Bool("serve", false, "afterwards keep the dashboard, worker and simulator running until Ctrl-C")
	)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *rate <= 0 {
		return errors.New("--rate must be positive")
	}
	if _, err := os.Stat(*csvPath); err != nil {
		return fmt.Errorf("--csv: %w (run the demo from the repository root)", err)
	}

	url := *redisURL
	if url == "" {
		url = getenv("REDIS_URL")
	}
	redisNote := "Redis at REDIS_URL"
	if url == "" || !redisAnswers(ctx, url) {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer m.Close()
		url = "redis://" + m.Addr() + "/0"
		redisNote = "embedded Redis (miniredis, in this process)"
	}

	// Throwaway credentials: this process made them and they die with it.
	env := map[string]string{
		"REDIS_URL":            url,
		"SINCH_PROJECT_ID":     sinchsim.DefaultProjectID,
		"SINCH_APP_ID":         sinchsim.DefaultAppID,
		"SINCH_KEY_ID":         sinchsim.DefaultKeyID,
		"SINCH_KEY_SECRET":     sinchsim.DefaultKeySecret,
		"SINCH_WEBHOOK_SECRET": rand.Text(),
		"DASHBOARD_USER":       "demo",
		"DASHBOARD_PASSWORD":   rand.Text(),
	}
	getDemoEnv := func(k string) string { return env[k] }

	// The dashboard comes first: the simulator posts receipts to its webhook.
	dctx, stopDashboard := context.WithCancel(ctx)
	defer stopDashboard()
	dashURL, dashDone, err := startDashboard(dctx, getDemoEnv, stderr)
	if err != nil {
		return err
	}
	defer func() { stopDashboard(); <-dashDone }()

	sim, err := sinchsim.New(sinchsim.Config{
		ProcessingMode: sinchsim.ModeDispatch,
		CallbackURL:    dashURL + webhook.Path, WebhookSecret: env["SINCH_WEBHOOK_SECRET"],
		FailSuffix: demoFailSuffix, ReplySuffix: demoStopSuffix, ReplyText: "STOP",
		// Receipts come a moment after the send is accepted, as from Sinch.
		CallbackDelay: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	simURL := "http://" + ln.Addr().String()
	env["SINCH_BASE_URL"], env["SINCH_AUTH_URL"] = simURL, simURL+"/oauth2/token"

	id := "demo-" + strconv.FormatInt(time.Now().Unix(), 10)
	fmt.Fprintf(stdout, "sinch-dispatch demo: campaign %s against the built-in Sinch simulator at %s (no real messages are sent), %s\n", id, simURL, redisNote)

	var out bytes.Buffer
	err = enqueuecli.Run(ctx, []string{"--campaign", id, "--csv", *csvPath, "--text", *text,
		"--default-region", "US", "--json"}, getDemoEnv, &out, stderr)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	var sum enqueue.Summary
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return fmt.Errorf("enqueue summary: %w", err)
	}
	fmt.Fprintf(stdout, "enqueued %d of %d rows (%d duplicates, %d rejected)\n",
		sum.Enqueued, sum.Rows, sum.Duplicates, sum.Rejected)
	enqueuecli.PrintRejects(stdout, sum)

	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() {
		r := strconv.FormatFloat(*rate, 'f', -1, 64)
		// The simulated app's rate is the demo's --rate: its budget, not
		// the simulator's default 20/s outbound, paces the sends.
		workerDone <- workercli.Run(wctx, []string{"--rate", r, "--app-rate", sinchsim.DefaultAppID + "=" + r,
			"--log-level", "warn", "--shutdown-timeout", "35s"}, getDemoEnv, io.Discard, stderr)
	}()

	s := config.Settings{RedisURL: url}
	rdb, err := s.RedisClient()
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := campaign.NewStore(rdb)
	c, err := waitDone(ctx, store, id, *timeout, workerDone, stdout)
	if err != nil {
		return err
	}
	stats := sim.Stats()
	fmt.Fprintf(stdout, "result: sent %d, failed %d, rejected at upload %d, duplicates %d (total recipients %d)\n",
		c.Sent, c.Failed, c.Rejected, c.Duplicates, c.Total())
	fmt.Fprintf(stdout, "simulator: accepted %d sends, answered 429 %d times, max %d accepted in any 1s window\n",
		stats.Accepted, stats.RateLimited, stats.MaxAcceptedPerSecond)

	if err := showOutcomes(ctx, stdout, stderr, store, sim, id, c.Sent, getDemoEnv); err != nil {
		return err
	}
	if !*serve {
		fmt.Fprintln(stdout, "This ran against the simulator. To send for real, see README.md, \"Running against real Sinch\".")
		stopWorker()
		return <-workerDone
	}
	fmt.Fprintf(stdout, "\ndashboard: %s/campaigns/%s\n  user %s, password %s (made for this run only)\n"+
		"The worker and the simulator keep running: press Ctrl-C to stop.\n",
		dashURL, id, env["DASHBOARD_USER"], env["DASHBOARD_PASSWORD"])
	select {
	case <-ctx.Done():
	case err := <-workerDone:
		return fmt.Errorf("worker stopped: %v", err)
	case err := <-dashDone:
		dashDone <- err
		return fmt.Errorf("dashboard stopped: %v", err)
	}
	stopWorker()
	return <-workerDone
}

// showOutcomes tells the second half of the story: what happened to the
// messages Sinch accepted. One recipient writes back, the simulator's signed
// delivery receipts reach the dashboard's webhook, and a tracking pass lists
// the app's DISPATCH_SOURCE messages (where replies and STOPs are found).
func showOutcomes(ctx context.Context, stdout, stderr io.Writer, store *campaign.Store, sim *sinchsim.Server,
	id string, sent int64, getenv cli.Env) error {
	rec, err := store.Record(ctx, id, campaign.RecipientKey(sinch.ChannelSMS, demoReplier))
	if err == nil && rec.MessageID != "" {
		if _, err := sim.AddContactMessage(sinchsim.ContactMessage{
			Identity: demoReplier, Text: demoReplyText, ReplyTo: rec.MessageID,
		}); err != nil {
			return err
		}
	}

	// Every accepted message gets a final receipt (DELIVERED or FAILED);
	// wait for them, bounded, then say how many came.
	oc, err := waitOutcomes(ctx, store, id, sent, demoReceiptWait)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "receipts: the dashboard's webhook took %d signed callbacks from the simulator (%d final outcomes recorded)\n",
		sim.Stats().CallbacksSent, oc.Delivered+oc.Read+oc.Failed)

	var out bytes.Buffer
	if err := campaigncli.Run(ctx, []string{"track", id, "--json"}, getenv, &out, stderr); err != nil {
		return fmt.Errorf("tracking pass: %w", err)
	}
	var rep tracking.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return fmt.Errorf("tracking report: %w", err)
	}
	fmt.Fprintf(stdout, "tracking: listed %d DISPATCH_SOURCE messages in %d pages, %d of this campaign; %d outcomes changed",
		rep.Messages, rep.Pages, rep.Matched, rep.ChangedTotal())
	if rep.SuppressedAdded > 0 {
		fmt.Fprintf(stdout, ", %d opted-out identities added to the suppression list", rep.SuppressedAdded)
	}
	fmt.Fprintln(stdout)

	if oc, err = store.Outcomes(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "outcomes: delivered %d, read %d, failed %d%s, replied %d, opted out %d\n",
		oc.Delivered, oc.Read, oc.Failed, reasons(oc.FailedByReason), oc.Replied, oc.OptedOut)
	return nil
}

// waitOutcomes polls until want recipients have a final outcome (delivered
// or better, or failed) or the bound passes; a late receipt is not an error.
func waitOutcomes(ctx context.Context, store *campaign.Store, id string, want int64, bound time.Duration) (campaign.OutcomeCounts, error) {
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		oc, err := store.Outcomes(ctx, id)
		if err != nil || oc.Delivered+oc.Read+oc.Failed+oc.Replied+oc.OptedOut >= want || time.Now().After(deadline) {
			return oc, err
		}
		select {
		case <-ctx.Done():
			return oc, ctx.Err()
		case <-tick.C:
		}
	}
}

// reasons is " (RECIPIENT_NOT_REACHABLE 2)" for a non-empty breakdown.
func reasons(by map[string]int64) string {
	if len(by) == 0 {
		return ""
	}
	parts := make([]string, 0, len(by))
	for _, r := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, by[r]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// startDashboard runs the dashboard command on a free loopback port and
// returns its base URL, read from its "dashboard listening" log line, and
// the channel its result arrives on.
func startDashboard(ctx context.Context, getenv cli.Env, stderr io.Writer) (string, chan error, error) {
	urls := make(chan string, 1)
	logs := &listenWatcher{w: stderr, found: urls}
	done := make(chan error, 1)
	go func() {
		done <- dashboardcli.Run(ctx, []string{"--addr", "127.0.0.1:0", "--log-format", "json"}, getenv, io.Discard, logs)
	}()
	select {
	case u := <-urls:
		return u, done, nil
	case err := <-done:
		return "", nil, fmt.Errorf("dashboard: %v", err)
	case <-time.After(10 * time.Second):
		return "", nil, errors.New("dashboard did not start listening within 10s")
	}
}

// listenWatcher takes the dashboard's JSON log: it catches the URL of the
// "dashboard listening" line and passes warnings and errors on to w.
type listenWatcher struct {
	w     io.Writer
	found chan<- string
	mu    sync.Mutex
	buf   []byte
}

func (l *listenWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		line, rest, ok := bytes.Cut(l.buf, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		l.buf = rest
		var rec struct{ Level, Msg, URL string }
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch {
		case rec.Msg == "dashboard listening" && rec.URL != "":
			select {
			case l.found <- rec.URL:
			default:
			}
		case rec.Level == "WARN" || rec.Level == "ERROR":
			fmt.Fprintf(l.w, "dashboard: %s\n", line)
		}
	}
}

// waitDone polls the campaign until no recipient is pending.
func waitDone(ctx context.Context, store *campaign.Store, id string, timeout time.Duration, worker <-chan error, w io.Writer) (campaign.Counters, error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastPrint time.Time
	for {
		c, err := store.Counters(ctx, id)
		if err != nil {
			return c, err
		}
		if c.Pending == 0 || time.Since(lastPrint) >= time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(w, "  sent %d, failed %d, pending %d\n", c.Sent, c.Failed, c.Pending)
		}
		if c.Pending == 0 {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case err := <-worker:
			return c, fmt.Errorf("worker stopped: %v", err)
		case <-deadline:
			return c, fmt.Errorf("campaign not finished after %s (%d pending)", timeout, c.Pending)
		case <-tick.C:
		}
	}
}

// redisAnswers reports whether the Redis at url answers a PING.
func redisAnswers(ctx context.Context, url string) bool {
	s := config.Settings{RedisURL: url}
	rdb, err := s.RedisClient()
	if err != nil {
		return false
	}
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rdb.Ping(pctx).Err() == nil
}

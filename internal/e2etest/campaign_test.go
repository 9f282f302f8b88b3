package e2etest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaigncli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

// ops runs the campaign command in-process.
func (s *stack) ops(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = campaigncli.Run(context.Background(), args, s.getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustOps runs the campaign command and fails the test on error.
func (s *stack) mustOps(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.ops(args...)
	if err != nil {
		s.t.Fatalf("campaign %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// statusJSON is `campaign status ID --json`, decoded.
func (s *stack) statusJSON(id string) campaign.Summary {
	s.t.Helper()
	out := s.mustOps("status", id, "--json")
	var sum campaign.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		s.t.Fatalf("status --json: %v: %q", err, out)
	}
	return sum
}

// startWorker runs the worker command in the background; stop ends it and
// returns its logs.
func (s *stack) startWorker(args ...string) (stop func() string) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logbuf.Buffer{}
	go func() { done <- workercli.Run(ctx, args, s.getenv, io.Discard, logs) }()
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				s.t.Errorf("worker: %v\nlogs:\n%s", err, logs.String())
			}
		}
		return logs.String()
	}
	s.t.Cleanup(func() { stop() })
	return stop
}

// waitRetrySet waits until every pending recipient of id has its task in
// the retry set, or, in a paused campaign or one outside its window, its
// chunk in the campaign's feed (the feeder feeds none of its chunks), and
// none is pending, running or scheduled.
// Recipients travel in chunk tasks (jobs.TypeChunk): a deferred chunk is
// put off whole, so the retry set's tasks are counted by their recipients.
func (s *stack) waitRetrySet(id string) (campaign.Counters, []*asynq.TaskInfo) {
	s.t.Helper()
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	store := campaign.NewStore(s.redis.Client)
	var c campaign.Counters
	var retry []*asynq.TaskInfo
	def, ctl, err := store.Lookup(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	held := ctl.Paused || def.Window != nil && def.Window.Until(time.Now()) > 0
	testwait.For(s.t, 15*time.Second, "every unsent task in the retry set", func() bool {
		var err error
		if c, err = store.Counters(context.Background(), id); err != nil || c.Pending == 0 {
			return false
		}
		retry = nil
		if qs, err := insp.Queues(); err != nil || !slices.Contains(qs, "default") {
			if !held {
				return false // nothing fed yet
			}
		} else {
			q, err := insp.GetQueueInfo("default")
			if err != nil {
				s.t.Fatal(err)
			}
			if q.Pending != 0 || q.Active != 0 || q.Scheduled != 0 {
				return false
			}
			if retry, err = insp.ListRetryTasks("default", asynq.PageSize(int(c.Pending)+1)); err != nil {
				s.t.Fatal(err)
			}
		}
		var n int64
		if held {
			if n, err = jobs.FeedRecipients(context.Background(), s.redis.Client, campaign.Definition{ID: id}); err != nil {
				s.t.Fatal(err)
			}
		}
		for _, ti := range retry {
			k, _ := jobs.TaskRecipients(id, ti.ID)
			n += k
		}
		return n >= c.Pending
	})
	return c, retry
}

// waitDeferred waits until the worker has taken up every task the paused
// campaign id still has and put it off: no task of the queue is pending or
// running, each recipient still pending has its task in the retry set, and
// each of those tasks last ended on the pause. Only then does "nothing more
// was sent" say something about the worker. It returns the counters then.
func (s *stack) waitDeferred(id string) campaign.Counters {
	s.t.Helper()
	c, retry := s.waitRetrySet(id)
	for _, ti := range retry {
		if ti.LastErr != "campaign paused" {
			s.t.Fatalf("task %s last ended on %q, want %q", ti.ID, ti.LastErr, "campaign paused")
		}
	}
	return c
}

// waitDrained waits until the worker has run every task of the queue to its
// end: none pending, running, scheduled or waiting to be retried.
func (s *stack) waitDrained() {
	s.t.Helper()
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	var q *asynq.QueueInfo
	testwait.For(s.t, 15*time.Second, "the worker to run every queued task", func() bool {
		var err error
		if q, err = insp.GetQueueInfo("default"); err != nil {
			s.t.Fatal(err)
		}
		return q.Pending+q.Active+q.Scheduled+q.Retry == 0
	})
}

// useNewSim points the stack at a fresh simulator (the "cause is fixed").
func (s *stack) useNewSim(cfg sinchsim.Config) *sinchsim.Server {
	s.t.Helper()
	cfg.ProcessingMode = sinchsim.ModeDispatch
	sim, url := sinchsimtest.Serve(s.t, cfg)
	s.sim, s.url = sim, url
	s.env["SINCH_BASE_URL"], s.env["SINCH_AUTH_URL"] = url, url+"/oauth2/token"
	return sim
}

// numbersCSV writes a CSV of the given phone numbers.
func numbersCSV(t *testing.T, numbers []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("phone,first_name\n")
	for i, n := range numbers {
		fmt.Fprintf(&b, "%s,N%d\n", n, i)
	}
	path := filepath.Join(t.TempDir(), "numbers.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCampaignTrackAcrossPagesRecordsDeliveriesAndStopReplies(t *testing.T) {
	t.Parallel()
	// Identities ending in 7 reply STOP (the simulator's default reply).
	// The app persists message status, so listing tells delivery.
	s := newStack(t, sinchsim.Config{ReplySuffix: "7", PersistMessageStatus: true})
	const n = 2100 // + 210 replies: 2,310 stored messages, 3 pages of 1,000
	s.enqueue("--campaign", "big", "--csv", campaignCSV(t, n, nil, 0), "--text", "Hi {{.first_name}}")
	c := s.runWorker("big", 20*time.Second, "--rate", "700", "--track-interval", "0")
	if c.Sent != n {
		t.Fatalf("got %+v, want %d sent", c, n)
	}

	out := s.mustOps("track", "big", "--json", "--rate", "700")
	var rep tracking.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("track --json: %v: %q", err, out)
	}
	if rep.Pages < 3 || rep.Messages != n+n/10 || rep.Matched != n+n/10 {
		t.Fatalf("got report %+v, want 3+ pages, %d messages, all of them ours", rep, n+n/10)
	}
	if rep.Changed[campaign.OutcomeDelivered] != n-n/10 || rep.Changed[campaign.OutcomeOptedOut] != n/10 || rep.SuppressedAdded != n/10 {
		t.Fatalf("got changes %v, suppressed %d; want %d delivered, %d opted out and suppressed",
			rep.Changed, rep.SuppressedAdded, n-n/10, n/10)
	}
	// The list calls took tokens from the send budget and Sinch never said 429.
	if st := s.sim.Stats(); st.RateLimited != 0 {
		t.Errorf("simulator answered 429 %d times", st.RateLimited)
	}

	sum := s.statusJSON("big")
	if sum.State != campaign.StateDone || sum.Outcomes.Delivered != n-n/10 || sum.Outcomes.OptedOut != n/10 ||
		sum.Tracking.Pages != rep.Pages {
		t.Fatalf("got status %+v, want done with %d delivered, %d opted out", sum, n-n/10, n/10)
	}
	// The opted-out identities are on the suppression list, with the reason.
	lines := strings.Split(strings.TrimSpace(s.mustOps("suppress", "list", "--json")), "\n")
	if len(lines) != n/10 {
		t.Fatalf("got %d suppressed identities, want %d", len(lines), n/10)
	}
	var sup campaign.Suppression
	json.Unmarshal([]byte(lines[0]), &sup)
	if !strings.HasSuffix(sup.Identity, "7") || !strings.Contains(sup.Reason, "campaign big") {
		t.Fatalf("got suppression %+v, want an identity ending in 7 suppressed by campaign big", sup)
	}
	// A second pass changes nothing.
	if out := s.mustOps("track", "big"); !strings.Contains(out, "no outcome changed") {
		t.Fatalf("second pass: got %q, want no change", out)
	}
}

func TestWorkerTracksActiveCampaignsPeriodically(t *testing.T) {
	t.Parallel()
	// Listing tells delivery: the app persists message status.
	s := newStack(t, sinchsim.Config{FailSuffix: "3", ReplySuffix: "5", ReplyText: "Merci", PersistMessageStatus: true})
	s.enqueue("--campaign", "periodic", "--csv", campaignCSV(t, 40, nil, 0), "--text", "Hi")
	stop := s.startWorker("--rate", "200", "--track-interval", "300ms")
	var sum campaign.Summary
	testwait.For(t, 10*time.Second, "the worker's tracking passes", func() bool {
		sum = s.statusJSON("periodic")
		return sum.Outcomes.Total() == 40
	})
	stop()
	o := sum.Outcomes
	if o.Failed != 4 || o.FailedByReason["RECIPIENT_NOT_REACHABLE"] != 4 || o.Replied != 4 || o.Delivered != 32 {
		t.Fatalf("got outcomes %+v, want 4 failed (RECIPIENT_NOT_REACHABLE), 4 replied, 32 delivered", o)
	}
	if sum.Tracking.At.IsZero() {
		t.Fatal("status shows no tracking pass")
	}
}

func TestCampaignTrackWarnsWhenSinchRetainsNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{DispatchRetentionDays: sinchsim.RetentionNone})
	s.enqueue("--campaign", "noret", "--csv", campaignCSV(t, 5, nil, 0), "--text", "Hi")
	s.runWorker("noret", 10*time.Second, "--rate", "100", "--track-interval", "0")
	out, _, err := s.ops("track", "noret")
	var stderr bytes.Buffer
	if code := cli.ExitCode("campaign", err, &stderr); code != 1 {
		t.Fatalf("got exit code %d (err %v), want 1", code, err)
	}
	for _, want := range []string{"stores nothing", "ttl_days", "1-7 days", "PATCH"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not mention %q", stderr.String(), want)
		}
	}
	if out != "" {
		t.Errorf("got stdout %q, want nothing reported as success", out)
	}
	if st := s.mustOps("status", "noret"); !strings.Contains(st, "WARNING: sinch stores nothing") {
		t.Fatalf("status does not show the retention warning:\n%s", st)
	}
}

func TestCampaignReportAndRetryOfArchivedSends(t *testing.T) {
	t.Parallel()
	// Numbers ending in 99 are refused with a 400 until the cause is fixed.
	// Listing tells delivery: the app persists message status.
	s := newStack(t, sinchsim.Config{RejectSuffix: "99", PersistMessageStatus: true})
	var numbers []string
	for i := range 30 {
		numbers = append(numbers, fmt.Sprintf("+33612345%03d", i))
	}
	numbers = append(numbers, "+33612345099", "+33612345199")
	s.enqueue("--campaign", "rep", "--csv", numbersCSV(t, numbers), "--text", "Hi {{.first_name}}")
	c := s.runWorker("rep", 10*time.Second, "--rate", "200", "--track-interval", "0")
	if c.Sent != 30 || c.Failed != 2 {
		t.Fatalf("got %+v, want 30 sent, 2 failed", c)
	}
	s.mustOps("track", "rep")

	path := filepath.Join(t.TempDir(), "report.csv")
	if out := s.mustOps("report", "rep", "--out", path); !strings.Contains(out, "wrote 32 recipients") {
		t.Fatalf("got %q", out)
	}
	f, _ := os.Open(path)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 33 {
		t.Fatalf("got %d report lines (err %v), want header + 32", len(rows), err)
	}
	if strings.Join(rows[0], ",") != "row,channel,identity,status,message_id,accepted_time,attempts,error,outcome,encoding,segments,delivered_channel" {
		t.Fatalf("got header %v", rows[0])
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		id := r[2]
		if !strings.HasPrefix(id, "'+336") {
			t.Errorf("identity cell %q is not escaped against formula injection", id)
		}
		seen[id] = true
		switch failed := strings.HasSuffix(id, "99"); {
		case failed && (r[3] != "failed" || !strings.Contains(r[7], "rejected by Sinch: 400") || r[4] != "" || r[8] != ""):
			t.Errorf("got row %v, want failed with Sinch's 400 and no message ID", r)
		case !failed && (r[3] != "sent" || r[4] == "" || r[5] == "" || r[6] != "1" || r[7] != "" || r[8] != "delivered"):
			t.Errorf("got row %v, want sent with message ID, accepted time, 1 attempt, delivered", r)
		}
	}
	if len(seen) != 32 {
		t.Fatalf("got %d distinct recipients in the report, want 32", len(seen))
	}

	// The cause is fixed: a new Sinch that accepts everyone.
	fixed := s.useNewSim(sinchsim.Config{})
	if out := s.mustOps("retry", "rep"); !strings.Contains(out, "re-queued 2 failed sends") {
		t.Fatalf("got %q, want 2 re-queued", out)
	}
	if sum := s.statusJSON("rep"); sum.Failed != 0 || sum.Pending != 2 || sum.Sent != 30 {
		t.Fatalf("after retry: got %+v, want 2 pending again", sum)
	}
	c = s.runWorker("rep", 10*time.Second, "--rate", "200", "--track-interval", "0")
	if c.Sent != 32 || c.Failed != 0 {
		t.Fatalf("got %+v, want all 32 sent", c)
	}
	if st := fixed.Stats(); st.Accepted != 2 || st.Duplicates != 0 {
		t.Fatalf("fixed simulator: accepted %d, duplicates %d; want only the 2 retried", st.Accepted, st.Duplicates)
	}
	if out := s.mustOps("retry", "rep"); !strings.Contains(out, "re-queued 0 failed sends") {
		t.Fatalf("second retry: got %q, want nothing re-queued", out)
	}
}

func TestRetryGivesSendsArchivedAfterMaxRetryAFreshBudget(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{FaultRate500: 1}) // Sinch is down
	s.enqueue("--campaign", "down", "--csv", campaignCSV(t, 2, nil, 0), "--text", "Hi")
	c := s.runWorker("down", 12*time.Second, "--rate", "100", "--max-retry", "1", "--track-interval", "0")
	if c.Failed != 2 {
		t.Fatalf("got %+v, want both failed after --max-retry", c)
	}
	s.useNewSim(sinchsim.Config{}) // Sinch is back
	if out := s.mustOps("retry", "down"); !strings.Contains(out, "re-queued 2") {
		t.Fatalf("got %q", out)
	}
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	pending, err := insp.ListPendingTasks(jobs.QueueDefault)
	if err != nil || len(pending) != 2 {
		t.Fatalf("got %d pending tasks (err %v), want the 2 re-queued", len(pending), err)
	}
	for _, ti := range pending {
		if ti.Retried != 0 {
			t.Fatalf("re-queued task %s has retried %d, want a fresh budget (0)", ti.ID, ti.Retried)
		}
	}
	if c := s.runWorker("down", 10*time.Second, "--rate", "100", "--max-retry", "1", "--track-interval", "0"); c.Sent != 2 {
		t.Fatalf("got %+v, want both sent", c)
	}
}

func TestCampaignPauseResumeCancelMidCampaign(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	const n = 400
	s.enqueue("--campaign", "ctl", "--csv", campaignCSV(t, n, nil, 0), "--text", "Hi")
	store := campaign.NewStore(s.redis.Client)
	ctx := context.Background()
	counters := func() campaign.Counters {
		c, err := store.Counters(ctx, "ctl")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const concurrency = 25
	stop := s.startWorker("--rate", "100", "--concurrency", fmt.Sprint(concurrency), "--track-interval", "0")
	testwait.For(t, 5*time.Second, "40 sends", func() bool { return counters().Sent >= 40 })

	s.mustOps("pause", "ctl", "--reason", "wrong link")
	atPause := counters()
	after := s.waitDeferred("ctl")
	// Only sends that had claimed their recipient before the pause may
	// still land: at most one per task in flight.
	if st := s.sim.Stats(); after.Sent-atPause.Sent > concurrency || after.Failed != 0 || st.Accepted != int64(after.Sent) {
		t.Fatalf("paused campaign kept sending: %d sent at the pause, %d once every task was put off (simulator accepted %d), %d failed; want at most %d more, all recorded, none failed",
			atPause.Sent, after.Sent, st.Accepted, after.Failed, concurrency)
	}
	sum := s.statusJSON("ctl")
	if sum.State != campaign.StatePaused || sum.Reason != "wrong link" || sum.Pending != n-after.Sent {
		t.Fatalf("got status %+v, want paused (wrong link) with the rest pending", sum)
	}
	// Put off by the pause, not by a failure: waiting, not retrying.
	if sum.WaitingResume == 0 || sum.Waiting != sum.WaitingResume || sum.Retrying != 0 {
		t.Errorf("paused: waiting %d (for the resume %d), retrying %d; want the deferred tasks waiting for the resume, none retrying",
			sum.Waiting, sum.WaitingResume, sum.Retrying)
	}
	if text := s.mustOps("status", "ctl"); !strings.Contains(text, "for the campaign to be resumed") {
		t.Errorf("status text does not say the sends wait for the resume:\n%s", text)
	}
	var raw map[string]any
	json.Unmarshal([]byte(s.mustOps("status", "ctl", "--json")), &raw)
	for _, k := range []string{"campaign_id", "state", "total", "pending", "sent", "failed", "outcomes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status --json has no %q key", k)
		}
	}

	s.mustOps("resume", "ctl")
	testwait.For(t, 30*time.Second, "40 more sends after resume", func() bool { return counters().Sent >= after.Sent+40 })

	out := s.mustOps("cancel", "ctl")
	c := counters()
	if c.Pending != 0 || c.Sent+c.Cancelled+c.Failed != n {
		t.Fatalf("right after cancel: got %+v (%s), want nothing pending and sent + cancelled = %d", c, out, n)
	}
	s.waitDrained() // tasks still queued are dropped by the worker
	stop()
	c = counters()
	st := s.sim.Stats()
	if c.Pending != 0 || c.Sent+c.Cancelled != n || c.Sent >= n || st.Accepted != c.Sent || st.Duplicates != 0 {
		t.Fatalf("got %+v, simulator accepted %d (duplicates %d); want sent + cancelled = %d, every send accepted once",
			c, st.Accepted, st.Duplicates, n)
	}
	if sum := s.statusJSON("ctl"); sum.State != campaign.StateCancelled {
		t.Fatalf("got state %s, want cancelled", sum.State)
	}
	if _, _, err := s.ops("resume", "ctl"); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("resume after cancel: got %v, want an error", err)
	}
	if list := s.mustOps("list"); !strings.Contains(list, "ctl") || !strings.Contains(list, "cancelled") {
		t.Fatalf("list:\n%s", list)
	}
}

func TestAutoPauseOnABurstOfPermanentFailures(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{RejectSuffix: "9"})
	var numbers []string
	for i := range 40 { // refused with a 400
		numbers = append(numbers, fmt.Sprintf("+3361230%03d9", i))
	}
	for i := range 60 {
		numbers = append(numbers, fmt.Sprintf("+3361231%03d0", i))
	}
	s.enqueue("--campaign", "burst", "--csv", numbersCSV(t, numbers), "--text", "Hi",
		"--autopause-window", "20", "--autopause-threshold", "50%")
	stop := s.startWorker("--rate", "100", "--track-interval", "0")
	var sum campaign.Summary
	testwait.For(t, 8*time.Second, "auto-pause", func() bool {
		sum = s.statusJSON("burst")
		return sum.State == campaign.StatePaused
	})
	s.waitDeferred("burst")
	logs := stop()
	sum = s.statusJSON("burst")
	if !strings.Contains(sum.Reason, "auto-paused") || !strings.Contains(sum.Reason, "of the last 20 sends failed") ||
		sum.Failed < 11 || sum.Pending == 0 || sum.AutoPause.Window != 20 || sum.AutoPause.Threshold != 0.5 {
		t.Fatalf("got %+v, want auto-paused with the reason, some failed and the rest pending", sum)
	}
	if !strings.Contains(logs, "campaign auto-paused") {
		t.Errorf("worker did not log the auto-pause")
	}
}

func TestRateLimitedSendsNeverTripAutoPause(t *testing.T) {
	t.Parallel()
	// Sinch allows 30 requests/s; the worker tries 100/s: many 429s, no failure.
	// The AIMD takes about 5 s to come down from 100 to 30 (×0.8 a second):
	// the timeout leaves room for a busy CI machine.
	s := newStack(t, sinchsim.Config{RateLimit: 30, RateBurst: 5})
	s.enqueue("--campaign", "limited", "--csv", campaignCSV(t, 60, nil, 0), "--text", "Hi",
		"--autopause-window", "10", "--autopause-threshold", "0")
	c := s.runWorker("limited", 30*time.Second, "--rate", "100", "--burst", "10", "--track-interval", "0")
	if c.Sent != 60 || c.RateLimited == 0 {
		t.Fatalf("got %+v, want all sent after some 429s", c)
	}
	if sum := s.statusJSON("limited"); sum.State != campaign.StateDone || sum.Reason != "" {
		t.Fatalf("got %+v, want done, never paused", sum)
	}
}

func TestCampaignCommandErrorsAndSuppressList(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "missing command"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"status"}, 2, "missing campaign ID"},
		{[]string{"status", "a", "b"}, 2, "unexpected argument"},
		{[]string{"status", "bad id!"}, 2, "campaign ID"},
		{[]string{"status", "--nope", "x"}, 2, "flag provided but not defined"},
		{[]string{"status", "ghost"}, 1, "campaign not found: ghost"},
		{[]string{"status", "ghost", "--json"}, 1, "campaign not found"},
		{[]string{"report", "ghost"}, 1, "campaign not found"},
		{[]string{"retry", "ghost"}, 1, "campaign not found"},
		{[]string{"pause", "ghost"}, 1, "campaign not found"},
		{[]string{"resume", "ghost"}, 1, "campaign not found"},
		{[]string{"cancel", "ghost"}, 1, "campaign not found"},
		{[]string{"track", "ghost"}, 1, "campaign not found"},
		{[]string{"suppress"}, 2, "add, remove or list"},
		{[]string{"suppress", "add"}, 2, "missing identity"},
		{[]string{"suppress", "add", "not a number"}, 1, "identity 1"},
		{[]string{"suppress", "add", "--channel", "PIGEON", "+33612345678"}, 1, "--channel"},
		{[]string{"--help"}, 0, ""},
		{[]string{"status", "--help"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			_, _, err := s.ops(tc.args...)
			var stderr bytes.Buffer
			if code := cli.ExitCode("campaign", err, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("got exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
	// Suppression list: national numbers are normalised like the CSV reader does.
	if out := s.mustOps("suppress", "add", "--default-region", "FR", "06 12 34 56 78", "+33 6 00 00 00 01"); !strings.Contains(out, "suppressed 2") {
		t.Fatalf("got %q", out)
	}
	if out := s.mustOps("suppress", "list"); !strings.Contains(out, "+33612345678") || !strings.Contains(out, "2 suppressed") {
		t.Fatalf("list:\n%s", out)
	}
	if out := s.mustOps("suppress", "remove", "+33612345678"); !strings.Contains(out, "removed 1") {
		t.Fatalf("got %q", out)
	}
	if out := s.mustOps("suppress", "list", "--json"); strings.Count(out, "\n") != 1 || strings.Contains(out, "+33612345678") {
		t.Fatalf("after remove:\n%s", out)
	}
	// Enqueue's auto-pause flags are validated before anything is written.
	for _, bad := range [][]string{{"--autopause-threshold", "150%"}, {"--autopause-window", "-1"}, {"--autopause-threshold", "x"}} {
		args := append([]string{"--campaign", "ap", "--csv", campaignCSV(t, 1, nil, 0), "--text", "Hi"}, bad...)
		if err := enqueuecli.Run(context.Background(), args, s.getenv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "autopause") {
			t.Errorf("%v: got %v, want an --autopause error", bad, err)
		}
	}
	if ids, _ := campaign.NewStore(s.redis.Client).IDs(context.Background()); len(ids) != 0 {
		t.Fatalf("got campaigns %v, want none", ids)
	}
}

func TestTrackPassesAreEnqueuedOncePerInterval(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	s.enqueue("--campaign", "once", "--csv", campaignCSV(t, 3, nil, 0), "--text", "Hi")
	s.runWorker("once", 10*time.Second, "--rate", "100", "--track-interval", "0")
	client := asynq.NewClient(s.redis.AsynqOpt())
	defer client.Close()
	store := campaign.NewStore(s.redis.Client)
	now := time.Now()
	cfg := jobs.TrackSchedule{Interval: time.Hour, Queue: jobs.QueueLow, Now: func() time.Time { return now }}
	for range 3 { // three workers in the same interval
		if err := jobs.EnqueueTrackPasses(context.Background(), client, store, cfg); err != nil {
			t.Fatal(err)
		}
	}
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(jobs.QueueLow)
	if err != nil || len(tasks) != 1 || tasks[0].Type != jobs.TypeTrack {
		t.Fatalf("got %d tasks (err %v), want one tracking pass", len(tasks), err)
	}
}

func TestWorkerTrackingFlagsAreCheckedAtStartup(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--track-interval", "-1s"}, "--track-interval"},
		{[]string{"--track-active", "0"}, "--track-active"},
		{[]string{"--stop-keywords", " , "}, "--stop-keywords"},
		{[]string{"--stop-keywords", "STOP,OPT OUT"}, "one word"},
	} {
		err := workercli.Run(context.Background(), tc.args, s.getenv, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

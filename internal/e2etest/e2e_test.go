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
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

// stack is one test's Redis database and Sinch simulator.
type stack struct {
	t     *testing.T
	redis *redistest.Redis
	rdb   redis.UniversalClient // redis.Client, or a cluster's client (newClusterStack)
	sim   *sinchsim.Server
	url   string
	env   map[string]string
	aopt  asynq.RedisConnOpt // asynq's connection to a cluster (newClusterStack); else redis's
}

// asynqOpt is how asynq reaches the stack's Redis.
func (s *stack) asynqOpt() asynq.RedisConnOpt {
	if s.aopt != nil {
		return s.aopt
	}
	return s.redis.AsynqOpt()
}

// stackOutboundRate is the simulated app's rate_limits.outbound in a
// stack whose Config gives none.
const stackOutboundRate = 1000

func newStack(t *testing.T, cfg sinchsim.Config) *stack {
	t.Helper()
	r := redistest.New(t)
	cfg.ProcessingMode = sinchsim.ModeDispatch
	if cfg.OutboundRate == 0 {
		// The app's budget then stays above the --rate these tests pace
		// by: --rate is the project's cap, the app's rate comes from GET app.
		cfg.OutboundRate = stackOutboundRate
	}
	sim, url := sinchsimtest.Serve(t, cfg)
	return &stack{t: t, redis: r, rdb: r.Client, sim: sim, url: url, env: simEnv(url, r.URL())}
}

// simEnv is the environment of the commands: Redis at redisURL and the
// simulator at simURL.
func simEnv(simURL, redisURL string) map[string]string { return sinchsimtest.Env(simURL, redisURL) }

func (s *stack) getenv(k string) string { return s.env[k] }

// enqueue runs the enqueue command and decodes its --json summary.
func (s *stack) enqueue(args ...string) enqueue.Summary {
	s.t.Helper()
	var out, errOut bytes.Buffer
	if err := enqueuecli.Run(context.Background(), append(args, "--json"), s.getenv, &out, &errOut); err != nil {
		s.t.Fatalf("enqueue: %v\nstderr: %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sum enqueue.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		s.t.Fatalf("last stdout line is not the JSON summary: %q", lines[len(lines)-1])
	}
	if sum.Rows != sum.Enqueued+sum.AlreadyEnqueued+sum.Duplicates+sum.Rejected+sum.Suppressed {
		s.t.Fatalf("summary does not add up: %+v", sum)
	}
	return sum
}

// runWorker runs the worker command until the campaign has nothing pending.
// Its logs must never hold a phone number of the campaign (all test numbers
// start with +336).
func (s *stack) runWorker(id string, timeout time.Duration, args ...string) campaign.Counters {
	s.t.Helper()
	c, logs := s.runWorkerLogs(id, timeout, args...)
	if strings.Contains(logs, "+336") || strings.Contains(logs, "336123") {
		s.t.Fatalf("worker logs hold a phone number:\n%s", logs)
	}
	return c
}

func (s *stack) runWorkerLogs(id string, timeout time.Duration, args ...string) (campaign.Counters, string) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs logbuf.Buffer
	go func() { done <- workercli.Run(ctx, args, s.getenv, io.Discard, &logs) }()
	store := campaign.NewStore(s.rdb)
	insp := asynq.NewInspector(s.asynqOpt())
	defer insp.Close()
	var c campaign.Counters
	finished := testwait.Until(timeout, func() bool {
		var err error
		c, err = store.Counters(context.Background(), id)
		if err != nil {
			s.t.Fatal(err)
		}
		// Done, and nothing left to run now: a chunk's failed recipient
		// is recorded before its own task archives itself.
		if c.Total() > 0 && c.Pending == 0 && sendsIdle(insp) {
			return true
		}
		select {
		case err := <-done:
			s.t.Fatalf("worker stopped early: %v\nlogs:\n%s", err, logs.String())
		default:
		}
		return false
	})
	if !finished {
		cancel()
		<-done
		s.t.Fatalf("campaign not done after %s: %+v\nlogs:\n%s", timeout, c, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		s.t.Fatalf("worker: %v", err)
	}
	return c, logs.String()
}

// sendsIdle reports whether no send queue holds a task pending or running.
func sendsIdle(insp *asynq.Inspector) bool {
	queues, err := insp.Queues()
	if err != nil {
		return false
	}
	for _, q := range queues {
		if !jobs.IsSendQueue(q) {
			continue
		}
		if info, err := insp.GetQueueInfo(q); err != nil || info.Pending+info.Active > 0 {
			return false
		}
	}
	return true
}

// oneSegmentGSM is the SMS totals of n short GSM-7 texts.
func oneSegmentGSM(n int) *sms.Totals {
	t := &sms.Totals{}
	for range n {
		t.Add(sms.Count{Encoding: sms.GSM7, Segments: 1})
	}
	return t
}

// campaignCSV writes a CSV of n valid distinct French mobile numbers, then
// appends the given bad rows and repeats of the first rows.
func campaignCSV(t *testing.T, n int, bad [][]string, repeats int) string {
	t.Helper()
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"phone", "first_name", "channel"})
	for i := range n {
		w.Write([]string{fmt.Sprintf("+33 6 12 34 %02d %02d", i/100, i%100), fmt.Sprintf("Name%d", i), ""})
	}
	for _, row := range bad {
		w.Write(row)
	}
	for i := range repeats {
		w.Write([]string{fmt.Sprintf("+3361234%02d%02d", i/100, i%100), "Again", "sms"})
	}
	w.Flush()
	path := filepath.Join(t.TempDir(), "recipients.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var tenBadRows = [][]string{
	{"not a number", "Bad", ""},
	{"12", "Bad", ""},
	{"+33 1", "Bad", ""},
	{"+999 123 456", "Bad", ""},
	{"", "Bad", ""},
	{"+33 6 00", "Bad", ""},
	{"06 12 34 56 78", "Bad", ""}, // national format, no --default-region
	{"+33 6 99 99 99 01", "Bad", "PIGEON"},
	{"+33 6 99 99 99 02", "Bad", "sms-ish"},
	{"+33 6 99 99 99 03", "Bad", "EMAIL"},
}

func TestCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	csvPath := campaignCSV(t, 485, tenBadRows, 5)
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	args := []string{"--campaign", "e2e", "--csv", csvPath, "--text", "Hi {{.first_name}}!", "--rejects", rejects}

	sum := s.enqueue(args...)
	want := enqueue.Summary{CampaignID: "e2e", Rows: 500, Enqueued: 485, Duplicates: 5, Rejected: 10, SMS: oneSegmentGSM(485),
		TTL: &enqueue.TTLEstimate{Recipients: 485, Rate: stackOutboundRate, SendSeconds: 485.0 / stackOutboundRate, TTLSeconds: 86400}}
	if len(sum.FirstRejects) != 10 || sum.FirstRejects[0].Row != 487 || sum.FirstRejects[0].Reason == "" {
		t.Fatalf("summary's first rejects: got %+v, want the 10 bad rows from row 487, with reasons", sum.FirstRejects)
	}
	sum.FirstRejects = nil
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("got summary %+v, want %+v", sum, want)
	}
	// Rejects: header + 10 rows, each with the row number (line) of the bad row.
	f, _ := os.Open(rejects)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 11 {
		t.Fatalf("got %d rejects lines (err %v), want header + 10", len(recs), err)
	}
	for i, rec := range recs[1:] {
		if wantRow := fmt.Sprint(485 + 2 + i); rec[0] != wantRow || rec[2] == "" {
			t.Errorf("reject %d: got %v, want row %s with a reason", i, rec, wantRow)
		}
	}

	c := s.runWorker("e2e", time.Minute, "--rate", "500")
	if c.Sent != 485 || c.Failed != 0 || c.Total() != 485 {
		t.Fatalf("got counters %+v, want 485 sent", c)
	}
	st := s.sim.Stats()
	if st.Accepted != 485 || st.Duplicates != 0 || st.ByStatus[400] != 0 {
		t.Fatalf("simulator: accepted %d, duplicates %d, 400s %d; want 485, 0, 0", st.Accepted, st.Duplicates, st.ByStatus[400])
	}

	// The same command again enqueues nothing new.
	again := s.enqueue(args...)
	if again.Enqueued != 0 || again.AlreadyEnqueued != 485 || again.Duplicates != 5 || again.Rejected != 10 {
		t.Fatalf("re-run: got %+v, want 0 enqueued, 485 already enqueued", again)
	}
	// Every recipient's record holds its message ID.
	store := campaign.NewStore(s.redis.Client)
	n := 0
	store.ScanRecipients(context.Background(), "e2e", func(rk string, st campaign.Status, rec campaign.Record) error {
		if st != campaign.StatusSent || rec.MessageID == "" || rec.AcceptedTime.IsZero() || rec.Attempts < 1 {
			t.Errorf("recipient row %d: got status %s record %+v, want sent with message ID", rec.Row, st, rec)
		}
		n++
		return nil
	})
	if n != 485 {
		t.Fatalf("got %d recipient records, want 485", n)
	}
}

func TestFaultsAreRetriedAndPermanentErrorsArchived(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{
		FaultRate500: 0.10, RateLimit: 60, RateBurst: 10, Seed: 7,
		RejectSuffix: "99",
	})
	// 200 good recipients, 3 of them (ending in 99) rejected by "Sinch" with a 400.
	var b strings.Builder
	b.WriteString("phone,first_name\n")
	for i := range 200 {
		fmt.Fprintf(&b, "+33612345%03d,N%d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "r.csv")
	os.WriteFile(path, []byte(b.String()), 0o600)
	sum := s.enqueue("--campaign", "faults", "--csv", path, "--text", "Hello {{.first_name}}")
	if sum.Enqueued != 200 {
		t.Fatalf("got %+v, want 200 enqueued", sum)
	}
	// --rate above the simulator's limit provokes 429s.
	c := s.runWorker("faults", 2*time.Minute, "--rate", "150", "--burst", "20", "--max-retry", "25")
	st := s.sim.Stats()
	rejected := int64(2) // +33612345099 and +33612345199
	if c.Sent != 200-rejected || c.Failed != rejected {
		t.Fatalf("got counters %+v, want %d sent and %d failed", c, 200-rejected, rejected)
	}
	if st.Accepted != 200-rejected || st.Duplicates != 0 {
		t.Fatalf("simulator: accepted %d duplicates %d, want %d and 0", st.Accepted, st.Duplicates, 200-rejected)
	}
	if st.Faults.HTTP500 == 0 || st.RateLimited == 0 {
		t.Fatalf("the test injected no faults (500s %d, 429s %d): it proves nothing", st.Faults.HTTP500, st.RateLimited)
	}
	if c.RateLimited != st.RateLimited {
		t.Errorf("campaign counted %d rate-limited answers, simulator sent %d", c.RateLimited, st.RateLimited)
	}
	// The permanent failures are archived in Asynq with Sinch's reason.
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	archived, err := insp.ListArchivedTasks("default")
	if err != nil || len(archived) != int(rejected) {
		t.Fatalf("got %d archived tasks (err %v), want %d", len(archived), err, rejected)
	}
	store := campaign.NewStore(s.redis.Client)
	store.ScanRecipients(context.Background(), "faults", func(_ string, st campaign.Status, rec campaign.Record) error {
		if st == campaign.StatusFailed && !strings.Contains(rec.Error, "rejected by Sinch: 400") {
			t.Errorf("row %d: got reason %q, want Sinch's 400", rec.Row, rec.Error)
		}
		return nil
	})
	t.Logf("429s: %d, injected 500s: %d, attempts: %d", st.RateLimited, st.Faults.HTTP500, c.Attempts)
}

package e2etest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

// e164 is the i-th number of campaignCSV (i < 1000), in E.164.
func e164(i int) string { return fmt.Sprintf("+33612340%01d%02d", i/100, i%100) }

func TestEnqueueSkipsSuppressedIdentities(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	ctx := context.Background()
	store := campaign.NewStore(s.redis.Client)
	// On the suppression list: two SMS recipients of the CSV, and a third
	// one on WhatsApp only, which does not stop its SMS.
	for _, sup := range []campaign.Suppression{
		{Channel: sinch.ChannelSMS, Identity: e164(1), Reason: "replied STOP"},
		{Channel: sinch.ChannelSMS, Identity: e164(2), Reason: "manual"},
		{Channel: sinch.ChannelWhatsApp, Identity: e164(4), Reason: "manual"},
	} {
		if _, err := store.Suppress(ctx, sup); err != nil {
			t.Fatal(err)
		}
	}
	// This upload's own list, in national format: recipient 3.
	supFile := filepath.Join(t.TempDir(), "do-not-send.txt")
	os.WriteFile(supFile, []byte("06 12 34 00 03\n"), 0o600)
	csvPath := campaignCSV(t, 10, nil, 0)
	args := []string{"--campaign", "sup", "--csv", csvPath, "--text", "Hi {{.first_name}}", "--suppress", supFile, "--default-region", "FR"}

	sum := s.enqueue(args...)
	want := enqueue.Summary{CampaignID: "sup", Rows: 10, Enqueued: 7, Suppressed: 3, SMS: oneSegmentGSM(7),
		TTL: &enqueue.TTLEstimate{Recipients: 7, Rate: stackOutboundRate, SendSeconds: 7.0 / stackOutboundRate, TTLSeconds: 86400}}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("got summary %+v, want %+v", sum, want)
	}
	c := s.runWorker("sup", 30*time.Second, "--rate", "200")
	if c.Sent != 7 || c.Total() != 7 || c.Suppressed != 3 || c.Rows != 10 {
		t.Fatalf("got counters %+v, want 7 sent of 10 rows, 3 suppressed", c)
	}
	if st := s.sim.Stats(); st.Accepted != 7 || st.Duplicates != 0 {
		t.Fatalf("simulator accepted %d (duplicates %d), want 7 and 0", st.Accepted, st.Duplicates)
	}
	for _, i := range []int{1, 2, 3} {
		if st, _ := store.Status(ctx, "sup", campaign.RecipientKey(sinch.ChannelSMS, e164(i))); st != "" {
			t.Errorf("suppressed recipient %d has status %q, want none", i, st)
		}
	}
	// Running it again adds up the same way.
	again := s.enqueue(args...)
	if again.Enqueued != 0 || again.AlreadyEnqueued != 7 || again.Suppressed != 3 {
		t.Fatalf("re-run: got %+v, want 7 already enqueued and 3 suppressed", again)
	}
	// --suppress is for the upload only: the list in Redis is unchanged.
	n := 0
	store.ScanSuppressed(ctx, func(campaign.Suppression) error { n++; return nil })
	if n != 3 {
		t.Fatalf("got %d suppressed identities in Redis, want the 3 put there", n)
	}
	// A dry run applies --suppress (it needs no Redis, so not the list).
	var out bytes.Buffer
	if err := enqueuecli.Run(ctx, append(args[2:], "--campaign", "sup-dry", "--dry-run"), s.getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would enqueue (dry run) 9") || !strings.Contains(out.String(), "suppressed 1") {
		t.Fatalf("dry run: got %q, want 9 to enqueue and 1 suppressed", out.String())
	}
}

func TestEnqueueValidatesWindowTZAndSuppressFlags(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("phone\n+33612345678\n"), 0o600)
	badSup := filepath.Join(dir, "bad.txt")
	os.WriteFile(badSup, []byte("+33612345678\nnot a number\n"), 0o600)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"window without dash", []string{"--window", "0900"}, "--window: window must look like 09:00-20:00"},
		{"window hour out of range", []string{"--window", "09:00-25:00"}, "--window: window end"},
		{"empty window", []string{"--window", "09:00-09:00"}, "--window: "},
		{"unknown tz", []string{"--window", "09:00-20:00", "--tz", "Europe/Lutetia"}, `--tz: unknown time zone "Europe/Lutetia"`},
		{"tz without window", []string{"--tz", "Europe/Paris"}, "--tz needs --window"},
		{"missing suppress file", []string{"--suppress", filepath.Join(dir, "nope.txt")}, "--suppress: open"},
		{"bad suppress entry", []string{"--suppress", badSup}, "--suppress: bad.txt: line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--campaign", "v", "--csv", good, "--text", "Hi"}, tc.args...)
			err := enqueuecli.Run(context.Background(), args, s.getenv, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if ids, _ := campaign.NewStore(s.redis.Client).IDs(context.Background()); len(ids) != 0 {
		t.Fatalf("bad flags created campaigns %v", ids)
	}
	// The same window twice is fine; another window for an existing campaign is not.
	s.enqueue("--campaign", "w", "--csv", good, "--text", "Hi", "--window", "20:00-08:00", "--tz", "Europe/Paris")
	s.enqueue("--campaign", "w", "--csv", good, "--text", "Hi", "--window", "20:00-08:00", "--tz", "Europe/Paris")
	err := enqueuecli.Run(context.Background(), []string{"--campaign", "w", "--csv", good, "--text", "Hi", "--window", "09:00-20:00"}, s.getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "exists with send window 20:00-08:00 Europe/Paris") {
		t.Fatalf("got %v, want the existing window named", err)
	}
}

func TestQuietHoursDeferSendsToTheWindowWithoutAttempts(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	ctx := context.Background()
	// A window opening two hours from now, in UTC: closed for the whole test.
	open := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	window := open.Format("15:04") + "-" + open.Add(time.Hour).Format("15:04")
	sum := s.enqueue("--campaign", "quiet", "--csv", campaignCSV(t, 20, nil, 0), "--text", "Hi", "--window", window)
	if sum.Enqueued != 20 {
		t.Fatalf("got %+v, want 20 enqueued", sum)
	}
	// enqueue asked GET app for the rate its TTL check uses; from here on
	// only the worker talks to Sinch.
	base := s.sim.Stats()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- workercli.Run(wctx, []string{"--rate", "200", "--app-rate", sinchsim.DefaultAppID + "=200"}, s.getenv, io.Discard, io.Discard)
	}()

	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	var retry []*asynq.TaskInfo
	deferred := func() (n int64) { // recipients, in chunk tasks
		for _, ti := range retry {
			k, _ := jobs.TaskRecipients("quiet", ti.ID)
			n += k
		}
		// The feeder feeds no chunk outside the window: the rest wait in
		// the campaign's feed.
		fed, err := jobs.FeedRecipients(ctx, s.redis.Client, campaign.Definition{ID: "quiet"})
		if err != nil {
			t.Fatal(err)
		}
		return n + fed
	}
	// Several of the feeder's looks (every 100 ms), and asynq's: time for
	// the worker to send what it must not.
	time.Sleep(2 * time.Second)
	retry, _ = insp.ListRetryTasks("default")
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := deferred(); n != 20 {
		t.Fatalf("got %d deferred recipients, want all 20", n)
	}
	for _, ti := range retry {
		if ti.Retried != 0 || ti.NextProcessAt.Before(open.Add(-5*time.Second)) || ti.NextProcessAt.After(open.Add(5*time.Second)) {
			t.Fatalf("task %s: retried %d, next at %s; want 0 failures and the window's opening %s", ti.ID, ti.Retried, ti.NextProcessAt, open)
		}
	}
	c, _ := campaign.NewStore(s.redis.Client).Counters(ctx, "quiet")
	// The worker fetches its access token at startup; nothing else may reach Sinch.
	st := s.sim.Stats()
	if api := (st.Requests - st.TokenRequests) - (base.Requests - base.TokenRequests); api != 0 || c.Attempts != 0 || c.Pending != 20 || c.Failed != 0 {
		t.Fatalf("got %d API requests besides token requests and counters %+v; want nothing sent, attempted or failed", api, c)
	}
	def, _ := campaign.NewStore(s.redis.Client).Get(ctx, "quiet")
	if def.Window == nil || def.Window.Hours() != window {
		t.Fatalf("got stored window %v, want %s", def.Window, window)
	}
}

func TestOneShotScheduledCampaignIsScheduledUntilDue(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	ctx := context.Background()
	store := campaign.NewStore(s.redis.Client)
	start := time.Now()
	sum := s.enqueue("--campaign", "later", "--csv", campaignCSV(t, 5, nil, 0), "--text", "Hi", "--in", "2s")
	if sum.Enqueued != 5 {
		t.Fatalf("got %+v, want 5 enqueued", sum)
	}
	def, err := store.Get(ctx, "later")
	if err != nil || def.ScheduledAt.Before(start.Add(2*time.Second)) || def.ScheduledAt.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("got scheduled_at %s (err %v), want about 2s from the enqueue", def.ScheduledAt, err)
	}
	state := func() campaign.State {
		c, _ := store.Counters(ctx, "later")
		paused, cancelled, _, _ := store.Control(ctx, "later")
		return campaign.DeriveState(def, c, paused, cancelled, time.Now())
	}

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- workercli.Run(wctx, []string{"--rate", "200"}, s.getenv, io.Discard, io.Discard) }()
	defer func() { stop(); <-done }()
	sawScheduled := false
	var st campaign.State
	// Each poll before the due time checks that nothing was sent yet.
	if !testwait.Until(15*time.Second, func() bool {
		st = state()
		accepted := s.sim.Stats().Accepted
		// Read after both: when even this is before the due time, so were
		// the state and every send the simulator counted (a loaded machine
		// can take long between the reads).
		if time.Now().Before(def.ScheduledAt.Add(-50 * time.Millisecond)) {
			if st != campaign.StateScheduled || accepted != 0 {
				t.Fatalf("before due: got state %s and %d accepted, want scheduled and nothing sent", st, accepted)
			}
			sawScheduled = true
		}
		return st == campaign.StateDone
	}) {
		t.Fatalf("not done 15s after enqueue: state %s", st)
	}
	if !sawScheduled {
		t.Fatal("never observed the campaign before it was due: the test proves nothing")
	}
	c, _ := store.Counters(ctx, "later")
	if c.Sent != 5 || s.sim.Stats().Accepted != 5 {
		t.Fatalf("got %+v and %d accepted, want 5 sent once", c, s.sim.Stats().Accepted)
	}
	store.ScanRecipients(ctx, "later", func(_ string, _ campaign.Status, rec campaign.Record) error {
		if rec.AcceptedTime.Before(def.ScheduledAt.Add(-time.Second)) {
			t.Errorf("row %d accepted at %s, before it was due at %s", rec.Row, rec.AcceptedTime, def.ScheduledAt)
		}
		return nil
	})
}

func TestRecurringScheduleFiresOnceWithTwoWorkers(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	csvPath := campaignCSV(t, 3, nil, 0)
	schedPath := filepath.Join(dir, "schedules.yaml")
	os.WriteFile(schedPath, []byte(fmt.Sprintf(`schedules:
  - name: tick
    cron: "@every 2s"
    csv: %q
    text: "Hi {{.first_name}}"
    priority: high
`, csvPath)), 0o600)
	s.env["SCHEDULES_FILE"] = schedPath // the env var; worker 2 also gets the flag

	store := campaign.NewStore(s.redis.Client)
	wctx, stop := context.WithCancel(ctx)
	var logs [2]logbuf.Buffer
	done := make(chan error, 2)
	for i := range logs {
		args := []string{"--rate", "200", "--log-level", "debug"}
		if i == 1 {
			args = append(args, "--schedules", schedPath)
		}
		go func() { done <- workercli.Run(wctx, args, s.getenv, io.Discard, &logs[i]) }()
	}
	// Let the schedule fire at least 3 times, every firing sent.
	var ids []string
	var finished int
	if !testwait.Until(15*time.Second, func() bool {
		ids, _ = store.IDs(ctx)
		finished = 0
		for _, id := range ids {
			if c, _ := store.Counters(ctx, id); c.Total() == 3 && c.Pending == 0 {
				finished++
			}
		}
		return finished >= 3
	}) {
		stop()
		t.Fatalf("after 15s: %d campaigns, %d finished; want 3 finished\nworker 1:\n%s\nworker 2:\n%s", len(ids), finished, logs[0].String(), logs[1].String())
	}
	stop()
	for range logs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// A firing handled just before the stop may still have sends queued.
	ids, _ = store.IDs(ctx)
	delete(s.env, "SCHEDULES_FILE")
	for _, id := range ids {
		if c, _ := store.Counters(ctx, id); c.Pending > 0 {
			s.runWorker(id, 20*time.Second, "--rate", "200")
		}
	}

	// Each firing made one campaign, of distinct 2s firing times, each sent once.
	slices.Sort(ids)
	var prev time.Time
	for _, id := range ids {
		c, _ := store.Counters(ctx, id)
		if c.Rows != 3 || c.Enqueued != 3 || c.Sent != 3 || c.Total() != 3 {
			t.Errorf("campaign %s: got %+v, want its 3 rows enqueued and sent exactly once", id, c)
		}
		at, err := time.Parse("20060102T150405", strings.TrimPrefix(id, "tick-"))
		if err != nil || at.Second()%2 != 0 || (!prev.IsZero() && !at.After(prev)) {
			t.Errorf("campaign %s: want tick-<firing time on an even second>, one per firing", id)
		}
		prev = at
	}
	st := s.sim.Stats()
	if st.Duplicates != 0 || st.Accepted != int64(3*len(ids)) {
		t.Fatalf("simulator: %d accepted, %d duplicates; want %d (3 per campaign) and 0", st.Accepted, st.Duplicates, 3*len(ids))
	}
	// Both workers' Schedulers fired every time: the copies were absorbed.
	all := logs[0].String() + logs[1].String()
	fired := strings.Count(all, "msg=\"schedule fired\"")
	for i := range logs {
		ticks := strings.Count(logs[i].String(), "schedule due:")
		if ticks < 2 {
			t.Fatalf("worker %d's Scheduler ticked %d times, want several: the test proves nothing\n%s", i+1, ticks, logs[i].String())
		}
	}
	ticks := strings.Count(all, "schedule due:")
	if fired != len(ids) || ticks <= fired {
		t.Fatalf("got %d campaigns, %d enqueues run, %d Scheduler ticks; want one enqueue per campaign and more ticks than firings", len(ids), fired, ticks)
	}
	t.Logf("%d firings from %d Scheduler ticks on 2 workers; %d no-op copies reached the handler", fired, ticks,
		strings.Count(all, "already handled by another copy"))
}

func TestWorkerRefusesABadSchedulesFileAtStartup(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	os.WriteFile(path, []byte("schedules:\n  - name: digest\n    cron: \"0 9 * *\"\n    csv: nope.csv\n    text: Hi\n"), 0o600)
	s.env["SCHEDULES_FILE"] = path
	err := workercli.Run(context.Background(), []string{"--rate", "10"}, s.getenv, io.Discard, io.Discard)
	for _, want := range []string{path, "schedules[0] (digest): cron: expected exactly 5 fields", "schedules[0] (digest): csv: stat"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
	if n, _ := s.redis.Client.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("the worker wrote %d keys before refusing its schedules file", n)
	}
}

// A recurring schedule's auto-pause settings and input limits apply to the
// campaigns its firings create, as they do to an enqueue.
func TestRecurringScheduleAutoPausesAndAppliesItsLimits(t *testing.T) {
	s := newStack(t, sinchsim.Config{RejectSuffix: "9"}) // numbers ending in 9 are refused with a 400
	var b strings.Builder
	b.WriteString("phone,first_name\n")
	for i := range 40 {
		fmt.Fprintf(&b, "+3361230%03d9,N%d\n", i, i)
	}
	for i := range 60 {
		fmt.Fprintf(&b, "+3361231%03d0,N%d\n", i, i)
	}
	b.WriteString("+33612319990,Bartholomew-the-long\n") // over max_field_bytes
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "r.csv")
	os.WriteFile(csvPath, []byte(b.String()), 0o600)
	schedPath := filepath.Join(dir, "schedules.yaml")
	os.WriteFile(schedPath, []byte(`schedules:
  - name: breaker
    cron: "@every 2s"
    csv: r.csv
    text: "Hi {{.first_name}}"
    max_field_bytes: 12
    autopause_window: 20
    autopause_threshold: 50%
`), 0o600)
	s.env["SCHEDULES_FILE"] = schedPath

	store := campaign.NewStore(s.redis.Client)
	stop := s.startWorker("--rate", "100", "--track-interval", "0")
	var sum campaign.Summary
	testwait.For(t, 15*time.Second, "a firing's campaign to auto-pause", func() bool {
		ids, _ := store.IDs(context.Background())
		for _, id := range ids {
			if sum = s.statusJSON(id); sum.State == campaign.StatePaused {
				return true
			}
		}
		return false
	})
	stop()
	if !strings.HasPrefix(sum.CampaignID, "breaker-") || !strings.Contains(sum.Reason, "of the last 20 sends failed") ||
		sum.AutoPause != (campaign.AutoPause{Window: 20, Threshold: 0.5}) || sum.Pending == 0 {
		t.Fatalf("got %+v, want a breaker-<firing> campaign auto-paused by its 20-send window with sends left", sum)
	}
	if c, _ := store.Counters(context.Background(), sum.CampaignID); c.Rows != 101 || c.Rejected != 1 || c.Total() != 100 {
		t.Fatalf("got counters %+v; want 101 rows, the long name rejected by max_field_bytes, 100 recipients", c)
	}
}

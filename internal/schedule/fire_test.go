package schedule

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
)

type fireFixture struct {
	store   *campaign.Store
	insp    *asynq.Inspector
	handler *Handler
	entry   *Entry
	logs    *logbuf.Buffer
	clock   *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// newFireFixture has the weekly-digest entry (2 recipients, one of them on
// the entry's suppress file) and a clock at its firing of Monday 2026-11-23.
func newFireFixture(t *testing.T) *fireFixture {
	t.Helper()
	r := redistest.New(t)
	cfg, err := parseEntries(t, testDir(t), goodEntry())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(r.AsynqOpt())
	insp := asynq.NewInspector(r.AsynqOpt())
	t.Cleanup(func() { client.Close(); insp.Close() })
	store := campaign.NewStore(r.Client)
	logs := &logbuf.Buffer{}
	paris, _ := campaign.LoadLocation("Europe/Paris")
	c := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, int(30*time.Millisecond), paris)}
	h := NewHandler(cfg, store, client, HandlerConfig{Now: c.now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return &fireFixture{store: store, insp: insp, handler: h, entry: cfg.Entries[0], logs: logs, clock: c}
}

func (f *fireFixture) fireTask(t *testing.T) *asynq.Task {
	t.Helper()
	task, _, err := jobs.NewFireTask(f.entry.Name, f.entry.uniqueFor())
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// pendingSends is the number of chunks waiting in the feeds of the
// fixture's campaigns (jobs.PushFeed).
func (f *fireFixture) pendingSends(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	ids, err := f.store.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		def, err := f.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := jobs.CampaignFeed(ctx, f.store.Redis(), def)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Queue != jobs.SendQueue(f.entry.Options.Priority, f.entry.Options.App) {
				t.Fatalf("chunk %s bound for queue %s, want the entry's", e.TaskID, e.Queue)
			}
		}
		n += len(entries)
	}
	return n
}

func TestConcurrentCopiesOfOneFiringCreateOneCampaign(t *testing.T) {
	t.Parallel()
	f := newFireFixture(t)
	ctx := context.Background()
	// Four workers' Schedulers each got a copy through, handled at once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.handler.ProcessTask(ctx, f.fireTask(t)) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
	}
	ids, _ := f.store.IDs(ctx)
	if len(ids) != 1 || ids[0] != "weekly-digest-20261123T0900" {
		t.Fatalf("got campaigns %v, want only weekly-digest-20261123T0900", ids)
	}
	c, _ := f.store.Counters(ctx, ids[0])
	if c.Rows != 2 || c.Enqueued != 1 || c.Suppressed != 1 || c.Pending != 1 {
		t.Fatalf("got counters %+v, want the CSV counted once: 2 rows, 1 enqueued, 1 suppressed", c)
	}
	if n := f.pendingSends(t); n != 1 {
		t.Fatalf("got %d send tasks, want 1", n)
	}
	if n := strings.Count(f.logs.String(), "already handled by another copy"); n != 3 {
		t.Fatalf("got %d no-op copies logged, want 3\n%s", n, f.logs.String())
	}
	def, err := f.store.Get(ctx, ids[0])
	if err != nil || def.Priority != campaign.PriorityHigh || def.Window.String() != "09:00-20:00 Europe/Paris" || def.CSVName != "r.csv" {
		t.Fatalf("got definition %+v (err %v), want the entry's priority, window and CSV", def, err)
	}

	// A copy that turns up later (its Scheduler lagged, Unique had expired)
	// is still a no-op: the firing is marked done.
	f.clock.add(40 * time.Second)
	if err := f.handler.ProcessTask(ctx, f.fireTask(t)); err != nil {
		t.Fatal(err)
	}
	if c2, _ := f.store.Counters(ctx, ids[0]); c2 != c {
		t.Fatalf("a late copy changed the counters: got %+v, want %+v", c2, c)
	}

	// The next firing is a new campaign.
	f.clock.add(7 * 24 * time.Hour)
	if err := f.handler.ProcessTask(ctx, f.fireTask(t)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := f.store.IDs(ctx); len(ids) != 2 {
		t.Fatalf("got campaigns %v, want a second one for the next Monday", ids)
	}
}

func TestRetryOfAFiringKeepsItsFiringTime(t *testing.T) {
	t.Parallel()
	f := newFireFixture(t)
	ctx := context.Background()
	e := f.entry
	csv := e.CSV
	e.CSV = csv + ".missing" // the first execution fails: the CSV is not there yet
	if err := f.handler.fire(ctx, e, "task-1"); err == nil || !strings.Contains(err.Error(), "csv") {
		t.Fatalf("got %v, want the missing CSV", err)
	}
	// Another copy of the same firing meanwhile: task-1 owns it.
	if err := f.handler.fire(ctx, e, "task-2"); err != nil {
		t.Fatal(err)
	}
	if f.pendingSends(t) != 0 {
		t.Fatal("a second copy enqueued while the first owns the firing")
	}
	// task-1 is retried after the next firing is due: it still fills the
	// first firing's campaign.
	e.CSV = csv
	f.clock.add(7*24*time.Hour + time.Minute)
	if err := f.handler.fire(ctx, e, "task-1"); err != nil {
		t.Fatal(err)
	}
	ids, _ := f.store.IDs(ctx)
	if len(ids) != 1 || ids[0] != "weekly-digest-20261123T0900" {
		t.Fatalf("got campaigns %v, want only the first firing's", ids)
	}
	if c, _ := f.store.Counters(ctx, ids[0]); c.Enqueued != 1 || c.Pending != 1 {
		t.Fatalf("got %+v, want the retry to have enqueued the recipient", c)
	}
}

// A firing is checked against its TTL at the app's rate like any upload:
// a warning in the log, or under strict_ttl a refusal that is not retried
// and writes no campaign.
func TestFiringsAreCheckedAgainstTheirTTL(t *testing.T) {
	t.Parallel()
	f := newFireFixture(t)
	ctx := context.Background()
	e := f.entry
	f.handler.rate = func(context.Context, string) float64 { return 0.01 } // 1 recipient: 100s
	e.Spec.TTL, e.Spec.StrictTTL = "60s", true
	err := f.handler.fire(ctx, e, "strict")
	if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "ttl: 1m is too short: 1 recipient at the app's 0.01/s takes 1m40s") {
		t.Fatalf("strict firing: %v", err)
	}
	if ids, _ := f.store.IDs(ctx); len(ids) != 0 {
		t.Fatalf("the refused firing created campaigns %v", ids)
	}
	e.Spec.StrictTTL = false
	f.clock.add(7 * 24 * time.Hour) // the next firing: the refused one stays refused
	if err := f.handler.fire(ctx, e, "warned"); err != nil {
		t.Fatal(err)
	}
	if f.pendingSends(t) != 1 || !strings.Contains(f.logs.String(), "schedule firing: ttl: 1m is too short") {
		t.Fatalf("warned firing: %d sends pending, logs:\n%s", f.pendingSends(t), f.logs.String())
	}
}

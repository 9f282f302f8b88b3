package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
)

func TestTTLEstimateNamesTheNumbers(t *testing.T) {
	t.Parallel()
	est := NewTTLEstimate(1_000_000, 0, 20, 2*time.Hour)
	if est.Fits() {
		t.Fatal("1,000,000 recipients at 20/s fit in 2h")
	}
	want := "--ttl 2h is too short: 1,000,000 recipients at the app's 20/s take 13h53m20s to send " +
		"(the last sends would expire in the app's queue); raise --ttl, split the campaign, or ask Sinch for a higher rate_limits.outbound"
	if got := est.Problem().In(Flags); got != want {
		t.Errorf("warning:\n got %s\nwant %s", got, want)
	}
	ahead := NewTTLEstimate(1000, 2500, 25, time.Minute).Problem().In(Keys)
	if !strings.HasPrefix(ahead, "ttl: 1m is too short: 1,000 recipients (behind 2,500 already queued on the app) at the app's 25/s take 2m20s") {
		t.Errorf("with a queue ahead: %s", ahead)
	}
	if p := NewTTLEstimate(40, 0, 20, 2*time.Second).Problem(); p != nil {
		t.Errorf("40 at 20/s within 2s: %v", p)
	}
}

func TestThousandsAndShortDuration(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %s, want %s", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 50001 * time.Second: "13h53m21s", 1500 * time.Millisecond: "2s"} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// phonesCSV is n distinct valid recipients.
func phonesCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("phone\n")
	for i := range n {
		fmt.Fprintf(&b, "+3361%07d\n", i)
	}
	return b.Bytes()
}

type ttlEnv struct {
	r      *redistest.Redis
	store  *campaign.Store
	client *asynq.Client
	src    Source
}

func newTTLEnv(t *testing.T) ttlEnv {
	r := redistest.New(t)
	client := asynq.NewClient(r.AsynqOpt())
	t.Cleanup(func() { client.Close() })
	src, err := NewTextSource("hello")
	if err != nil {
		t.Fatal(err)
	}
	return ttlEnv{r: r, store: campaign.NewStore(r.Client), client: client, src: src}
}

func (e ttlEnv) run(t *testing.T, o Options) (Summary, error) {
	t.Helper()
	if o.Source == nil {
		o.Source = e.src
	}
	return New(e.store, e.client).Run(context.Background(), o)
}

func (e ttlEnv) keys(t *testing.T) int64 {
	t.Helper()
	n, err := e.r.Client.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunWarnsWhenTheTTLIsShorterThanTheSending(t *testing.T) {
	t.Parallel()
	env := newTTLEnv(t)
	sum, err := env.run(t, Options{CampaignID: "warned", CSV: bytes.NewReader(phonesCSV(50)), TTL: 10 * time.Second, Rate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 50 {
		t.Fatalf("enqueued %d, want 50: a warning does not stop the upload", sum.Enqueued)
	}
	want := "ttl: 10s is too short: 50 recipients at the app's 2/s take 25s to send"
	if len(sum.Warnings) != 1 || !strings.HasPrefix(sum.Warnings[0], want) {
		t.Fatalf("warnings %q, want one starting %q", sum.Warnings, want)
	}
	if sum.TTL == nil || sum.TTL.SendSeconds != 25 || sum.TTL.Rate != 2 || sum.TTL.Recipients != 50 {
		t.Errorf("estimate %+v", sum.TTL)
	}

	// At a rate that fits there is an estimate and no warning.
	sum, err = env.run(t, Options{CampaignID: "fits", CSV: bytes.NewReader(phonesCSV(10)), TTL: 10 * time.Second, Rate: 100,
		Priority: campaign.PriorityHigh})
	if err != nil || len(sum.Warnings) != 0 || sum.TTL == nil || !sum.TTL.Fits() {
		t.Fatalf("fitting upload: %v, %+v", err, sum)
	}
}

func TestStrictTTLRefusesBeforeWritingAnything(t *testing.T) {
	t.Parallel()
	env := newTTLEnv(t)
	opts := Options{CampaignID: "strict", CSV: bytes.NewReader(phonesCSV(50)), TTL: 10 * time.Second, Rate: 2, StrictTTL: true}
	_, err := env.run(t, opts)
	if !errors.Is(err, ErrStrictTTL) {
		t.Fatalf("err %v, want the strict_ttl refusal", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "ttl" || !strings.Contains(fe.In(Flags), "50 recipients at the app's 2/s take 25s") {
		t.Fatalf("refusal %v does not name the numbers", err)
	}
	if n := env.keys(t); n != 0 {
		t.Fatalf("the refusal left %d keys in Redis", n)
	}

	// A dry run under strict_ttl says it would be refused, and writes nothing.
	opts.CSV, opts.DryRun = bytes.NewReader(phonesCSV(50)), true
	sum, err := New(nil, nil).Run(context.Background(), withSource(opts, env.src))
	if !errors.Is(err, ErrStrictTTL) || len(sum.Warnings) != 1 {
		t.Fatalf("dry run: %v, warnings %q", err, sum.Warnings)
	}

	// A stream cannot be counted first: strict_ttl wants expected_rows.
	opts.DryRun = false
	opts.CSV = io.MultiReader(bytes.NewReader(phonesCSV(50)))
	_, err = env.run(t, opts)
	if !errors.As(err, &fe) || fe.Field != "strict_ttl" || !strings.Contains(fe.In(Flags), "--expected-rows") {
		t.Fatalf("stream without expected rows: %v", err)
	}
	if n := env.keys(t); n != 0 {
		t.Fatalf("refusing the stream left %d keys in Redis", n)
	}
	opts.CSV, opts.ExpectedRows = io.MultiReader(bytes.NewReader(phonesCSV(50))), 50
	if _, err = env.run(t, opts); !errors.Is(err, ErrStrictTTL) {
		t.Fatalf("stream with expected rows: %v", err)
	}
	if n := env.keys(t); n != 0 {
		t.Fatalf("refusing the stream left %d keys in Redis", n)
	}

	// Under the TTL it goes through.
	opts.CSV, opts.ExpectedRows, opts.Rate = bytes.NewReader(phonesCSV(50)), 0, 10
	sum, err = env.run(t, opts)
	if err != nil || sum.Enqueued != 50 {
		t.Fatalf("strict upload that fits: %v, %+v", err, sum)
	}
}

func withSource(o Options, src Source) Options { o.Source = src; return o }

func TestTTLCheckCountsCampaignsQueuedAheadOnTheApp(t *testing.T) {
	t.Parallel()
	env := newTTLEnv(t)
	ctx := context.Background()
	if _, err := env.run(t, Options{CampaignID: "big", CSV: bytes.NewReader(phonesCSV(80))}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.run(t, Options{CampaignID: "held", CSV: bytes.NewReader(phonesCSV(500))}); err != nil {
		t.Fatal(err)
	}
	if err := env.store.Pause(ctx, "held", "test"); err != nil {
		t.Fatal(err)
	}
	// 20 recipients fit in 9s at 10/s, but not behind big's 80 (held is
	// paused: it delays nobody).
	_, err := env.run(t, Options{CampaignID: "next", CSV: bytes.NewReader(phonesCSV(20)), TTL: 9 * time.Second, Rate: 10, StrictTTL: true})
	if !errors.Is(err, ErrStrictTTL) || !strings.Contains(err.Error(), "20 recipients (behind 80 already queued on the app) at the app's 10/s take 10s") {
		t.Fatalf("err %v", err)
	}
	// A high-priority campaign goes before normal ones: nothing is ahead.
	sum, err := env.run(t, Options{CampaignID: "urgent", CSV: bytes.NewReader(phonesCSV(20)), TTL: 10 * time.Second, Rate: 10,
		StrictTTL: true, Priority: campaign.PriorityHigh})
	if err != nil || sum.TTL == nil || sum.TTL.Ahead != 0 {
		t.Fatalf("high priority: %v, %+v", err, sum.TTL)
	}
}

package campaignctl

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
	"github.com/sinch-dispatch/sinch-dispatch/internal/tracking"
)

// newCampaign stores campaign id with n recipients, the first sent of them sent.
func newCampaign(t *testing.T, c *Controller, id string, n, sent int) {
	t.Helper()
	ctx, store := context.Background(), c.Store()
	if _, _, err := store.Create(ctx, campaign.Definition{ID: id, Priority: campaign.PriorityNormal, Channel: sinch.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
	var regs []campaign.Registration
	for i := range n {
		identity := fmt.Sprintf("+1555000%04d", i)
		regs = append(regs, campaign.Registration{Key: campaign.RecipientKey(sinch.ChannelSMS, identity),
			Record: campaign.Record{Row: i + 2, Channel: sinch.ChannelSMS, Identity: identity}})
	}
	if _, err := store.Register(ctx, id, "run", regs); err != nil {
		t.Fatal(err)
	}
	for _, r := range regs[:sent] {
		rec := r.Record
		rec.MessageID = "m-" + r.Key
		if _, err := store.MarkSent(ctx, id, r.Key, rec); err != nil {
			t.Fatal(err)
		}
	}
}

func newController(t *testing.T) *Controller {
	r := redistest.New(t)
	c := New(r.Client, r.AsynqOpt())
	t.Cleanup(c.Close)
	return c
}

func TestSendSeriesOfAFinishedCampaignEndsAtItsLastSend(t *testing.T) {
	t.Parallel()
	c := newController(t)
	ctx := context.Background()
	newCampaign(t, c, "done", 3, 3)
	newCampaign(t, c, "fresh", 2, 0)
	sum, err := c.Status(ctx, "done")
	if err != nil || sum.State != campaign.StateDone {
		t.Fatalf("status: %v %+v", err, sum)
	}
	series, start, err := c.SendSeries(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range series {
		total += n
	}
	if len(series) != 60 || total != 3 || series[59] == 0 || !start.Equal(sum.LastSent.Add(-59*time.Second)) {
		t.Fatalf("got %d seconds from %s summing to %d (last %d); want 60 ending at the last send %s with all 3 sends",
			len(series), start, total, series[len(series)-1], sum.LastSent)
	}
	fresh, _ := c.Status(ctx, "fresh")
	if series, _, err := c.SendSeries(ctx, fresh); err != nil || series != nil {
		t.Fatalf("nothing sent: got %v, %v; want no series", series, err)
	}
}

func TestSendFailuresGroupsFailedRecipientsByError(t *testing.T) {
	t.Parallel()
	c := newController(t)
	ctx := context.Background()
	newCampaign(t, c, "f", 5, 1)
	store := c.Store()
	var n int
	store.ScanRecipients(ctx, "f", func(rk string, st campaign.Status, rec campaign.Record) error {
		if st != campaign.StatusPending {
			return nil
		}
		rec.Error = "rejected by Sinch: 400"
		if n++; n == 3 {
			rec.Error = "gave up after 10 attempts: 503"
		}
		_, err := store.MarkFailed(ctx, "f", rk, rec)
		return err
	})
	sum, _ := c.Status(ctx, "f")
	got, ok, err := c.SendFailures(ctx, sum)
	if err != nil || !ok || len(got) != 2 || got["rejected by Sinch: 400"] != 3 || got["gave up after 10 attempts: 503"] != 1 {
		t.Fatalf("got %v ok=%v err=%v; want 3 rejected and 1 gave up", got, ok, err)
	}
	sum.Total = MaxFailureScan + 1
	if got, ok, err := c.SendFailures(ctx, sum); ok || got != nil || err != nil {
		t.Fatalf("above MaxFailureScan: got %v ok=%v err=%v, want nothing read", got, ok, err)
	}
}

func TestOperationsPauseCancelAndList(t *testing.T) {
	t.Parallel()
	c := newController(t)
	ctx := context.Background()
	newCampaign(t, c, "c", 2, 1)
	if err := c.Pause(ctx, "c", ""); err != nil {
		t.Fatal(err)
	}
	if sum, _ := c.Status(ctx, "c"); sum.State != campaign.StatePaused || sum.Reason != DefaultPauseReason {
		t.Fatalf("after pause: got %s %q, want paused (%s)", sum.State, sum.Reason, DefaultPauseReason)
	}
	res, err := c.Cancel(ctx, "c", "")
	if err != nil || res.Cancelled != 1 || res.Counters.Cancelled != 1 || res.Counters.Sent != 1 {
		t.Fatalf("cancel: got %+v, %v; want 1 cancelled, 1 sent", res, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != campaign.StateCancelled || list[0].Reason != DefaultCancelReason {
		t.Fatalf("list: got %+v, %v; want c cancelled (%s)", list, err, DefaultCancelReason)
	}
}

// newTracker is a tracker on the controller's store, against a simulator.
func newTracker(t *testing.T, c *Controller) *tracking.Tracker {
	t.Helper()
	_, url := sinchsimtest.Serve(t, sinchsim.Config{ProcessingMode: sinchsim.ModeDispatch})
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(c.Store().Redis(), ratelimit.Config{Key: "t", Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracking.New(client, c.Store(), sinchcall.One(lim), tracking.Config{AppID: sinchsim.DefaultAppID})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Every action answers the same typed errors: not found for an unknown
// campaign, ErrCancelled where a cancelled campaign refuses it.
func TestActionsAnswerTypedErrors(t *testing.T) {
	c := newController(t)
	ctx := context.Background()
	tracker := newTracker(t, c)
	newCampaign(t, c, "gone", 2, 1)
	if _, err := c.Cancel(ctx, "gone", "wrong list"); err != nil {
		t.Fatal(err)
	}
	newCampaign(t, c, "busy", 1, 1)
	release, ok, err := c.Store().LockTracking(ctx, "busy", time.Minute) // a worker's pass
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer release()

	actions := map[string]func(id string) error{
		"status": func(id string) error { _, err := c.Status(ctx, id); return err },
		"report": func(id string) error { _, err := c.Report(ctx, id); return err },
		"pause":  func(id string) error { return c.Pause(ctx, id, "") },
		"resume": func(id string) error { return c.Resume(ctx, id) },
		"cancel": func(id string) error { _, err := c.Cancel(ctx, id, ""); return err },
		"retry":  func(id string) error { _, err := c.Retry(ctx, id); return err },
		"track": func(id string) error {
			_, err := c.Track(ctx, id, func() (Tracker, error) { return tracker, nil })
			return err
		},
	}
	tests := []struct {
		action, id string
		want       error // nil: succeeds
	}{
		{"status", "ghost", campaign.ErrCampaignNotFound},
		{"report", "ghost", campaign.ErrCampaignNotFound},
		{"pause", "ghost", campaign.ErrCampaignNotFound},
		{"resume", "ghost", campaign.ErrCampaignNotFound},
		{"cancel", "ghost", campaign.ErrCampaignNotFound},
		{"retry", "ghost", campaign.ErrCampaignNotFound},
		{"track", "ghost", campaign.ErrCampaignNotFound},
		{"status", "bad id!", ErrInvalidID},
		{"report", "bad id!", ErrInvalidID},
		{"pause", "bad id!", ErrInvalidID},
		{"resume", "bad id!", ErrInvalidID},
		{"cancel", "bad id!", ErrInvalidID},
		{"retry", "bad id!", ErrInvalidID},
		{"track", "bad id!", ErrInvalidID},
		{"pause", "gone", campaign.ErrCancelled},
		{"resume", "gone", campaign.ErrCancelled},
		{"retry", "gone", campaign.ErrCancelled},
		{"status", "gone", nil},
		{"report", "gone", nil},
		{"cancel", "gone", nil}, // cancelling again changes nothing
		{"track", "busy", ErrTrackingBusy},
	}
	for _, tc := range tests {
		t.Run(tc.action+"_"+tc.id, func(t *testing.T) {
			err := actions[tc.action](tc.id)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if sum, _ := c.Status(ctx, "gone"); sum.State != campaign.StateCancelled {
		t.Fatalf("after the refused actions: got %s, want still cancelled", sum.State)
	}
}

func TestReportWritesOneEscapedRowPerRecipient(t *testing.T) {
	c := newController(t)
	ctx := context.Background()
	newCampaign(t, c, "r", 3, 1)
	rep, err := c.Report(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := rep.WriteCSV(ctx, &buf)
	if err != nil || n != 3 {
		t.Fatalf("got %d rows, %v; want 3", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(ReportHeader, ",") {
		t.Fatalf("got %q (%v), want the header and 3 rows", rows, err)
	}
	statuses := map[string]int{}
	for _, r := range rows[1:] {
		if !strings.HasPrefix(r[2], "'+1555") {
			t.Errorf("got identity cell %q, want it escaped as text", r[2])
		}
		statuses[r[3]]++
	}
	if statuses["sent"] != 1 || statuses["pending"] != 2 {
		t.Fatalf("got statuses %v, want 1 sent and 2 pending", statuses)
	}
}

func TestSuppressAddsRemovesAndLists(t *testing.T) {
	c := newController(t)
	ctx := context.Background()
	ids := []string{"+15550000001", "+15550000002"}
	if n, err := c.Suppress(ctx, sinch.ChannelSMS, ids, "manual"); err != nil || n != 2 {
		t.Fatalf("add: got %d, %v; want 2", n, err)
	}
	if n, err := c.Suppress(ctx, sinch.ChannelSMS, ids[:1], "again"); err != nil || n != 0 {
		t.Fatalf("add again: got %d, %v; want 0", n, err)
	}
	if n, err := c.Unsuppress(ctx, sinch.ChannelSMS, []string{ids[0], "+15559999999"}); err != nil || n != 1 {
		t.Fatalf("remove: got %d, %v; want 1", n, err)
	}
	var got []campaign.Suppression
	if err := c.Suppressions(ctx, func(s campaign.Suppression) error { got = append(got, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Identity != ids[1] || got[0].Reason != "manual" {
		t.Fatalf("got %+v, want only %s (manual)", got, ids[1])
	}
}

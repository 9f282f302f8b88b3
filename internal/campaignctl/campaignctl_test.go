package campaignctl

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
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

func TestOperationsAnswerTypedErrors(t *testing.T) {
	t.Parallel()
	c := newController(t)
	ctx := context.Background()
	newCampaign(t, c, "c", 2, 1)
	if err := c.Pause(ctx, "ghost", ""); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("pause unknown: got %v, want ErrNotFound", err)
	}
	if _, err := c.Status(ctx, "bad id!"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("status of an invalid ID: got %v, want ErrInvalidID", err)
	}
	if err := c.Pause(ctx, "c", ""); err != nil {
		t.Fatal(err)
	}
	if sum, _ := c.Status(ctx, "c"); sum.State != campaign.StatePaused || sum.Reason != DefaultPauseReason {
		t.Fatalf("after pause: %s %q", sum.State, sum.Reason)
	}
	res, err := c.Cancel(ctx, "c", "")
	if err != nil || res.Cancelled != 1 || res.Counters.Cancelled != 1 || res.Counters.Sent != 1 {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	if err := c.Pause(ctx, "c", ""); !errors.Is(err, ErrCancelled) {
		t.Errorf("pause after cancel: got %v, want ErrCancelled", err)
	}
	if _, err := c.Retry(ctx, "c"); !errors.Is(err, ErrCancelled) {
		t.Errorf("retry after cancel: got %v, want ErrCancelled", err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].State != campaign.StateCancelled || list[0].Reason != DefaultCancelReason {
		t.Fatalf("list: %v %+v", err, list)
	}
}

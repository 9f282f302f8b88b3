package campaignctl

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// archive enqueues the send task of every recipient of campaign id and
// archives it, as the worker does once a send fails for good.
func archive(t *testing.T, ropt asynq.RedisConnOpt, store *campaign.Store, id string) []jobs.SendPayload {
	t.Helper()
	ctx := context.Background()
	client, insp := asynq.NewClient(ropt), asynq.NewInspector(ropt)
	defer client.Close()
	defer insp.Close()
	var out []jobs.SendPayload
	err := store.ScanRecipients(ctx, id, func(rk string, _ campaign.Status, rec campaign.Record) error {
		p := jobs.SendPayload{CampaignID: id, Key: rk, Row: rec.Row, Channel: rec.Channel, Identity: rec.Identity,
			Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}}}
		task, err := jobs.NewSendTask(p, jobs.QueueDefault, time.Time{})
		if err != nil {
			return err
		}
		info, err := client.Enqueue(task)
		if err != nil {
			return err
		}
		out = append(out, p)
		return insp.ArchiveTask(info.Queue, info.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRetryRequeuesOnlyTheCampaignsFailedSends(t *testing.T) {
	r := redistest.New(t)
	c := New(r.Client, r.AsynqOpt())
	t.Cleanup(c.Close)
	ctx, store := context.Background(), c.Store()
	newCampaign(t, c, "c", 3, 0)
	newCampaign(t, c, "cx", 1, 0) // its task IDs start like c's
	sends := archive(t, r.AsynqOpt(), store, "c")
	other := archive(t, r.AsynqOpt(), store, "cx")
	for _, p := range append(sends[:2], other...) { // the third stays pending
		if _, err := store.MarkFailed(ctx, p.CampaignID, p.Key, campaign.Record{Row: p.Row, Channel: p.Channel,
			Identity: p.Identity, Error: "rejected by Sinch: 400"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Pause(ctx, "c", ""); err != nil {
		t.Fatal(err)
	}

	res, err := c.Retry(ctx, "c")
	want := RetryResult{RetryCounts: RetryCounts{Requeued: 2, Skipped: 1}, Paused: true}
	if err != nil || res != want {
		t.Fatalf("got %+v, %v; want %+v", res, err, want)
	}
	insp := asynq.NewInspector(r.AsynqOpt())
	defer insp.Close()
	pending, err := insp.ListPendingTasks("default")
	if err != nil || len(pending) != 2 {
		t.Fatalf("got %d pending tasks (%v), want the 2 re-queued", len(pending), err)
	}
	for _, info := range pending {
		if info.Retried != 0 || info.ID != jobs.TaskID("c", sends[0].Key) && info.ID != jobs.TaskID("c", sends[1].Key) {
			t.Errorf("got pending task %s retried %d, want one of c's failed sends with a fresh budget", info.ID, info.Retried)
		}
	}
	archived, err := insp.ListArchivedTasks("default")
	if err != nil || len(archived) != 2 {
		t.Fatalf("got %d archived tasks (%v), want c's pending recipient's and cx's left", len(archived), err)
	}
	if cn, _ := store.Counters(ctx, "c"); cn.Failed != 0 || cn.Pending != 3 {
		t.Fatalf("got counters %+v, want the 2 failed pending again", cn)
	}
	if cn, _ := store.Counters(ctx, "cx"); cn.Failed != 1 {
		t.Fatalf("campaign cx: got %+v, want its failed send left alone", cn)
	}
	if res, err := c.Retry(ctx, "c"); err != nil || res.Requeued != 0 {
		t.Fatalf("second retry: got %+v, %v; want nothing re-queued", res, err)
	}
}

// Status counts a chunk task's recipients: a chunk scheduled for later is
// the upload's scheduled recipients, a send of one recipient scheduled
// for later (a chunk's recipient to try again) is retrying.
func TestStatusCountsTheRecipientsOfChunkTasks(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	c := New(r.Client, r.AsynqOpt())
	t.Cleanup(c.Close)
	newCampaign(t, c, "c", 8, 0)
	client := asynq.NewClient(r.AsynqOpt())
	defer client.Close()
	chunk := &jobs.ChunkPayload{CampaignID: "c", Channel: sinch.ChannelSMS, Queue: sinch.QueueNormal}
	for i := range 5 {
		chunk.Recipients = append(chunk.Recipients, jobs.ChunkRecipient{Row: i + 2, Identity: fmt.Sprintf("+1555000%04d", i), Text: "hi"})
	}
	later := time.Now().Add(time.Hour)
	one := jobs.SendPayload{CampaignID: "c", Key: campaign.RecipientKey(sinch.ChannelSMS, "+15550000007"), Row: 9,
		Channel: sinch.ChannelSMS, Identity: "+15550000007", Message: sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}}}
	tasks := []func() (*asynq.Task, error){
		func() (*asynq.Task, error) { return jobs.NewChunkTask(chunk, jobs.QueueDefault, later) },
		func() (*asynq.Task, error) { return jobs.NewSendTask(one, jobs.QueueDefault, later) },
	}
	for _, build := range tasks {
		task, err := build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := c.Status(context.Background(), "c")
	if err != nil || sum.Scheduled != 5 || sum.Retrying != 1 || sum.Pending != 8 {
		t.Fatalf("status: got scheduled %d, retrying %d, pending %d (%v); want 5, 1, 8", sum.Scheduled, sum.Retrying, sum.Pending, err)
	}
}

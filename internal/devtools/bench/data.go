package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// messageText is the --text template of every benchmark campaign.
const messageText = "Hi {{.first_name}}, your spring offer is waiting!"

// phone is the i-th distinct valid French mobile number in E.164.
func phone(i int) string { return fmt.Sprintf("+336%08d", i) }

func firstName(i int) string { return fmt.Sprintf("Name%d", i) }

// writeCSV writes a header and n valid, distinct recipients.
func writeCSV(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("phone,first_name\n")
	for i := range n {
		fmt.Fprintf(bw, "%s,%s\n", phone(i), firstName(i))
	}
	return bw.Flush()
}

func csvBytes(n int) []byte {
	var b bytes.Buffer
	writeCSV(&b, n)
	return b.Bytes()
}

func writeCSVFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeCSV(f, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rawPayload is the payload enqueue builds for row i (CSV line i+2) of a
// generated CSV: the raw baselines enqueue the same bytes.
func rawPayload(campaignID string, i int) jobs.SendPayload {
	id := phone(i)
	return jobs.SendPayload{
		CampaignID: campaignID, Key: campaign.RecipientKey(sinch.ChannelSMS, id), Row: i + 2,
		Channel: sinch.ChannelSMS, Identity: id,
		Message:    sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "Hi " + firstName(i) + ", your spring offer is waiting!"}},
		Queue:      campaign.PriorityNormal.SinchQueue(),
		TTLSeconds: int64(enqueue.DefaultTTL / time.Second),
	}
}

// rawEnqueue is the baseline of the enqueue pipeline: n send tasks with the
// payload and options enqueue would give them, enqueued by conc goroutines
// calling asynq.Client.EnqueueContext, with nothing else around.
func rawEnqueue(ctx context.Context, client *asynq.Client, campaignID string, n, conc int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				task, err := jobs.NewSendTask(rawPayload(campaignID, i), jobs.QueueDefault, time.Time{})
				if err == nil {
					_, err = client.EnqueueContext(ctx, task)
				}
				if err != nil {
					errs <- fmt.Errorf("raw enqueue: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// enqueueCampaign runs the real enqueue pipeline over a generated CSV of n rows.
func enqueueCampaign(ctx context.Context, rs *procs.Redis, campaignID string, n int) (enqueue.Summary, error) {
	return enqueueAppCampaign(ctx, rs, campaignID, "", n)
}

// enqueueAppCampaign is enqueueCampaign for a campaign on app ("": the
// workers' SINCH_APP_ID).
func enqueueAppCampaign(ctx context.Context, rs *procs.Redis, campaignID, app string, n int) (enqueue.Summary, error) {
	client := asynq.NewClient(rs.AsynqOpt())
	defer client.Close()
	src, err := enqueue.NewTextSource(messageText)
	if err != nil {
		return enqueue.Summary{}, err
	}
	sum, err := enqueue.New(campaign.NewStore(rs.Client), client).Run(ctx, enqueue.Options{
		CampaignID: campaignID, CSV: bytes.NewReader(csvBytes(n)), Source: src, App: app,
	})
	if err == nil && sum.Enqueued != int64(n) {
		err = fmt.Errorf("enqueue: got %d enqueued of %d rows (%d rejected), want all", sum.Enqueued, n, sum.Rejected)
	}
	return sum, err
}

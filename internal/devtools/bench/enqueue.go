package bench

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// benchEnqueue (figure 1): CSV rows/s through the enqueue pipeline
// (Enqueuer.Run: parse, validate, render, register in Redis, enqueue)
// versus raw concurrent asynq.Client.EnqueueContext of as many tasks with
// the same payload and options, at the same concurrency, each on an empty
// Redis.
func benchEnqueue(ctx context.Context, h *harness) ([]Figure, error) {
	n, conc := h.sizes.EnqueueRows, enqueue.DefaultConcurrency
	data := csvBytes(n)
	src, err := enqueue.NewTextSource(messageText)
	if err != nil {
		return nil, err
	}
	var subject, baseline trials
	for round := range h.sizes.Rounds {
		if err := fresh(ctx, h.redis); err != nil {
			return nil, err
		}
		client := asynq.NewClient(h.redis.AsynqOpt())
		c0, start := h.cpuNow(), time.Now()
		err := rawEnqueue(ctx, client, "bench", n, conc)
		elapsed, c1 := time.Since(start), h.cpuNow()
		client.Close()
		if err != nil {
			return nil, err
		}
		baseline = append(baseline, trial{float64(n) / elapsed.Seconds(), cpuSince(c0, c1)})

		if err := fresh(ctx, h.redis); err != nil {
			return nil, err
		}
		client = asynq.NewClient(h.redis.AsynqOpt())
		c0, start = h.cpuNow(), time.Now()
		sum, err := enqueue.New(campaign.NewStore(h.redis.Client), client).Run(ctx, enqueue.Options{
			CampaignID: "bench", CSV: bytes.NewReader(data), Source: src, Concurrency: conc,
		})
		elapsed, c1 = time.Since(start), h.cpuNow()
		client.Close()
		if err != nil {
			return nil, err
		}
		if sum.Enqueued != int64(n) {
			return nil, fmt.Errorf("enqueue: got %+v, want %d enqueued", sum, n)
		}
		subject = append(subject, trial{float64(n) / elapsed.Seconds(), cpuSince(c0, c1)})
		h.logf("enqueue round %d: pipeline %.0f rows/s, raw %.0f tasks/s", round+1, subject[round].rate, baseline[round].rate)
	}
	s, b := subject.best(), baseline.best()
	smsCost := smsCountCost(n)
	return []Figure{{
		Name: "1 enqueue", Value: s.rate, Unit: "rows/s",
		Baseline: fmt.Sprintf("raw asynq.Client.Enqueue %.0f tasks/s", b.rate),
		Ratio:    s.rate / b.rate, Target: "ratio ≥ 0.8", Pass: s.rate/b.rate >= 0.8,
		Note: fmt.Sprintf("%d rows, concurrency %d, best of %d (pipeline %s; raw %s)\npipeline %s\nraw      %s\n"+
			"SMS counting (sms.Measure in the parallel stage): %.2f µs of CPU a row",
			n, conc, len(subject), subject, baseline,
			s.cpu.perItem(n, "row", "enqueue"), b.cpu.perItem(n, "task", "enqueue"), smsCost),
	}}, nil
}

// smsCountCost is the CPU, in µs a row, of counting each rendered message's
// SMS segments as the pipeline does, measured alone on one goroutine over
// the benchmark campaign's own texts.
func smsCountCost(n int) float64 {
	texts := make([]string, min(n, 10000))
	for i := range texts {
		texts[i] = strings.Replace(messageText, "{{.first_name}}", firstName(i), 1)
	}
	segments := 0
	start := time.Now()
	for i := range n {
		segments += sms.Measure(texts[i%len(texts)]).Segments
	}
	elapsed := time.Since(start)
	if segments != n { // every benchmark text is one GSM-7 segment
		return -1
	}
	return float64(elapsed.Microseconds()) / float64(n)
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// smallCSVRows is the size of the memory baseline's CSV: the binary's fixed cost.
const smallCSVRows = 1000

// memoryTargetRows is the smaller campaign of figure 6's Redis target; the
// other is Sizes.MemoryRows.
const memoryTargetRows = 200_000

// bytesPerRecipientTarget is figure 6's target for Redis bytes per pending
// recipient (enqueue.BytesPerRecipient is the measured value).
const bytesPerRecipientTarget = 300

// benchMemory (figure 6): peak RSS of the enqueue binary on a large CSV
// (baseline: the same binary on a 1,000-row CSV), and Redis bytes per pending
// recipient (INFO used_memory delta / recipients; baseline: raw asynq tasks
// with the same payload) at 200,000 rows and at Sizes.MemoryRows.
func benchMemory(ctx context.Context, h *harness) ([]Figure, error) {
	n := h.sizes.MemoryRows
	small := filepath.Join(h.tmp, "small.csv")
	if err := writeCSVFile(small, smallCSVRows); err != nil {
		return nil, err
	}
	smallRun, err := h.runEnqueue(ctx, "memsmall", small, smallCSVRows)
	if err != nil {
		return nil, err
	}
	sizes := []int{n}
	if n > memoryTargetRows {
		sizes = []int{memoryTargetRows, n}
	}
	var runs []enqueueRun
	for _, rows := range sizes {
		big := filepath.Join(h.tmp, "big.csv")
		if err := writeCSVFile(big, rows); err != nil {
			return nil, err
		}
		run, err := h.runEnqueue(ctx, "mem", big, rows)
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	bigRun := runs[len(runs)-1]

	if err := fresh(ctx, h.redis); err != nil {
		return nil, err
	}
	before, err := usedMemory(ctx, h.redis)
	if err != nil {
		return nil, err
	}
	client := asynq.NewClient(h.redis.AsynqOpt())
	rawN := sizes[0] // the raw baseline's cost per task does not grow with n
	err = rawEnqueue(ctx, client, "mem", rawN, enqueue.DefaultConcurrency)
	client.Close()
	if err != nil {
		return nil, err
	}
	after, err := usedMemory(ctx, h.redis)
	if err != nil {
		return nil, err
	}
	rawBytes := float64(after-before) / float64(rawN)

	const mb = 1 << 20
	rss := float64(bigRun.rss) / mb
	figs := []Figure{{
		Name: fmt.Sprintf("6 enqueue peak RSS, %d rows", n), Value: rss, Unit: "MB",
		Baseline: fmt.Sprintf("same binary on %d rows %.1f MB", smallCSVRows, float64(smallRun.rss)/mb),
		Ratio:    float64(bigRun.rss) / float64(smallRun.rss),
		Target:   "≤ 100 MB", Pass: rss <= 100,
		Note: fmt.Sprintf("enqueue binary as a process into an empty private Redis: %s, %.0f rows/s; peak RSS is the process's VmHWM, polled every 5 ms",
			bigRun.wall.Round(time.Millisecond), float64(n)/bigRun.wall.Seconds()),
	}}
	for i, run := range runs {
		figs = append(figs, Figure{
			Name: fmt.Sprintf("6 redis bytes per pending recipient, %d rows", sizes[i]), Value: run.bytesPer, Unit: "B",
			Baseline: fmt.Sprintf("raw asynq task, same payload and options, %.0f B", rawBytes),
			Ratio:    run.bytesPer / rawBytes,
			Target:   fmt.Sprintf("≤ %d B", bytesPerRecipientTarget), Pass: run.bytesPer <= bytesPerRecipientTarget,
			Note: fmt.Sprintf("INFO used_memory delta over %d recipients: chunk tasks of up to %d recipients (shared fields once; row, identity and text each) and each recipient's compact record (pending has no status entry); enqueue.BytesPerRecipient is %d",
				sizes[i], enqueue.DefaultBatchSize, enqueue.BytesPerRecipient),
		})
	}
	return figs, nil
}

// tenMillionRows is the size of the tenmillion group's upload.
const tenMillionRows = 10_000_000

// benchTenMillion (figure 8, only with --only tenmillion): the enqueue
// binary uploads a 10,000,000-row CSV into an empty private Redis: its
// time, peak RSS and the Redis memory the campaign takes.
func benchTenMillion(ctx context.Context, h *harness) ([]Figure, error) {
	csv := filepath.Join(h.tmp, "ten-million.csv")
	h.logf("writing a %d-row CSV", tenMillionRows)
	if err := writeCSVFile(csv, tenMillionRows); err != nil {
		return nil, err
	}
	run, err := h.runEnqueue(ctx, "tenmillion", csv, tenMillionRows)
	os.Remove(csv)
	if err != nil {
		return nil, err
	}
	used, err := usedMemory(ctx, h.redis)
	if err != nil {
		return nil, err
	}
	const mb = 1 << 20
	return []Figure{
		{
			Name: "8 enqueue 10M rows: time", Value: run.wall.Seconds(), Unit: "s",
			Note: fmt.Sprintf("the enqueue binary as a process, %.0f rows/s", float64(tenMillionRows)/run.wall.Seconds()),
		},
		{Name: "8 enqueue 10M rows: peak RSS", Value: float64(run.rss) / mb, Unit: "MB", Target: "≤ 100 MB", Pass: float64(run.rss)/mb <= 100},
		{
			Name: "8 enqueue 10M rows: Redis used_memory", Value: float64(used) / mb, Unit: "MB",
			Note: fmt.Sprintf("%.0f B per pending recipient (INFO used_memory delta)", run.bytesPer),
		},
	}, nil
}

// enqueueRun is one run of the enqueue binary.
type enqueueRun struct {
	rss      int64 // peak resident set, bytes
	wall     time.Duration
	bytesPer float64 // Redis used_memory delta per enqueued recipient
}

// runEnqueue runs the enqueue binary on csv into an empty Redis.
func (h *harness) runEnqueue(ctx context.Context, id, csv string, rows int) (enqueueRun, error) {
	var res enqueueRun
	if err := fresh(ctx, h.redis); err != nil {
		return res, err
	}
	before, err := usedMemory(ctx, h.redis)
	if err != nil {
		return res, err
	}
	start := time.Now()
	p, err := procs.Start(filepath.Join(h.binDir, "enqueue"), []string{"REDIS_URL=" + h.redis.URL()},
		"--campaign", id, "--csv", csv, "--text", messageText, "--json")
	if err != nil {
		return res, err
	}
	peak := watchPeakRSS(p)
	timeout := time.Minute + time.Duration(rows)*time.Millisecond
	select {
	case <-p.Done():
	case <-time.After(timeout):
		p.Stop(5 * time.Second)
		return res, fmt.Errorf("enqueue of %d rows did not finish within %s", rows, timeout)
	case <-ctx.Done():
		p.Stop(5 * time.Second)
		return res, ctx.Err()
	}
	res.wall = time.Since(start)
	out := p.Output()
	if err := p.Err(); err != nil {
		return res, fmt.Errorf("enqueue: %v\n%s", err, procs.LastLines(out, 10))
	}
	var sum enqueue.Summary
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Enqueued != int64(rows) {
		return res, fmt.Errorf("enqueue: got %q, want a JSON summary with %d enqueued", procs.LastLines(out, 3), rows)
	}
	res.rss = peak()
	after, err := usedMemory(ctx, h.redis)
	if err != nil {
		return res, err
	}
	res.bytesPer = float64(after-before) / float64(rows)
	return res, nil
}

package campaignctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
)

// Operations on a campaign's queued tasks: counting, retrying failures,
// cancelling. Asynq's Inspector finds a task by ID, deletes it and lists
// the archive (at most 10,000 tasks per queue), so retry goes through it.
// It lists the scheduled and retry sets only page by page, decoding every
// task of every campaign, with no filter; so counting and cancelling, which
// must find one campaign's tasks among millions, read those sets directly:
// asynq's per-queue sorted sets asynq:{queue}:scheduled and :retry, whose
// members are task IDs. A ZSCAN with MATCH on the campaign's task ID prefix
// (see jobs.TaskID) costs no decoding, and campaign IDs hold no glob
// characters. Pending tasks (a Redis list) are never scanned. asynqZSet is
// the one place this project depends on asynq's key layout.

// asynqZSet is asynq's sorted set of tasks in state in queue.
func asynqZSet(queue, state string) string { return "asynq:{" + queue + "}:" + state }

// scanTaskIDs calls fn with the ID of every send task of campaignID in
// queue's state set ("scheduled" or "retry").
func scanTaskIDs(ctx context.Context, rdb redis.UniversalClient, queue, state, campaignID string, fn func(taskID string) error) error {
	match := jobs.TaskID(campaignID, "*")
	var cursor uint64
	for {
		kv, next, err := rdb.ZScan(ctx, asynqZSet(queue, state), cursor, match, 1000).Result()
		if err != nil {
			return fmt.Errorf("scan %s tasks: %w", state, err)
		}
		for i := 0; i < len(kv); i += 2 { // member, score
			if err := fn(kv[i]); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// taskCounter counts a campaign's tasks waiting in asynq (a
// campaign.TaskCounter).
type taskCounter struct{ rdb redis.UniversalClient }

// CountTasks counts the campaign's tasks scheduled for later and waiting to
// retry. Its cost grows with those sets, not with the queue's pending list.
func (c taskCounter) CountTasks(ctx context.Context, def campaign.Definition) (campaign.TaskCounts, error) {
	var tc campaign.TaskCounts
	q := jobs.SendQueue(def.Priority, def.App)
	count := func(n *int64) func(string) error { return func(string) error { *n++; return nil } }
	if err := scanTaskIDs(ctx, c.rdb, q, "scheduled", def.ID, count(&tc.Scheduled)); err != nil {
		return tc, err
	}
	if err := scanTaskIDs(ctx, c.rdb, q, "retry", def.ID, count(&tc.Retrying)); err != nil {
		return tc, err
	}
	return tc, nil
}

// RetryCounts are what re-queueing failed sends did (see RetryResult).
type RetryCounts struct {
	Requeued int64 `json:"requeued"`
	// Skipped archived tasks whose recipient is no longer failed (sent by
	// another path meanwhile), or whose payload cannot be read.
	Skipped int64 `json:"skipped"`
	// FailedLeft are failed recipients that were not re-queued: their
	// archived task is gone (asynq keeps at most 10,000 archived tasks per
	// queue, for 90 days), so they cannot be re-queued.
	FailedLeft int64 `json:"failed_left"`
}

// archivePage is how many archived tasks one Inspector call lists.
const archivePage = 1000

// archivedSends lists the campaign's archived send tasks in queue.
func (c *Controller) archivedSends(queue, id string) ([]*asynq.TaskInfo, error) {
	prefix := jobs.TaskID(id, "")
	var out []*asynq.TaskInfo
	for page := 1; ; page++ {
		infos, err := c.insp.ListArchivedTasks(queue, asynq.Page(page), asynq.PageSize(archivePage))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil, nil // nothing was ever queued there
		}
		if err != nil {
			return nil, fmt.Errorf("list archived tasks: %w", err)
		}
		for _, info := range infos {
			if info.Type == jobs.TypeSend && strings.HasPrefix(info.ID, prefix) {
				out = append(out, info)
			}
		}
		if len(infos) < archivePage {
			return out, nil
		}
	}
}

// retryFailed re-queues the campaign's failed sends, and only those: each
// archived send task of the campaign whose recipient is failed is replaced
// by a new task with the same ID and payload, so it gets a fresh retry
// budget (running the archived task again would keep its retry count and a
// task archived after --max-retry failures would be archived again at its
// first error). The recipient goes back to pending first; if re-queueing
// fails it is marked failed again.
func (c *Controller) retryFailed(ctx context.Context, def campaign.Definition) (RetryCounts, error) {
	var res RetryCounts
	before, err := c.store.Counters(ctx, def.ID)
	if err != nil {
		return res, err
	}
	// Listed first: re-queueing removes tasks from the archive being paged.
	archived, err := c.archivedSends(jobs.SendQueue(def.Priority, def.App), def.ID)
	if err != nil {
		return res, err
	}
	for _, info := range archived {
		ok, err := c.requeue(ctx, def, info)
		if err != nil {
			return res, err
		}
		if ok {
			res.Requeued++
		} else {
			res.Skipped++
		}
	}
	// Counted from before: re-queued sends may already have failed again.
	res.FailedLeft = max(0, before.Failed-res.Requeued)
	return res, nil
}

// requeue replaces one archived task; false when its recipient is not failed.
func (c *Controller) requeue(ctx context.Context, def campaign.Definition, info *asynq.TaskInfo) (bool, error) {
	p, task, err := jobs.ResendTask(info.Payload, def.Priority)
	if err != nil {
		return false, nil // a poison payload stays archived
	}
	rec, err := c.store.Record(ctx, def.ID, p.Key)
	if errors.Is(err, campaign.ErrRecipientNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	moved, err := c.store.MarkPending(ctx, def.ID, p.Key, campaign.StatusFailed)
	if err != nil || !moved {
		return false, err
	}
	undo := func(cause error) (bool, error) {
		if _, err := c.store.MarkFailed(context.WithoutCancel(ctx), def.ID, p.Key, rec); err != nil {
			return false, errors.Join(cause, fmt.Errorf("recipient %s left pending without a task: %w", p.Key, err))
		}
		return false, cause
	}
	if err := c.insp.DeleteTask(info.Queue, info.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return undo(fmt.Errorf("delete archived task %s: %w", info.ID, err))
	}
	if _, err := c.client.EnqueueContext(ctx, task); err != nil {
		return undo(fmt.Errorf("re-queue task %s: %w", info.ID, err))
	}
	return true, nil
}

// deleteWaitingTasks deletes the campaign's scheduled and retrying tasks
// and returns how many. Tasks already in the pending list stay there: a
// worker drops each without sending (its recipient is cancelled), which is
// faster than deleting from a list.
func (c *Controller) deleteWaitingTasks(ctx context.Context, def campaign.Definition) (int64, error) {
	var n int64
	queue := jobs.SendQueue(def.Priority, def.App)
	for _, state := range []string{"scheduled", "retry"} {
		err := scanTaskIDs(ctx, c.rdb, queue, state, def.ID, func(tid string) error {
			switch err := c.insp.DeleteTask(queue, tid); {
			case err == nil:
				n++
			case errors.Is(err, asynq.ErrTaskNotFound):
			default:
				// Active meanwhile: it will see the flag.
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

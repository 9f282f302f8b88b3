package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// Operations on a campaign's queued tasks: counting, retrying failures,
// cancelling. Finding one campaign's tasks among millions goes through
// asynq's per-queue sorted sets (asynq:{queue}:scheduled, :retry,
// :archived), whose members are task IDs: a ZSCAN with MATCH on the
// campaign's task ID prefix (see TaskID) costs no decoding, and campaign IDs
// hold no glob characters. Pending tasks (a Redis list) are never scanned.

// asynqZSet is asynq's sorted set of tasks in state in queue.
func asynqZSet(queue, state string) string { return "asynq:{" + queue + "}:" + state }

// scanTaskIDs calls fn with the ID of every send task of campaignID in
// queue's state set ("scheduled", "retry" or "archived").
func scanTaskIDs(ctx context.Context, rdb redis.UniversalClient, queue, state, campaignID string, fn func(taskID string) error) error {
	match := TaskID(campaignID, "*")
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

// TaskCounter counts a campaign's tasks waiting in asynq (a
// campaign.TaskCounter).
type TaskCounter struct{ rdb redis.UniversalClient }

// NewTaskCounter reads the asynq data in rdb (the same Redis as the queue).
func NewTaskCounter(rdb redis.UniversalClient) *TaskCounter { return &TaskCounter{rdb: rdb} }

// CountTasks counts the campaign's tasks scheduled for later and waiting to
// retry. Its cost grows with those sets, not with the queue's pending list.
func (c *TaskCounter) CountTasks(ctx context.Context, def campaign.Definition) (campaign.TaskCounts, error) {
	var tc campaign.TaskCounts
	q := SendQueue(def.Priority)
	count := func(n *int64) func(string) error { return func(string) error { *n++; return nil } }
	if err := scanTaskIDs(ctx, c.rdb, q, "scheduled", def.ID, count(&tc.Scheduled)); err != nil {
		return tc, err
	}
	if err := scanTaskIDs(ctx, c.rdb, q, "retry", def.ID, count(&tc.Retrying)); err != nil {
		return tc, err
	}
	return tc, nil
}

// Ops runs the campaign CLI's queue operations.
type Ops struct {
	rdb    redis.UniversalClient
	insp   *asynq.Inspector
	client *asynq.Client
	store  *campaign.Store
}

// NewOps returns Ops on one Redis: rdb, and the Inspector and Client asynq
// opened on it.
func NewOps(rdb redis.UniversalClient, insp *asynq.Inspector, client *asynq.Client, store *campaign.Store) *Ops {
	return &Ops{rdb: rdb, insp: insp, client: client, store: store}
}

// RetryResult is what RetryFailed did.
type RetryResult struct {
	Requeued int64 `json:"requeued"`
	// Skipped archived tasks whose recipient is no longer failed (sent by
	// another path meanwhile).
	Skipped int64 `json:"skipped"`
	// FailedLeft are failed recipients that were not re-queued: their
	// archived task is gone (asynq keeps at most 10,000 archived tasks per
	// queue, for 90 days), so they cannot be re-queued.
	FailedLeft int64 `json:"failed_left"`
}

// RetryFailed re-queues the campaign's failed sends, and only those: each
// archived send task of the campaign whose recipient is failed is replaced
// by a new task with the same ID and payload, so it gets a fresh retry
// budget (running the archived task again would keep its retry count and a
// task archived after --max-retry failures would be archived again at its
// first error). The recipient goes back to pending first; if re-queueing
// fails it is marked failed again.
func (o *Ops) RetryFailed(ctx context.Context, id string) (RetryResult, error) {
	var res RetryResult
	def, err := o.store.Get(ctx, id)
	if err != nil {
		return res, err
	}
	if _, cancelled, _, err := o.store.Control(ctx, id); err != nil {
		return res, err
	} else if cancelled {
		return res, fmt.Errorf("campaign %s is cancelled: nothing to retry", id)
	}
	before, err := o.store.Counters(ctx, id)
	if err != nil {
		return res, err
	}
	queue := SendQueue(def.Priority)
	// Collect first: the archive holds at most 10,000 tasks per queue, and
	// re-queueing removes IDs from the set being scanned.
	var ids []string
	if err := scanTaskIDs(ctx, o.rdb, queue, "archived", id, func(tid string) error {
		ids = append(ids, tid)
		return nil
	}); err != nil {
		return res, err
	}
	for _, tid := range ids {
		ok, err := o.requeue(ctx, def, queue, tid)
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
func (o *Ops) requeue(ctx context.Context, def campaign.Definition, queue, taskID string) (bool, error) {
	info, err := o.insp.GetTaskInfo(queue, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("task %s: %w", taskID, err)
	}
	if info.Type != TypeSend || info.State != asynq.TaskStateArchived {
		return false, nil
	}
	p, err := decodeSend(info.Payload)
	if err != nil {
		return false, nil // a poison payload stays archived
	}
	rec, err := o.store.Record(ctx, def.ID, p.Key)
	if err != nil {
		return false, fmt.Errorf("recipient %s: %w", p.Key, err)
	}
	moved, err := o.store.MarkPending(ctx, def.ID, p.Key, campaign.StatusFailed)
	if err != nil || !moved {
		return false, err
	}
	undo := func(cause error) (bool, error) {
		if _, err := o.store.MarkFailed(context.WithoutCancel(ctx), def.ID, p.Key, rec); err != nil {
			return false, errors.Join(cause, fmt.Errorf("recipient %s left pending without a task: %w", p.Key, err))
		}
		return false, cause
	}
	if err := o.insp.DeleteTask(queue, taskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return undo(fmt.Errorf("delete archived task %s: %w", taskID, err))
	}
	task, err := NewSendTask(p, def.Priority, time.Time{})
	if err != nil {
		return undo(err)
	}
	if _, err := o.client.EnqueueContext(ctx, task); err != nil {
		return undo(fmt.Errorf("re-queue task %s: %w", taskID, err))
	}
	return true, nil
}

// CancelResult is what Cancel did.
type CancelResult struct {
	// Cancelled recipients: every one still pending.
	Cancelled int64 `json:"cancelled"`
	// TasksDeleted from the scheduled and retry sets. Tasks already in the
	// pending list stay there: a worker drops each without sending (its
	// recipient is cancelled), which is faster than deleting from a list.
	TasksDeleted int64 `json:"tasks_deleted"`
}

// Cancel stops the rest of a campaign at once: it sets the cancel flag,
// marks every pending recipient cancelled (so sent + failed + cancelled =
// total right away) and deletes the campaign's scheduled and retrying
// tasks. A send in flight when Cancel runs either is accepted (its
// recipient then counts as sent) or sees the flag.
func (o *Ops) Cancel(ctx context.Context, id, reason string) (CancelResult, error) {
	var res CancelResult
	def, err := o.store.Get(ctx, id)
	if err != nil {
		return res, err
	}
	if err := o.store.Cancel(ctx, id, reason); err != nil {
		return res, err
	}
	if res.Cancelled, err = o.store.CancelPending(ctx, id); err != nil {
		return res, err
	}
	queue := SendQueue(def.Priority)
	for _, state := range []string{"scheduled", "retry"} {
		err := scanTaskIDs(ctx, o.rdb, queue, state, id, func(tid string) error {
			err := o.insp.DeleteTask(queue, tid)
			switch {
			case err == nil:
				res.TasksDeleted++
			case errors.Is(err, asynq.ErrTaskNotFound):
			default:
				// Active meanwhile: it will see the flag.
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

package campaignctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

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
// characters. Pending tasks (a Redis list) are never scanned. asynqZSet,
// asynqTaskKey and asynqLastError are the one place this project depends
// on asynq's storage layout (the e2e tests of waiting sends read it from
// real asynq).

// asynqZSet is asynq's sorted set of tasks in state in queue.
func asynqZSet(queue, state string) string { return "asynq:{" + queue + "}:" + state }

// asynqTaskKey is asynq's hash of one task; its "msg" field is the task's
// protobuf TaskMessage.
func asynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// asynqErrorMsgField is TaskMessage's error_msg field number (asynq's
// internal/proto/asynq.proto): the last error the handler returned.
const asynqErrorMsgField = 7

// asynqLastError reads error_msg out of an encoded TaskMessage; "" when
// it has none or cannot be read.
func asynqLastError(msg []byte) string {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return ""
		}
		msg = msg[n:]
		if num == asynqErrorMsgField && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return ""
		}
		msg = msg[n:]
	}
	return ""
}

// scanTaskIDs calls fn with the queue, the ID and the due Unix second (the
// member's score) of every send task of the campaign in the state set
// ("scheduled" or "retry") of each of its send queues (jobs.SendQueues).
func scanTaskIDs(ctx context.Context, rdb redis.UniversalClient, def campaign.Definition, state string, fn func(queue, taskID string, due int64) error) error {
	match := jobs.TaskID(def.ID, "*")
	for _, queue := range jobs.SendQueues(def) {
		var cursor uint64
		for {
			kv, next, err := rdb.ZScan(ctx, asynqZSet(queue, state), cursor, match, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s tasks: %w", state, err)
			}
			for i := 0; i < len(kv); i += 2 { // member, score
				due, _ := strconv.ParseInt(kv[i+1], 10, 64)
				if err := fn(queue, kv[i], due); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// taskCounter counts a campaign's tasks waiting in asynq (a
// campaign.TaskCounter).
type taskCounter struct{ rdb redis.UniversalClient }

// CountTasks counts the recipients in the campaign's tasks scheduled for
// later and in asynq's retry set. A chunk task counts its recipients (read
// from its ID, see jobs.TaskRecipients). A chunk scheduled for later is a
// scheduled upload; a single send scheduled for later is a chunk's
// recipient waiting to be tried again (see jobs.TypeChunk), so it counts
// as retrying. The send handler defers a task to the retry set for quiet
// hours and for a pause too, without an attempt, and those are waiting,
// not retrying: a task deferred to the window's opening is due exactly at
// an opening (its score tells, for free); while the campaign is paused,
// the rest are told apart by the error asynq recorded with each
// (jobs.Waiting), which costs reading them; the chunks in the feed of a
// paused campaign wait for the resume, those of a campaign outside its
// window for the window (read from their task IDs). Its cost
// grows with those sets, not with the queue's pending list.
func (c taskCounter) CountTasks(ctx context.Context, def campaign.Definition, paused bool) (campaign.TaskCounts, error) {
	var tc campaign.TaskCounts
	err := scanTaskIDs(ctx, c.rdb, def, "scheduled", func(_, id string, _ int64) error {
		if n, chunk := jobs.TaskRecipients(def.ID, id); chunk {
			tc.Scheduled += n
		} else {
			tc.Retrying += n
		}
		return nil
	})
	if err != nil {
		return tc, err
	}
	var unsure []queuedTask // paused only: read each one's last error
	err = scanTaskIDs(ctx, c.rdb, def, "retry", func(q, id string, due int64) error {
		n, _ := jobs.TaskRecipients(def.ID, id)
		switch {
		case def.Window != nil && def.Window.Opens(time.Unix(due, 0)):
			tc.WaitingWindow += n
		case paused:
			unsure = append(unsure, queuedTask{q, id})
			if len(unsure) == lastErrorBatch {
				err := c.classify(ctx, def.ID, unsure, &tc)
				unsure = unsure[:0]
				return err
			}
		default:
			tc.Retrying += n
		}
		return nil
	})
	if err != nil {
		return tc, err
	}
	if err := c.classify(ctx, def.ID, unsure, &tc); err != nil {
		return tc, err
	}
	// The feeder feeds no chunk of a paused campaign, nor of one outside
	// its send window: those in its feed wait too.
	closed := def.Window != nil && def.Window.Until(time.Now()) > 0
	if paused || closed {
		n, err := jobs.FeedRecipients(ctx, c.rdb, def)
		if err != nil {
			return tc, err
		}
		if paused {
			tc.WaitingResume += n
		} else {
			tc.WaitingWindow += n
		}
	}
	return tc, nil
}

// queuedTask is a task ID and the queue it is in.
type queuedTask struct{ queue, id string }

// lastErrorBatch is how many tasks' last errors one round trip reads.
const lastErrorBatch = 500

// classify counts the recipients of tasks by the error asynq
// recorded with each: waiting for the window or the resume, else
// retrying. A task gone meanwhile is not counted.
func (c taskCounter) classify(ctx context.Context, campaignID string, ids []queuedTask, tc *campaign.TaskCounts) error {
	if len(ids) == 0 {
		return nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range ids {
			cmds[i] = p.HGet(ctx, asynqTaskKey(t.queue, t.id), "msg")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read retry tasks: %w", err)
	}
	for i, cmd := range cmds {
		msg, err := cmd.Bytes()
		if err != nil {
			continue
		}
		n, _ := jobs.TaskRecipients(campaignID, ids[i].id)
		switch jobs.Waiting(asynqLastError(msg)) {
		case jobs.WaitingWindow:
			tc.WaitingWindow += n
		case jobs.WaitingResume:
			tc.WaitingResume += n
		default:
			tc.Retrying += n
		}
	}
	return nil
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

// archivedSends lists the campaign's archived send tasks in its send queues.
func (c *Controller) archivedSends(def campaign.Definition) ([]*asynq.TaskInfo, error) {
	prefix := jobs.TaskID(def.ID, "")
	var out []*asynq.TaskInfo
	for _, queue := range jobs.SendQueues(def) {
		for page := 1; ; page++ {
			infos, err := c.insp.ListArchivedTasks(queue, asynq.Page(page), asynq.PageSize(archivePage))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				break // nothing was ever queued there
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
				break
			}
		}
	}
	return out, nil
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
	archived, err := c.archivedSends(def)
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
	p, task, err := jobs.ResendTask(info.Payload, info.Queue)
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
	for _, state := range []string{"scheduled", "retry"} {
		err := scanTaskIDs(ctx, c.rdb, def, state, func(queue, tid string, _ int64) error {
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

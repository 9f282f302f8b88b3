package harness

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
)

// scenario runs one fault scenario on its own stack.
type scenario struct {
	id   int
	name string
	run  func(ctx context.Context, h *harness, r *Result) error
}

// scenarios in the order they run. CI runs 3, 4 and 5; --soak runs all.
var scenarios = []scenario{
	{1, "SIGKILL 1 of 3 workers", runKillWorker},
	{2, "Redis restart (SIGTERM)", func(ctx context.Context, h *harness, r *Result) error { return runRedisRestart(ctx, h, r, false) }},
	{3, "Sinch faults", runSinchFaults},
	{4, "SIGTERM a worker", runTermWorker},
	{5, "poison task", runPoison},
	{6, "Redis SIGKILL", func(ctx context.Context, h *harness, r *Result) error { return runRedisRestart(ctx, h, r, true) }},
	{7, "Sentinel failover, retention 0", func(ctx context.Context, h *harness, r *Result) error { return runFailover(ctx, h, r, 0) }},
	{8, "Sentinel failover, retention 1 day", func(ctx context.Context, h *harness, r *Result) error { return runFailover(ctx, h, r, 1) }},
}

// CIScenarios are the ones fast enough for every CI run.
var CIScenarios = []int{3, 4, 5}

func rateArg(rate int) []string { return []string{"--rate", strconv.Itoa(rate)} }

// campaign starts a stack (simArgs go to the simulator) and enqueues
// campaign id with h.n recipients; it returns how many it has.
func (h *harness) campaign(ctx context.Context, id string, simArgs ...string) (*stack, int64, error) {
	s, err := h.stack(ctx, simArgs...)
	if err != nil {
		return nil, 0, err
	}
	total, err := s.enqueue(ctx, id, h.n)
	if err != nil {
		s.close()
		return nil, 0, err
	}
	return s, total, nil
}

// drainTimeout leaves room for asynq's lease recovery (up to 2 minutes)
// on top of three times the ideal duration.
func drainTimeout(n int64, rate int) time.Duration {
	return 3*time.Minute + time.Duration(3*float64(n)/float64(rate)*float64(time.Second))
}

// runKillWorker: 3 workers; one is killed with SIGKILL a third of the way
// through and started again at once. Its in-flight tasks stay "active" in
// asynq until their lease expires and a recoverer requeues them.
func runKillWorker(ctx context.Context, h *harness, r *Result) error {
	const rate = 200
	// 50 ms of API latency keeps a few sends in flight at the kill.
	const id = "kill"
	s, total, err := h.campaign(ctx, id, "--latency", "50ms")
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	start := time.Now()
	if err := s.startWorkers(3, rate); err != nil {
		return err
	}
	if err := s.waitSent(ctx, id, total/3, drainTimeout(total, rate)); err != nil {
		return err
	}
	victim := s.workers[0]
	victim.Kill()
	killedAt := time.Now()
	h.logf("scenario 1: killed worker pid %d at %s", victim.Pid(), killedAt.Sub(start).Round(time.Millisecond))
	if _, err := s.startWorker(rateArg(rate)...); err != nil {
		return err
	}
	// The killed worker's tasks show as orphaned once their lease
	// expires; recovery is done when each of them has completed.
	orphans := map[string]bool{}
	var recovered time.Duration
	deadline := time.Now().Add(drainTimeout(total, rate))
	for {
		active, err := s.insp.ListActiveTasks(jobs.QueueDefault, asynq.PageSize(1000))
		if err != nil {
			return err
		}
		for _, t := range active {
			if t.IsOrphaned && !orphans[t.ID] {
				orphans[t.ID] = true
				h.logf("scenario 1: task %s orphaned (lease expired) %s after the kill", t.ID, time.Since(killedAt).Round(time.Second))
			}
		}
		if len(orphans) > 0 && recovered == 0 {
			done := true
			for tid := range orphans {
				info, err := s.insp.GetTaskInfo(jobs.QueueDefault, tid)
				if errors.Is(err, asynq.ErrTaskNotFound) {
					continue // a finished chunk task is not retained
				}
				if err != nil || info.State != asynq.TaskStateCompleted {
					done = false
					break
				}
			}
			if done {
				recovered = time.Since(killedAt)
			}
		}
		c, err := s.store.Counters(ctx, id)
		if err != nil {
			return err
		}
		if c.Pending == 0 && c.Total() == total && (len(orphans) == 0 || recovered > 0) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s: %d sent, %d pending, %d orphaned tasks", time.Since(start).Round(time.Second), c.Sent, c.Pending, len(orphans))
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.Time = time.Since(start)
	if len(orphans) == 0 {
		r.Notes = append(r.Notes, "the killed worker held no task (nothing to recover)")
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("the killed worker held %d tasks; the last was sent %s after the kill (asynq lease 30 s + recoverer cut-off 30 s, 1-minute recoverer tick, then the 90 s recipient lock)",
			len(orphans), recovered.Round(time.Second)))
	}
	return stopAll(s)
}

// runRedisRestart stops redis-server a third of the way through (SIGTERM,
// or SIGKILL with kill) and starts it again on the same port and AOF.
func runRedisRestart(ctx context.Context, h *harness, r *Result, kill bool) error {
	const rate = 400
	const id = "redis"
	s, total, err := h.campaign(ctx, id)
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	start := time.Now()
	if err := s.startWorkers(2, rate); err != nil {
		return err
	}
	if err := s.waitSent(ctx, id, total/3, drainTimeout(total, rate)); err != nil {
		return err
	}
	before, err := s.store.Counters(ctx, id)
	if err != nil {
		return err
	}
	stAtStop, err := s.stats(ctx)
	if err != nil {
		return err
	}
	if kill {
		s.redis.Kill()
	} else {
		s.redis.Stop()
	}
	stoppedAt := time.Now()
	time.Sleep(2 * time.Second)
	if err := s.redis.Restart(ctx); err != nil {
		return err
	}
	after, err := s.store.Counters(ctx, id)
	if err != nil {
		return err
	}
	how := "SIGTERM"
	if kill {
		how = "SIGKILL"
	}
	r.Notes = append(r.Notes, fmt.Sprintf("redis-server stopped with %s at %d sent (simulator: %d accepted), down %s; after the AOF replay %d sent",
		how, before.Sent, stAtStop.Accepted, time.Since(stoppedAt).Round(100*time.Millisecond), after.Sent))
	if !kill && after.Sent < before.Sent {
		return fmt.Errorf("a SIGTERM restart lost %d recorded sends", before.Sent-after.Sent)
	}
	if kill {
		// What the AOF had not fsynced is gone: at most about one second of
		// writes, so recipients accepted in that second can be sent again.
		r.MaxDuplicates = 2 * rate
	}
	if err := s.awaitSent(ctx, r, id, total, rate, start); err != nil {
		return err
	}
	return stopAll(s)
}

// SentinelRecipients is the failover scenarios' campaign size unless
// --recipients says otherwise: at 600 sends/s the failover lands after
// about 2 s of sending.
const SentinelRecipients = 3000

// runFailover: a master, a replica and three sentinels (AOF everysec), 2
// workers at 300 sends/s each; a third of the way through, SENTINEL
// FAILOVER promotes the replica and the old master is then SIGKILLed. The
// writes the old master had not replicated are gone. Every claim is on
// the replica before its send leaves (worker --replica-wait, on by default
// under Sentinel), so a send whose record was lost comes back as a second
// attempt and is reconciled with Sinch's message list: with the
// simulator's dispatch retention at retentionDays > 0 nobody is sent
// twice; at 0 Sinch lists nothing, and those sends (the ones in flight or
// just recorded at the promotion) go out again, at most 1 %.
func runFailover(ctx context.Context, h *harness, r *Result, retentionDays int) error {
	const rate = 600
	const id = "failover"
	n := SentinelRecipients
	if h.nGiven {
		n = h.n
	}
	s, err := newSentinelStack(ctx, h.binDir, h.tmp, h.logf, "--dispatch-retention-days", strconv.Itoa(retentionDays))
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	total, err := s.enqueue(ctx, id, n)
	if err != nil {
		return err
	}
	r.MaxDuplicates = 0
	if retentionDays == 0 {
		r.MaxDuplicates = total / 100
	}
	start := time.Now()
	if err := s.startWorkers(2, rate); err != nil {
		return err
	}
	if err := s.waitSent(ctx, id, total/3, drainTimeout(total, rate)); err != nil {
		return err
	}
	before, err := s.stats(ctx)
	if err != nil {
		return err
	}
	failAt := time.Now()
	if err := s.sentinel.Failover(ctx); err != nil {
		return err
	}
	promoted := time.Since(failAt)
	s.sentinel.Master.Kill()
	h.logf("scenario %d: replica promoted %s after SENTINEL FAILOVER at %d accepted; old master SIGKILLed", r.ID, promoted.Round(time.Millisecond), before.Accepted)
	if err := s.awaitSent(ctx, r, id, total, rate, start); err != nil {
		return err
	}
	r.Notes = append(r.Notes, fmt.Sprintf("SENTINEL FAILOVER at %d accepted by the simulator; replica promoted in %s, then the old master SIGKILLed; dispatch retention %d days; %.2f %% re-sent",
		before.Accepted, promoted.Round(100*time.Millisecond), retentionDays, 100*float64(r.Duplicates)/float64(total)))
	err = stopAll(s)
	if held := heldBack(s); held > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d writes no replica acknowledged within --replica-wait (claims held back, send records written again; the promotion, then %s without a replica)", held, campaign.ReplicaGrace))
	}
	return err
}

// heldBack sums the workers' exit counts of claims held back for want of
// a replica acknowledgement.
func heldBack(s *stack) int64 {
	var n int64
	for _, w := range s.workers {
		for line := range strings.SplitSeq(w.Output(), "\n") {
			if !strings.Contains(line, "no Redis replica acknowledged") {
				continue
			}
			if _, v, ok := strings.Cut(line, "writes="); ok {
				k, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				n += k
			}
		}
	}
	return n
}

// runSinchFaults: 5% 500/503, 2% resets before acceptance, 1% responses
// lost after acceptance, and a simulator rate limit below the workers'
// rate, so 429s come in bursts each time the shared rate climbs back.
func runSinchFaults(ctx context.Context, h *harness, r *Result) error {
	const rate, simLimit = 400, 150
	const id = "faults"
	s, total, err := h.campaign(ctx, id, "--fault-500", "0.025", "--fault-503", "0.025", "--fault-reset", "0.02",
		"--fault-lost", "0.01", "--rate-limit", strconv.Itoa(simLimit), "--rate-burst", "10")
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	start := time.Now()
	if err := s.startWorkers(2, rate); err != nil {
		return err
	}
	if err := s.awaitSent(ctx, r, id, total, simLimit, start); err != nil {
		return err
	}
	st, err := s.stats(ctx)
	if err != nil {
		return err
	}
	// Only a response lost after acceptance can make a duplicate.
	r.MaxDuplicates = st.Faults.LostAfterAccept
	r.Notes = append(r.Notes, fmt.Sprintf("injected: %d × 500, %d × 503, %d resets before acceptance, %d responses lost after acceptance, %d × 429",
		st.Faults.HTTP500, st.Faults.HTTP503, st.Faults.ResetBeforeAccept, st.Faults.LostAfterAccept, st.RateLimited))
	return stopAll(s)
}

// runTermWorker: one worker gets SIGTERM a third of the way through, with
// 200 ms of API latency so that sends are in flight. It must finish them,
// record them and leave nothing active; a new worker then finishes.
func runTermWorker(ctx context.Context, h *harness, r *Result) error {
	const rate = 400
	const id = "term"
	s, total, err := h.campaign(ctx, id, "--latency", "200ms")
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	start := time.Now()
	w, err := s.startWorker(rateArg(rate)...)
	if err != nil {
		return err
	}
	if err := s.waitSent(ctx, id, total/3, drainTimeout(total, rate)); err != nil {
		return err
	}
	inFlight, err := s.activeTasks()
	if err != nil {
		return err
	}
	termAt := time.Now()
	if err := w.Stop(time.Minute); err != nil {
		return fmt.Errorf("worker after SIGTERM: %v\n%s", err, procs.LastLines(w.Output(), 10))
	}
	if r.ActiveLeft, err = s.activeTasks(); err != nil {
		return err
	}
	c, err := s.store.Counters(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.stats(ctx)
	if err != nil {
		return err
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d tasks active at SIGTERM; the worker exited cleanly %s later with %d active left; Sinch had accepted %d, the store recorded %d sent",
		inFlight, time.Since(termAt).Round(100*time.Millisecond), r.ActiveLeft, st.Accepted-st.Duplicates, c.Sent))
	if st.Accepted-st.Duplicates != c.Sent {
		return fmt.Errorf("after SIGTERM Sinch had accepted %d recipients but %d were recorded sent", st.Accepted-st.Duplicates, c.Sent)
	}
	if _, err := s.startWorker(rateArg(rate)...); err != nil {
		return err
	}
	if err := s.awaitSent(ctx, r, id, total, rate, start); err != nil {
		return err
	}
	return stopAll(s)
}

// runPoison enqueues, ahead of a campaign, a send task whose payload
// cannot be decoded. It must be archived on its first run with a reason,
// and the campaign must go on.
func runPoison(ctx context.Context, h *harness, r *Result) error {
	const rate, id = 400, "poison"
	s, err := h.stack(ctx)
	if err != nil {
		return err
	}
	defer s.finish(ctx, r, id)
	client := asynq.NewClient(s.redis.AsynqOpt())
	defer client.Close()
	info, err := client.EnqueueContext(ctx, asynq.NewTask(jobs.TypeSend, []byte(`{"campaign_id": "poison", "row": `)),
		asynq.Queue(jobs.QueueDefault), asynq.MaxRetry(jobs.DefaultMaxRetry))
	if err != nil {
		return err
	}
	total, err := s.enqueue(ctx, id, h.n)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := s.startWorker(rateArg(rate)...); err != nil {
		return err
	}
	if err := s.awaitSent(ctx, r, id, total, rate, start); err != nil {
		return err
	}
	t, err := s.insp.GetTaskInfo(jobs.QueueDefault, info.ID)
	if err != nil {
		return err
	}
	r.Poison = &PoisonCheck{Archived: t.State == asynq.TaskStateArchived, Retried: t.Retried, LastErr: t.LastErr}
	r.Notes = append(r.Notes, fmt.Sprintf("poison task %s: %s after %d retries, reason %q", info.ID, t.State, t.Retried, t.LastErr))
	return stopAll(s)
}

// awaitSent waits until the campaign has sent everyone it can at about
// rate, and records how long that took since start.
func (s *stack) awaitSent(ctx context.Context, r *Result, id string, total int64, rate int, start time.Time) error {
	_, err := s.drain(ctx, id, total, drainTimeout(total, rate))
	r.Time = time.Since(start)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, workerTails(s))
	}
	return nil
}

// stopAll stops the running workers with SIGTERM; each must exit cleanly.
func stopAll(s *stack) error {
	var errs []string
	for _, w := range s.running() {
		if err := w.Stop(time.Minute); err != nil {
			errs = append(errs, fmt.Sprintf("worker pid %d: %v\n%s", w.Pid(), err, procs.LastLines(w.Output(), 10)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// workerTails is the end of every worker's log, for failure reports.
func workerTails(s *stack) string {
	var b strings.Builder
	for _, w := range s.workers {
		fmt.Fprintf(&b, "worker pid %d:\n%s\n", w.Pid(), procs.LastLines(w.Output(), 8))
	}
	return b.String()
}

// countLogs counts log lines containing msg across every worker.
func countLogs(s *stack, msg string) int {
	n := 0
	for _, w := range s.workers {
		n += strings.Count(w.Output(), msg)
	}
	return n
}

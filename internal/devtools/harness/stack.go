package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// stack is one scenario's world: a private redis-server with the AOF on, a
// sinchsim process, and the worker processes it starts.
type stack struct {
	binDir, dir string
	redis       *procs.Redis
	sentinel    *procs.Sentinel // set by newSentinelStack; redis is then its master
	redisURL    string
	sim         *procs.Process
	simURL      string
	store       *campaign.Store
	insp        *asynq.Inspector
	workers     []*procs.Process
	logf        func(format string, args ...any)
}

// newStack starts Redis and the simulator (with simArgs) in a fresh
// directory under parent.
func newStack(ctx context.Context, binDir, parent string, logf func(string, ...any), simArgs ...string) (*stack, error) {
	dir, err := os.MkdirTemp(parent, "scenario")
	if err != nil {
		return nil, err
	}
	s := &stack{binDir: binDir, dir: dir, logf: logf}
	if s.redis, err = procs.StartRedis(ctx, dir, procs.RedisOptions{AppendOnly: true}); err != nil {
		return nil, err
	}
	s.redisURL = s.redis.URL()
	s.store = campaign.NewStore(s.redis.Client)
	s.insp = asynq.NewInspector(s.redis.AsynqOpt())
	return s, s.startSim(ctx, simArgs)
}

// newSentinelStack is newStack on a Sentinel deployment (procs.Sentinel):
// the binaries, the store and the inspector reach the master through the
// sentinels.
func newSentinelStack(ctx context.Context, binDir, parent string, logf func(string, ...any), simArgs ...string) (*stack, error) {
	dir, err := os.MkdirTemp(parent, "scenario")
	if err != nil {
		return nil, err
	}
	s := &stack{binDir: binDir, dir: dir, logf: logf}
	if s.sentinel, err = procs.StartSentinel(ctx, dir); err != nil {
		return nil, err
	}
	s.redis, s.redisURL = s.sentinel.Master, s.sentinel.URL()
	s.store = campaign.NewStore(s.sentinel.Client)
	s.insp = asynq.NewInspector(s.sentinel.AsynqOpt())
	return s, s.startSim(ctx, simArgs)
}

// startSim starts the simulator with simArgs; on failure it closes s.
func (s *stack) startSim(ctx context.Context, simArgs []string) error {
	port, err := procs.FreePort()
	if err != nil {
		s.close()
		return err
	}
	s.simURL = "http://127.0.0.1:" + strconv.Itoa(port)
	// The app drains far faster than any scenario sends (the simulator's
	// default is Sinch's 20/s): the workers' --rate and the simulator's
	// --rate-limit set each scenario's pace, and its 429s.
	args := append([]string{"--addr", "127.0.0.1:" + strconv.Itoa(port), "--outbound-rate", "5000"}, simArgs...)
	if s.sim, err = procs.Start(filepath.Join(s.binDir, "sinchsim"), nil, args...); err != nil {
		s.close()
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := s.stats(ctx); err == nil {
			break
		}
		if s.sim.Exited() || time.Now().After(deadline) {
			err := fmt.Errorf("sinchsim did not start: %s", procs.LastLines(s.sim.Output(), 5))
			s.close()
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// finish records the scenario's figures, whether it ran to the end or not,
// then stops everything.
func (s *stack) finish(ctx context.Context, r *Result, id string) {
	ctx = context.WithoutCancel(ctx) // an interrupted run still reports what it saw
	if err := s.fill(ctx, r, id); err != nil {
		r.Notes = append(r.Notes, "could not read the figures: "+err.Error())
	}
	if n := countLogs(s, jobs.ReconciledLog); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d in-doubt sends found accepted by Sinch and recorded, not sent again", n))
	}
	s.close()
}

// close stops every process; the directory is left for the caller to remove.
func (s *stack) close() {
	for _, w := range s.workers {
		if !w.Exited() {
			w.Kill()
		}
	}
	if s.sim != nil {
		s.sim.Stop(5 * time.Second)
	}
	if s.insp != nil {
		s.insp.Close()
	}
	switch {
	case s.sentinel != nil:
		s.sentinel.Close()
	case s.redis != nil:
		s.redis.Close()
	}
}

// env is a worker's environment: this Redis and the simulator.
func (s *stack) env() []string {
	return []string{
		"REDIS_URL=" + s.redisURL,
		"SINCH_PROJECT_ID=" + sinchsim.DefaultProjectID,
		"SINCH_APP_ID=" + sinchsim.DefaultAppID,
		"SINCH_KEY_ID=" + sinchsim.DefaultKeyID,
		"SINCH_KEY_SECRET=" + sinchsim.DefaultKeySecret,
		"SINCH_BASE_URL=" + s.simURL,
		"SINCH_AUTH_URL=" + s.simURL + "/oauth2/token",
	}
}

// enqueue writes a CSV of n distinct valid recipients and runs the enqueue
// binary on it; it returns how many recipients the campaign has.
func (s *stack) enqueue(ctx context.Context, id string, n int) (int64, error) {
	path := filepath.Join(s.dir, id+".csv")
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(f)
	bw.WriteString("phone,first_name\n")
	for i := range n {
		fmt.Fprintf(bw, "+336%08d,Name%d\n", i, i)
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		return 0, err
	}
	p, err := procs.Start(filepath.Join(s.binDir, "enqueue"), []string{"REDIS_URL=" + s.redisURL},
		"--campaign", id, "--csv", path, "--text", "Hi {{.first_name}}, your offer is waiting", "--json")
	if err != nil {
		return 0, err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Kill()
		return 0, ctx.Err()
	}
	out := p.Output()
	if err := p.Err(); err != nil {
		return 0, fmt.Errorf("enqueue: %v\n%s", err, procs.LastLines(out, 5))
	}
	var sum enqueue.Summary
	if err := json.Unmarshal([]byte(procs.LastLines(out, 1)), &sum); err != nil || sum.Enqueued != int64(n) {
		return 0, fmt.Errorf("enqueue: want a JSON summary with %d enqueued, got %q", n, procs.LastLines(out, 3))
	}
	return sum.Enqueued, nil
}

// startWorker starts one more worker process; args are its flags.
func (s *stack) startWorker(args ...string) (*procs.Process, error) {
	args = append([]string{"--track-interval", "0", "--log-level", "warn"}, args...)
	p, err := procs.Start(filepath.Join(s.binDir, "worker"), s.env(), args...)
	if err != nil {
		return nil, err
	}
	s.workers = append(s.workers, p)
	return p, nil
}

// startWorkers starts n workers sharing rate.
func (s *stack) startWorkers(n, rate int) error {
	for range n {
		if _, err := s.startWorker(rateArg(rate)...); err != nil {
			return err
		}
	}
	return nil
}

// running are the workers that have not exited.
func (s *stack) running() []*procs.Process {
	var r []*procs.Process
	for _, w := range s.workers {
		if !w.Exited() {
			r = append(r, w)
		}
	}
	return r
}

// stats is the simulator's GET /_sim/stats.
func (s *stack) stats(ctx context.Context) (sinchsim.Stats, error) {
	var st sinchsim.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.simURL+"/_sim/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/_sim/stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitSent waits until the campaign has at least n recipients sent.
func (s *stack) waitSent(ctx context.Context, id string, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := s.store.Counters(ctx, id)
		if err == nil && c.Sent >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fewer than %d sent after %s (%+v, err %v)", n, timeout, c, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// drain waits until every recipient is sent or failed, or timeout; it
// fails early when a running worker exits.
func (s *stack) drain(ctx context.Context, id string, total int64, timeout time.Duration) (campaign.Counters, error) {
	return procs.WaitDrained(ctx, s.store, id, total, timeout, s.running())
}

// queues are asynq's queues on this Redis.
func (s *stack) queues() ([]string, error) { return s.insp.Queues() }

// fill records the figures every scenario reports.
func (s *stack) fill(ctx context.Context, r *Result, id string) error {
	c, err := s.store.Counters(ctx, id)
	if err != nil {
		return err
	}
	r.Recipients, r.Sent, r.Failed = c.Total(), c.Sent, c.Failed
	st, err := s.stats(ctx)
	if err != nil {
		return err
	}
	r.SimAccepted, r.Duplicates, r.LostAfterAccept = st.Accepted, st.Duplicates, st.Faults.LostAfterAccept
	qs, err := s.queues()
	if err != nil {
		return err
	}
	for _, q := range qs {
		for page := 1; ; page++ {
			tasks, err := s.insp.ListArchivedTasks(q, asynq.PageSize(1000), asynq.Page(page))
			if err != nil {
				return err
			}
			for _, t := range tasks {
				r.Archived++
				if strings.TrimSpace(t.LastErr) == "" {
					r.ArchivedNoReason++
				}
			}
			if len(tasks) < 1000 {
				break
			}
		}
	}
	return s.store.ScanRecipients(ctx, id, func(_ string, st campaign.Status, rec campaign.Record) error {
		if st == campaign.StatusFailed && strings.TrimSpace(rec.Error) == "" {
			r.FailedNoReason++
		}
		return nil
	})
}

// activeTasks counts tasks in asynq's active state, in every queue.
func (s *stack) activeTasks() (int64, error) {
	qs, err := s.queues()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, q := range qs {
		info, err := s.insp.GetQueueInfo(q)
		if err != nil {
			return 0, err
		}
		n += int64(info.Active)
	}
	return n, nil
}

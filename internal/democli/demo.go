// Package democli is the demo command: a sample campaign end to end on
// embedded Redis (or REDIS_URL) and the built-in Sinch simulator.
package democli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

const demoUsage = `demo [--csv testdata/sample-campaign.csv] [--rate 50]`

// Demo runs a whole sample campaign on this machine: Redis (the configured
// one if it answers, else embedded), the built-in Sinch simulator, enqueue,
// and a worker, then prints what happened. Nothing leaves the machine.
func Run(ctx context.Context, args []string, getenv cli.Env, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("demo", stderr, demoUsage)
	var (
		csvPath  = fs.String("csv", filepath.Join("testdata", "sample-campaign.csv"), "recipient CSV to send")
		text     = fs.String("text", "Hi {{.first_name}}, your spring offer is waiting!", "message template")
		rate     = fs.Float64("rate", 50, "sends per second")
		redisURL = fs.String("redis-url", "", "use this Redis instead of an embedded one [env REDIS_URL]")
		timeout  = fs.Duration("timeout", 2*time.Minute, "give up if the campaign has not finished by then")
	)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *rate <= 0 {
		return errors.New("--rate must be positive")
	}
	if _, err := os.Stat(*csvPath); err != nil {
		return fmt.Errorf("--csv: %w (run the demo from the repository root)", err)
	}

	url := *redisURL
	if url == "" {
		url = getenv("REDIS_URL")
	}
	redisNote := "Redis at REDIS_URL"
	if url == "" || !redisAnswers(ctx, url) {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer m.Close()
		url = "redis://" + m.Addr() + "/0"
		redisNote = "embedded Redis (miniredis, in this process)"
	}

	sim, err := sinchsim.New(sinchsim.Config{ProcessingMode: sinchsim.ModeDispatch})
	if err != nil {
		return err
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	simURL := "http://" + ln.Addr().String()

	env := map[string]string{
		"REDIS_URL":        url,
		"SINCH_PROJECT_ID": sinchsim.DefaultProjectID,
		"SINCH_APP_ID":     sinchsim.DefaultAppID,
		"SINCH_KEY_ID":     sinchsim.DefaultKeyID,
		"SINCH_KEY_SECRET": sinchsim.DefaultKeySecret,
		"SINCH_BASE_URL":   simURL,
		"SINCH_AUTH_URL":   simURL + "/oauth2/token",
	}
	getDemoEnv := func(k string) string { return env[k] }

	id := "demo-" + strconv.FormatInt(time.Now().Unix(), 10)
	fmt.Fprintf(stdout, "sinch-dispatch demo: campaign %s against the built-in Sinch simulator at %s (no real messages are sent), %s\n", id, simURL, redisNote)

	var out bytes.Buffer
	err = enqueuecli.Run(ctx, []string{"--campaign", id, "--csv", *csvPath, "--text", *text,
		"--default-region", "US", "--json"}, getDemoEnv, &out, stderr)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	var sum enqueue.Summary
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return fmt.Errorf("enqueue summary: %w", err)
	}
	fmt.Fprintf(stdout, "enqueued %d of %d rows (%d duplicates, %d rejected)\n",
		sum.Enqueued, sum.Rows, sum.Duplicates, sum.Rejected)
	enqueuecli.PrintRejects(stdout, sum)

	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- workercli.Run(wctx, []string{"--rate", strconv.FormatFloat(*rate, 'f', -1, 64),
			"--log-level", "warn", "--shutdown-timeout", "35s"}, getDemoEnv, io.Discard, stderr)
	}()

	s := config.Settings{RedisURL: url}
	rdb, err := s.RedisClient()
	if err != nil {
		stopWorker()
		return err
	}
	defer rdb.Close()
	store := campaign.NewStore(rdb)
	c, werr := waitDone(ctx, store, id, *timeout, workerDone, stdout)
	stopWorker()
	if err := <-workerDone; werr == nil && err != nil {
		werr = err
	}
	if werr != nil {
		return werr
	}

	stats := sim.Stats()
	fmt.Fprintf(stdout, "result: sent %d, failed %d, rejected at upload %d, duplicates %d (total recipients %d)\n",
		c.Sent, c.Failed, c.Rejected, c.Duplicates, c.Total())
	fmt.Fprintf(stdout, "simulator: accepted %d sends, answered 429 %d times, max %d accepted in any 1s window\n",
		stats.Accepted, stats.RateLimited, stats.MaxAcceptedPerSecond)
	fmt.Fprintln(stdout, "This ran against the simulator. To send for real, see README.md, \"Running against real Sinch\".")
	return nil
}

// waitDone polls the campaign until no recipient is pending.
func waitDone(ctx context.Context, store *campaign.Store, id string, timeout time.Duration, worker <-chan error, w io.Writer) (campaign.Counters, error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastPrint time.Time
	for {
		c, err := store.Counters(ctx, id)
		if err != nil {
			return c, err
		}
		if c.Pending == 0 || time.Since(lastPrint) >= time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(w, "  sent %d, failed %d, pending %d\n", c.Sent, c.Failed, c.Pending)
		}
		if c.Pending == 0 {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case err := <-worker:
			return c, fmt.Errorf("worker stopped: %v", err)
		case <-deadline:
			return c, fmt.Errorf("campaign not finished after %s (%d pending)", timeout, c.Pending)
		case <-tick.C:
		}
	}
}

// redisAnswers reports whether the Redis at url answers a PING.
func redisAnswers(ctx context.Context, url string) bool {
	s := config.Settings{RedisURL: url}
	rdb, err := s.RedisClient()
	if err != nil {
		return false
	}
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return rdb.Ping(pctx).Err() == nil
}

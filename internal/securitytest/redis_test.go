package securitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaigncli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

// TestRedisWithPassword runs a campaign end to end through the command
// functions against a redis-server that requires a password, in the clear
// and over TLS (rediss://): a wrong password fails at startup naming
// REDIS_URL, the right one sends everything, and neither password appears
// in any output.
func TestRedisWithPassword(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"requirepass", false}, {"requirepass over TLS", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const password, wrong = "redis-pw-Kq7vX2mZr4", "wrong-pw-Hh3nB8sLp1"
			srv := startRedis(t, password, tc.tls)
			sim, simURL := sinchsimtest.Serve(t, sinchsim.Config{ProcessingMode: sinchsim.ModeDispatch, RateLimit: -1})
			env := sinchsimtest.Env(simURL, srv.URL)
			getenv := func(k string) string { return env[k] }
			// Everything every command prints; a file, as the worker
			// writes from several goroutines.
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			printed := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
			ctx := context.Background()

			const n = 5
			path := filepath.Join(t.TempDir(), "r.csv")
			var b strings.Builder
			b.WriteString("phone,first_name\n")
			for i := range n {
				b.WriteString("+3361234567" + string(rune('0'+i)) + ",Ann\n")
			}
			os.WriteFile(path, []byte(b.String()), 0o600)
			enqueueArgs := []string{"--campaign", "pw", "--csv", path, "--text", "Hi {{.first_name}}"}

			// A wrong password fails at startup, naming the setting.
			env["REDIS_URL"] = strings.Replace(srv.URL, password, wrong, 1)
			err = enqueuecli.Run(ctx, enqueueArgs, getenv, out, out)
			if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
				t.Fatalf("enqueue with a wrong password: got %v, want an error naming REDIS_URL", err)
			}
			t.Logf("wrong password: %v", err)
			out.WriteString(err.Error())
			env["REDIS_URL"] = srv.URL

			if err := enqueuecli.Run(ctx, enqueueArgs, getenv, out, out); err != nil {
				t.Fatalf("enqueue: %v\n%s", err, printed())
			}
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- workercli.Run(wctx, []string{"--rate", "100"}, getenv, out, out) }()
			store := campaign.NewStore(srv.Client)
			var c campaign.Counters
			if !testwait.Until(30*time.Second, func() bool {
				c, err = store.Counters(ctx, "pw")
				if err != nil {
					t.Fatal(err)
				}
				if c.Total() == n && c.Pending == 0 {
					return true
				}
				select {
				case err := <-done:
					t.Fatalf("worker stopped early: %v\n%s", err, printed())
				default:
				}
				return false
			}) {
				stop()
				<-done
				t.Fatalf("campaign not done after 30s: %+v\n%s", c, printed())
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("worker: %v", err)
			}

			var status bytes.Buffer
			if err := campaigncli.Run(ctx, []string{"status", "pw", "--json"}, getenv, &status, out); err != nil {
				t.Fatalf("campaign status: %v", err)
			}
			var sum campaign.Summary
			if err := json.Unmarshal(status.Bytes(), &sum); err != nil {
				t.Fatalf("campaign status --json: %v\n%s", err, status.String())
			}
			if sum.State != campaign.StateDone || sum.Sent != n || sim.Stats().Accepted != n {
				t.Fatalf("got state %s, sent %d, simulator accepted %d; want done, %d, %d", sum.State, sum.Sent, sim.Stats().Accepted, n, n)
			}
			all := printed() + status.String()
			for _, secret := range []string{password, wrong} {
				if strings.Contains(all, secret) {
					t.Fatalf("output holds a Redis password:\n%s", all)
				}
			}
		})
	}
}

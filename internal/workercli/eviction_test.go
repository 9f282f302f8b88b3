package workercli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest/redisproc"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

func TestWorkerRefusesAnEvictingRedisUnlessAllowed(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	_, simURL := sinchsimtest.Serve(t, sinchsim.Config{ProcessingMode: sinchsim.ModeDispatch, RateLimit: -1})
	env := sinchsimtest.Env(simURL, s.URL())
	getenv := func(k string) string { return env[k] }
	// A file: the worker logs from several goroutines.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	printed := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }

	err = Run(context.Background(), []string{"--rate", "10"}, getenv, out, out)
	if err == nil || !strings.Contains(err.Error(), "maxmemory-policy allkeys-lru") ||
		!strings.Contains(err.Error(), "CONFIG SET maxmemory-policy noeviction") || !strings.Contains(err.Error(), "--allow-eviction") {
		t.Fatalf("worker on an allkeys-lru Redis: got %v, want a refusal naming the policy and the fix", err)
	}

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"--rate", "10", "--allow-eviction"}, getenv, out, out) }()
	started := testwait.Until(30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("worker with --allow-eviction stopped: %v\n%s", err, printed())
		default:
		}
		return strings.Contains(printed(), "worker started")
	})
	stop()
	if err := <-done; err != nil && !started {
		t.Fatalf("worker: %v", err)
	}
	if !started {
		t.Fatalf("worker with --allow-eviction did not start:\n%s", printed())
	}
	if !strings.Contains(printed(), "WARNING: Redis has maxmemory-policy allkeys-lru") {
		t.Errorf("no warning logged:\n%s", printed())
	}
}

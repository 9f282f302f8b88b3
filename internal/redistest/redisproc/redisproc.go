// Package redisproc gives a test a redis-server process of its own, for
// what a shared test database cannot show: a server started with its own
// maxmemory or maxmemory-policy, changed without disturbing other tests.
package redisproc

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// Start runs redis-server on a free loopback port with the extra options
// args (e.g. "--maxmemory", "20mb") and stops it at cleanup. Without
// redis-server on PATH the test is skipped, or fails when CI=true.
func Start(t testing.TB, args ...string) *procs.Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redisproc: redis-server is not installed; CI must run this test")
		}
		t.Skip("redisproc: redis-server is not installed")
	}
	s, err := procs.StartRedis(context.Background(), t.TempDir(), procs.RedisOptions{Args: args})
	if err != nil {
		t.Fatalf("redisproc: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

package e2etest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

// TestWorkerFetchesTheTokenAtStartup: with --app-rate (so no GetApp call) and
// nothing queued, the worker still fetches its access token once, before
// any send could be granted by the rate limiter and wait for it.
func TestWorkerFetchesTheTokenAtStartup(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs logbuf.Buffer
	go func() {
		done <- workercli.Run(ctx, []string{"--rate", "200", "--app-rate", sinchsim.DefaultAppID + "=200"}, s.getenv, io.Discard, &logs)
	}()
	// Bounded: the counts below fail the test when no token was fetched.
	// Waiting for the start line too means every request of startup has
	// been made when they are read.
	testwait.Until(10*time.Second, func() bool {
		return s.sim.Stats().TokenRequests > 0 && strings.Contains(logs.String(), "worker started")
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := s.sim.Stats()
	if st.TokenRequests != 1 || st.Requests != 1 {
		t.Fatalf("got %d token requests and %d requests in all, want 1 and 1 (the token, fetched at startup)", st.TokenRequests, st.Requests)
	}
}

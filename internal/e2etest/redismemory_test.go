package e2etest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboardcli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest/redisproc"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// The dashboard writes campaigns (API, builder): it refuses an evicting
// Redis at startup too.
func TestDashboardRefusesAnEvictingRedis(t *testing.T) {
	t.Parallel()
	r := redisproc.Start(t, "--maxmemory-policy", "volatile-lru")
	env := map[string]string{"REDIS_URL": r.URL()}
	err := dashboardcli.Run(context.Background(), []string{"--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "maxmemory-policy volatile-lru") || !strings.Contains(err.Error(), "--allow-eviction") {
		t.Fatalf("dashboard on a volatile-lru Redis: got %v, want a refusal", err)
	}
}

// An upload over the HTTP API streams, so its rows are not counted first:
// it is checked as it goes and stops, before Redis refuses a write, with
// 507 and the message; the same request after making room finishes it.
func TestAPIUploadStopsWhenRedisIsNearlyFull(t *testing.T) {
	t.Parallel()
	r := redisproc.Start(t, "--maxmemory", "16mb")
	s := newStack(t, sinchsim.Config{})
	s.env["REDIS_URL"] = r.URL()
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken})
	n := 2 * (16 << 20) / enqueue.UploadBytesPerRecipient // twice what fits
	var csv strings.Builder
	csv.WriteString("phone,first_name\n")
	for i := range n {
		fmt.Fprintf(&csv, "+336%08d,Ann\n", i)
	}
	body, ct := createBody(t, `{"campaign":"full","text":"Hi {{.first_name}}"}`, csv.String())
	ans := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
	if ans.status != http.StatusInsufficientStorage {
		t.Fatalf("create: got %d %s, want 507", ans.status, ans.body)
	}
	if msg := ans.errorText(t); !strings.Contains(msg, "nearly full") || !strings.Contains(msg, "same campaign ID") {
		t.Errorf("error: %q", msg)
	}
	if err := r.Client.ConfigSet(context.Background(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	ans = post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
	if ans.status != http.StatusCreated {
		t.Fatalf("create again: got %d %s", ans.status, ans.body)
	}
	var sum enqueue.Summary
	ans.json(t, &sum)
	if sum.Enqueued+sum.AlreadyEnqueued != int64(n) || sum.Duplicates != 0 {
		t.Errorf("create again: %+v, want every one of %d rows enqueued once", sum, n)
	}
}

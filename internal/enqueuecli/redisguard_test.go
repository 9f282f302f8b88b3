package enqueuecli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest/redisproc"
)

// writeCSV writes n recipients whose note has noteBytes.
func writeCSV(t *testing.T, n, noteBytes int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("phone,note\n")
	note := strings.Repeat("n", noteBytes)
	for i := range n {
		fmt.Fprintf(&b, "+336%08d,%s\n", i, note)
	}
	path := filepath.Join(t.TempDir(), "r.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// enqueueOn runs the command against the Redis at url with env.
func enqueueOn(url string, env map[string]string, args ...string) (string, error) {
	getenv := func(k string) string {
		if k == "REDIS_URL" {
			return url
		}
		return env[k]
	}
	var out bytes.Buffer
	err := Run(context.Background(), args, getenv, &out, &out)
	return out.String(), err
}

func TestEnqueueRefusesAnEvictingRedisUnlessAllowed(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory-policy", "allkeys-lru")
	csv := writeCSV(t, 20, 5)
	args := []string{"--campaign", "lru", "--csv", csv, "--text", "Hi {{.note}}"}
	out, err := enqueueOn(s.URL(), nil, args...)
	if err == nil {
		t.Fatalf("enqueue into an allkeys-lru Redis succeeded:\n%s", out)
	}
	for _, want := range []string{"maxmemory-policy allkeys-lru", "CONFIG SET maxmemory-policy noeviction", "redis.conf", "--allow-eviction"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if n, _ := s.Client.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("the refused enqueue wrote %d keys", n)
	}
	if _, err := enqueueOn(s.URL(), map[string]string{"REDIS_ALLOW_EVICTION": "maybe"}, args...); err == nil ||
		!strings.Contains(err.Error(), "REDIS_ALLOW_EVICTION") {
		t.Errorf("a bad REDIS_ALLOW_EVICTION: got %v, want an error naming it", err)
	}

	for name, run := range map[string]func() (string, error){
		"flag": func() (string, error) { return enqueueOn(s.URL(), nil, append(args, "--allow-eviction")...) },
		"env": func() (string, error) {
			return enqueueOn(s.URL(), map[string]string{"REDIS_ALLOW_EVICTION": "true"}, append(args[2:], "--campaign", "lru-env")...)
		},
	} {
		out, err := run()
		if err != nil {
			t.Fatalf("%s: enqueue with eviction allowed: %v\n%s", name, err, out)
		}
		if !strings.Contains(out, "WARNING: Redis has maxmemory-policy allkeys-lru") || !strings.Contains(out, "enqueued 20") {
			t.Errorf("%s: output lacks the warning or the summary:\n%s", name, out)
		}
	}
}

func TestEnqueueRefusesACampaignThatDoesNotFitAndSaysWhatToDoOnOOM(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory", "20mb")
	ctx := context.Background()
	big := writeCSV(t, int(20<<20/enqueue.UploadBytesPerRecipient)+1, 5)
	_, err := enqueueOn(s.URL(), nil, "--campaign", "big", "--csv", big, "--text", "Hi {{.note}}")
	if err == nil || !strings.Contains(err.Error(), "does not fit in Redis") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("too big: got %v, want a refusal", err)
	}
	if n, _ := s.Client.DBSize(ctx).Result(); n != 0 {
		t.Fatalf("the refused enqueue wrote %d keys", n)
	}

	// Passes the estimate, then fills Redis: non-zero exit, how far it got,
	// what to do; the same command after making room completes it.
	const n = 40000
	long := writeCSV(t, n, 1000)
	args := []string{"--campaign", "long", "--csv", long, "--text", "Hi {{.note}}"}
	out, err := enqueueOn(s.URL(), nil, args...)
	if err == nil || !strings.Contains(err.Error(), "Redis ran out of memory") || !strings.Contains(err.Error(), "run the same upload again") {
		t.Fatalf("OOM: got %v\n%s", err, out)
	}
	if strings.Contains(out, "stopped after") {
		t.Errorf("the generic stop line repeats the OOM message:\n%s", out)
	}
	if err := s.Client.ConfigSet(ctx, "maxmemory", "128mb").Err(); err != nil {
		t.Fatal(err)
	}
	out, err = enqueueOn(s.URL(), nil, append(args, "--json")...)
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf(`"rows":%d`, n)) || !strings.Contains(out, `"duplicates":0`) {
		t.Errorf("re-run summary:\n%s", out)
	}
}

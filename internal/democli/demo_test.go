package democli

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

var sampleCSV = filepath.Join("..", "..", "testdata", "sample-campaign.csv")

func noEnv(string) string { return "" }

// TestDemoRunsTheSampleCampaign runs the README's first command as a fresh
// machine does (no REDIS_URL: embedded Redis and the built-in simulator) and
// checks the story it tells about testdata/sample-campaign.csv, outcomes
// included: 2 recipients are unreachable, 1 answers STOP, 1 writes back.
func TestDemoRunsTheSampleCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole campaign")
	}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"--csv", sampleCSV, "--rate", "200"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{
		"embedded Redis (miniredis, in this process)",
		"enqueued 31 of 41 rows (3 duplicates, 7 rejected)",
		"rejected rows (all 7):",
		"  row 14, column phone: not a valid phone number for region US",
		"  row 42, column phone: recipient is empty (a MESSENGER identity is required)",
		"result: sent 31, failed 0, rejected at upload 7, duplicates 3",
		"simulator: accepted 31 sends",
		"(31 final outcomes recorded)",
		"1 opted-out identities added to the suppression list",
		"outcomes: delivered 27, read 0, failed 2 (RECIPIENT_NOT_REACHABLE 2), replied 1, opted out 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "dashboard: http") {
		t.Errorf("without --serve the demo printed a dashboard URL:\n%s", out.String())
	}
	if errOut.Len() > 0 {
		t.Errorf("demo wrote to stderr:\n%s", errOut.String())
	}
}

// TestDemoServeKeepsTheDashboardOpen: with --serve the printed URL and
// throwaway credentials open the campaign's page, a wrong password does
// not, and cancelling (Ctrl-C) ends the demo cleanly.
func TestDemoServeKeepsTheDashboardOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole campaign")
	}
	out := &logbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"--csv", sampleCSV, "--rate", "200", "--serve"}, noEnv, out, out) }()

	re := regexp.MustCompile(`dashboard: (http://127\.0\.0\.1:\d+/campaigns/\S+)\n  user (\S+), password (\S+) `)
	var m []string
	testwait.For(t, time.Minute, "the dashboard URL and credentials", func() bool {
		select {
		case err := <-done:
			t.Fatalf("demo --serve returned before Ctrl-C: %v\n%s", err, out.String())
		default:
		}
		m = re.FindStringSubmatch(out.String())
		return m != nil
	})
	get := func(password string) int {
		req, _ := http.NewRequest(http.MethodGet, m[1], nil)
		req.SetBasicAuth(m[2], password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(m[3]); got != http.StatusOK {
		t.Errorf("campaign page with the printed credentials: got %d, want 200", got)
	}
	if got := get("wrong"); got != http.StatusUnauthorized {
		t.Errorf("campaign page with a wrong password: got %d, want 401", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --serve after Ctrl-C: got %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo --serve did not stop after Ctrl-C")
	}
}

package democli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoRunsTheSampleCampaign runs the README's first command as a fresh
// machine does (no REDIS_URL: embedded Redis and the built-in simulator) and
// checks the story it tells about testdata/sample-campaign.csv.
func TestDemoRunsTheSampleCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole campaign")
	}
	var out, errOut bytes.Buffer
	csv := filepath.Join("..", "..", "testdata", "sample-campaign.csv")
	noEnv := func(string) string { return "" }
	if err := Run(context.Background(), []string{"--csv", csv, "--rate", "200"}, noEnv, &out, &errOut); err != nil {
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
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

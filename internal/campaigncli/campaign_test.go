package campaigncli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// The façade's typed errors reach the operator as one clear line, exit 1.
func TestActionErrorsPrintOneClearLineAndExit1(t *testing.T) {
	r := redistest.New(t)
	ctx := context.Background()
	store := campaign.NewStore(r.Client)
	if _, _, err := store.Create(ctx, campaign.Definition{ID: "gone", Priority: campaign.PriorityNormal, Channel: sinch.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(ctx, "gone", "wrong list"); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"REDIS_URL": r.URL()}[k] }
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"resume", "gone"}, "campaign: error: cannot resume campaign gone: campaign is cancelled\n"},
		{[]string{"pause", "gone"}, "campaign: error: cannot pause campaign gone: campaign is cancelled\n"},
		{[]string{"retry", "gone"}, "campaign: error: cannot retry campaign gone: campaign is cancelled\n"},
		{[]string{"resume", "ghost"}, "campaign: error: campaign not found: ghost\n"},
		{[]string{"report", "ghost"}, "campaign: error: campaign not found: ghost\n"},
		{[]string{"cancel", "ghost"}, "campaign: error: campaign not found: ghost\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(ctx, tc.args, getenv, &stdout, &stderr)
			if code := cli.ExitCode("campaign", err, &stderr); code != 1 || stderr.String() != tc.want || stdout.Len() != 0 {
				t.Fatalf("got exit %d, stderr %q, stdout %q; want exit 1, stderr %q and no output", code, stderr.String(), stdout.String(), tc.want)
			}
		})
	}
	if _, ctl, _ := store.Lookup(ctx, "gone"); !ctl.Cancelled || ctl.Reason != "wrong list" {
		t.Fatalf("got %+v, want still cancelled (wrong list)", ctl)
	}
}

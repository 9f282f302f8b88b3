package e2etest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// The app's rate comes from GET app (the simulator's rate_limits.outbound):
// 50 recipients at 2/s take 25s, beyond a 10s TTL.
func TestEnqueueWarnsOfATTLShorterThanTheSendingAndStrictTTLRefuses(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{OutboundRate: 2})
	csvPath := campaignCSV(t, 50, tenBadRows, 0)
	run := func(args ...string) (stdout, stderr string, err error) {
		var out, errOut bytes.Buffer
		err = enqueuecli.Run(context.Background(), append([]string{"--csv", csvPath, "--text", "Hi", "--ttl", "10s"}, args...), s.getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	const numbers = "50 recipients at the app's 2/s take 25s to send"

	_, _, err := run("--campaign", "strict", "--strict-ttl")
	if err == nil || !strings.HasPrefix(err.Error(), "refused by --strict-ttl, nothing written: --ttl 10s is too short: "+numbers) {
		t.Fatalf("strict: got %v", err)
	}
	if n, err := s.redis.Client.DBSize(context.Background()).Result(); err != nil || n != 0 {
		t.Fatalf("the refused upload left %d keys in Redis (err %v)", n, err)
	}
	if _, _, err := run("--campaign", "strict", "--strict-ttl", "--dry-run"); err == nil || !strings.Contains(err.Error(), numbers) {
		t.Fatalf("strict dry run: got %v, want the refusal", err)
	}
	// --app-rate overrides the app's answer: at 10/s the 50 fit in 10s.
	if _, errOut, err := run("--campaign", "fast", "--strict-ttl", "--app-rate", "10"); err != nil || strings.Contains(errOut, "warning") {
		t.Fatalf("strict at --app-rate 10: %v\n%s", err, errOut)
	}

	out, errOut, err := run("--campaign", "warned")
	if err != nil {
		t.Fatal(err)
	}
	// fast's 50 are queued ahead of it on the app.
	if !strings.Contains(errOut, "warning: --ttl 10s is too short: 50 recipients (behind 50 already queued on the app) at the app's 2/s take 50s to send") ||
		!strings.Contains(out, "enqueued 50") {
		t.Fatalf("want a warning and the upload done; stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	sum := s.enqueue("--campaign", "warned-json", "--csv", csvPath, "--text", "Hi", "--ttl", "10s")
	if len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], "ttl: 10s is too short: 50 recipients (behind 100 already queued on the app)") {
		t.Fatalf("JSON summary warnings %q", sum.Warnings)
	}
	if _, _, err := run("--campaign", "bad", "--app-rate", "fast"); err == nil || !strings.Contains(err.Error(), "--app-rate") {
		t.Fatalf("bad --app-rate: %v", err)
	}
}

// closedWindow is a one-hour send window opening two hours from now (UTC),
// and that opening.
func closedWindow(now time.Time) (string, time.Time) {
	opens := now.UTC().Add(2 * time.Hour).Truncate(time.Minute)
	return opens.Format("15:04") + "-" + opens.Add(time.Hour).Format("15:04"), opens
}

func TestQuietHoursSendsShowAsWaitingWithTheOpeningAndTheETAAtTheAppRate(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{OutboundRate: 5})
	window, opens := closedWindow(time.Now())
	s.enqueue("--campaign", "night", "--csv", campaignCSV(t, 20, nil, 0), "--text", "Hi", "--window", window)
	s.startWorker("--rate", "50", "--track-interval", "0")
	s.waitRetrySet("night")

	sum := s.statusJSON("night")
	if sum.Waiting != 20 || sum.WaitingWindow != 20 || sum.Retrying != 0 || sum.Sent != 0 {
		t.Fatalf("waiting %d (window %d), retrying %d, sent %d; want all 20 waiting for the window",
			sum.Waiting, sum.WaitingWindow, sum.Retrying, sum.Sent)
	}
	if !sum.WindowOpens.Equal(opens) {
		t.Errorf("window opens %s, want %s", sum.WindowOpens, opens)
	}
	// 20 at 5/s: 4s of sending once the window opens.
	if sum.AppRate != 5 || !sum.AppETA.Equal(opens.Add(4*time.Second)) || sum.AppETASeconds == nil {
		t.Errorf("app rate %g, ETA %s (%v s); want 5/s and %s", sum.AppRate, sum.AppETA, sum.AppETASeconds, opens.Add(4*time.Second))
	}
	text := s.mustOps("status", "night")
	for _, want := range []string{
		"retrying 0, waiting 20",
		"20 for the send window " + window + " UTC, which opens " + opens.Format("2006-01-02 15:04:05 MST"),
		"app rate     5/s, ETA ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
	if text := s.mustOps("status", "night", "--app-rate", "1"); !strings.Contains(text, "app rate     1/s, ETA ") ||
		!strings.Contains(text, opens.Add(20*time.Second).Format("2006-01-02 15:04:05 MST")) {
		t.Errorf("status at --app-rate 1:\n%s", text)
	}

	// The dashboard shows the same: its API is the status JSON, its page
	// the waiting sends, the window's opening and the ETA at the app's rate.
	base := s.startDashboard(map[string]string{"DASHBOARD_USER": dashUser, "DASHBOARD_PASSWORD": dashPassword}, "--app-rate", "5")
	var api campaign.Summary
	getJSON(t, base+"/api/campaigns/night", &api)
	if api.Waiting != 20 || api.WaitingWindow != 20 || api.Retrying != 0 || api.AppRate != 5 || !api.AppETA.Equal(sum.AppETA) {
		t.Errorf("API: waiting %d (window %d), retrying %d, app rate %g, ETA %s", api.Waiting, api.WaitingWindow, api.Retrying, api.AppRate, api.AppETA)
	}
	page := string(getRaw(t, base+"/campaigns/night", dashUser, dashPassword))
	for _, want := range []string{
		`data-field="retrying">0<`, `data-field="waiting">20<`,
		`data-field="waiting_for">20 for the send window ` + window + ` UTC, which opens ` + opens.Format("2006-01-02 15:04:05 MST") + `<`,
		`data-field="app_rate">5<`, `(` + opens.Add(4*time.Second).Format("2006-01-02 15:04:05 MST") + `)<`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("campaign page lacks %s", want)
		}
	}
}

// The HTTP API streams its upload: strict_ttl wants expected_rows, and
// refuses with a 400 naming ttl, writing nothing.
func TestAPIStrictTTL(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{OutboundRate: 2})
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken})
	rows := "phone\n+33612340001\n+33612340002\n+33612340003\n+33612340004\n"
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"no count", `{"campaign":"s1","text":"Hi","ttl":"3s","strict_ttl":true}`, "strict_ttl: needs the recipients counted before anything is written"},
		{"counted", `{"campaign":"s2","text":"Hi","ttl":"3s","strict_ttl":true,"expected_rows":10}`,
			"refused by strict_ttl, nothing written: ttl: 3s is too short: 10 recipients at the app's 2/s take 5s"},
	} {
		body, ct := createBody(t, tc.spec, rows)
		ans := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
		if ans.status != 400 || !strings.Contains(ans.errorText(t), tc.want) {
			t.Errorf("%s: got %d %s, want 400 with %q", tc.name, ans.status, ans.body, tc.want)
		}
	}
	if n, _ := s.redis.Client.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("refused uploads left %d keys", n)
	}
	// Without strict_ttl the answer carries the warning and the estimate.
	body, ct := createBody(t, `{"campaign":"s3","text":"Hi","ttl":"3s"}`, rows+"+33612340005\n+33612340006\n+33612340007\n")
	ans := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
	var sum struct {
		Warnings []string
		TTL      *struct {
			Rate        float64
			SendSeconds float64 `json:"send_seconds"`
		} `json:"ttl_estimate"`
	}
	ans.json(t, &sum)
	if ans.status != 201 || len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], "7 recipients at the app's 2/s take 4s") ||
		sum.TTL == nil || sum.TTL.Rate != 2 || sum.TTL.SendSeconds != 3.5 {
		t.Fatalf("got %d %s", ans.status, ans.body)
	}
}

// Real retries (Sinch answering 500) still count as retrying.
func TestFailedAttemptsCountAsRetryingNotWaiting(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{FaultRate500: 1})
	s.enqueue("--campaign", "down", "--csv", campaignCSV(t, 10, nil, 0), "--text", "Hi")
	s.startWorker("--rate", "50", "--track-interval", "0", "--max-retry", "50")
	var sum campaign.Summary
	testwait.For(t, 15*time.Second, "failed attempts in the retry set", func() bool {
		sum = s.statusJSON("down")
		return sum.Retrying > 0 && sum.Attempts >= 10
	})
	if sum.Waiting != 0 {
		t.Fatalf("retrying %d, waiting %d: 500s are retries, not waits", sum.Retrying, sum.Waiting)
	}
	if _, _, err := s.ops("status", "down", "--app-rate", "0"); err == nil || !strings.Contains(err.Error(), "--app-rate") {
		t.Fatalf("status --app-rate 0: %v", err)
	}
}

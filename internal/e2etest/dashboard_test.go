package e2etest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboardcli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
)

const (
	dashUser     = "operator"
	dashPassword = "dash-" + secret // holds secret: its echo is caught too
	dashToken    = "bearer-" + secret
)

// startDashboard runs the dashboard command on a free loopback port with
// the stack's settings plus env, and returns its base URL.
func (s *stack) startDashboard(env map[string]string, args ...string) string {
	s.t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return s.env[k]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logbuf.Buffer{}
	go func() {
		done <- dashboardcli.Run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), getenv, logs, logs)
	}()
	s.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("dashboard: %v", err)
		}
		for _, secretValue := range []string{dashPassword, dashToken, secret} {
			if strings.Contains(logs.String(), secretValue) {
				s.t.Errorf("dashboard logs hold a secret:\n%s", logs.String())
			}
		}
	})
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var base string
	testwait.For(s.t, 10*time.Second, "the dashboard to listen", func() bool {
		select {
		case err := <-done:
			done <- err
			s.t.Fatalf("dashboard stopped: %v\n%s", err, logs.String())
		default:
		}
		if m := urlRE.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
		return base != ""
	})
	return base
}

// getJSON GETs an API path with Basic credentials and decodes it.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	getAs(t, url, dashUser, dashPassword, v)
}

func TestDashboardStartupChecksNameTheSetting(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	users := usersFile(t, "otto:operator")
	badUsers := filepath.Join(t.TempDir(), "bad-users")
	os.WriteFile(badUsers, []byte("# users\nvera:$2y$04$"+strings.Repeat("a", 53)+":root\n"), 0o600)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"network without credentials", []string{"--addr", "0.0.0.0:0"}, nil, "DASHBOARD_USER"},
		{"all interfaces without credentials", []string{"--addr", ":0"}, nil, "--addr :0"},
		{"user without password", nil, map[string]string{"DASHBOARD_USER": "ops"}, "DASHBOARD_PASSWORD"},
		{"password without user", nil, map[string]string{"DASHBOARD_PASSWORD": dashPassword}, "DASHBOARD_USER"},
		{"bad addr", []string{"--addr", "8080"}, nil, "--addr"},
		{"bad prometheus url", []string{"--prometheus-url", "prom:9090"}, nil, "--prometheus-url"},
		{"bad tolerance", []string{"--webhook-tolerance", "0s"}, nil, "--webhook-tolerance"},
		{"short upload ttl", []string{"--upload-ttl", "1s"}, nil, "--upload-ttl must be at least 1m"},
		{"missing upload dir", []string{"--upload-dir", "/nonexistent/uploads"}, nil, "--upload-dir /nonexistent/uploads: not a directory"},
		{"redis down", nil, map[string]string{"REDIS_URL": "redis://:" + secret + "@127.0.0.1:1/0"}, "redis unreachable"},
		{"missing users file", nil, map[string]string{"DASHBOARD_USERS_FILE": "/nonexistent/users"}, "DASHBOARD_USERS_FILE: open /nonexistent/users"},
		{"bad users file line", nil, map[string]string{"DASHBOARD_USERS_FILE": badUsers}, badUsers + ` line 2: user "vera": unknown role "root"`},
		{"env user also in the users file", nil, map[string]string{"DASHBOARD_USERS_FILE": users, "DASHBOARD_USER": "otto",
			"DASHBOARD_PASSWORD": dashPassword}, "DASHBOARD_USER \"otto\" is also in DASHBOARD_USERS_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if v, ok := tc.env[k]; ok {
					return v
				}
				return s.env[k]
			}
			var out bytes.Buffer
			err := dashboardcli.Run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, tc.args...), getenv, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one naming %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error()+out.String(), secret) {
				t.Fatal("a secret was echoed")
			}
		})
	}
	// --help documents the settings and shows no secret.
	env := map[string]string{"DASHBOARD_PASSWORD": dashPassword, "DASHBOARD_TOKEN": dashToken, "SINCH_WEBHOOK_SECRET": secret}
	var help bytes.Buffer
	err := dashboardcli.Run(context.Background(), []string{"--help"}, func(k string) string { return env[k] }, &help, &help)
	if !errors.Is(err, flag.ErrHelp) || strings.Contains(help.String(), secret) {
		t.Fatalf("--help: %v, or it shows a secret:\n%s", err, help.String())
	}
	for _, want := range []string{"DASHBOARD_USERS_FILE", "DASHBOARD_USER", "DASHBOARD_TOKEN", "SINCH_WEBHOOK_SECRET", "-admin", "-prometheus-url", "-webhook-tolerance", "-upload-dir", "-upload-ttl", "REDIS_URL"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// chromiumPath finds the browser, or skips (fails in CI: CI must run it).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found and CI=true: the browser test must run in CI (.ci/run installs chromium)")
	}
	t.Skip("chromium not found: skipping the browser test (apt-get install chromium to run it)")
	return ""
}

// browser starts headless Chromium that answers Basic auth challenges
// with user/password, as a person typing into the browser's login prompt.
// challenges counts the prompts answered.
func browser(t *testing.T, user, password string) (ctx context.Context, challenges func() int) {
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })

	answered := make(chan struct{}, 1000)
	paused, auths := chromedp.Events(ctx, fetch.RequestPaused), chromedp.Events(ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range auths {
			if err != nil {
				return
			}
			answered <- struct{}{}
			chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password}})
		}
	}()
	yes := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx, func() int { return len(answered) }
}

// screenshot saves the page as PNG under dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// texts reads the text of each selector on the page.
func texts(t *testing.T, ctx context.Context, sels map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, sel := range sels {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s (%s): %v", name, sel, err)
		}
		out[name] = strings.TrimSpace(v)
	}
	return out
}

func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skip early, before building the campaign
	// Numbers ending in 99 are refused at send (failed); those ending in 13
	// are accepted but never delivered (a delivery failure with a reason),
	// which tracking lists since the app persists message status.
	s := newStack(t, sinchsim.Config{RejectSuffix: "99", FailSuffix: "13", PersistMessageStatus: true})
	var numbers []string
	for i := range 40 {
		numbers = append(numbers, fmt.Sprintf("+33612345%03d", i))
	}
	numbers = append(numbers, "+33612345099", "+33612345199")
	s.enqueue("--campaign", "web", "--csv", numbersCSV(t, numbers), "--text", "Hi {{.first_name}}")
	if c := s.runWorker("web", 20*time.Second, "--rate", "200", "--track-interval", "0"); c.Sent != 40 || c.Failed != 2 {
		t.Fatalf("got %+v, want 40 sent, 2 failed", c)
	}
	s.mustOps("track", "web")
	base := s.startDashboard(map[string]string{"DASHBOARD_USER": dashUser, "DASHBOARD_PASSWORD": dashPassword}, "--refresh", "10m")

	var api campaign.Summary
	getJSON(t, base+"/api/campaigns/web", &api)
	if api.Outcomes.Failed == 0 || api.Outcomes.Delivered == 0 || api.Failed != 2 {
		t.Fatalf("the campaign has no delivery failures, deliveries or send failures to show: %+v", api)
	}
	var list []campaign.Summary
	getJSON(t, base+"/api/campaigns", &list)
	if len(list) != 1 {
		t.Fatalf("API lists %d campaigns, want 1", len(list))
	}

	ctx, challenges := browser(t, dashUser, dashPassword)
	// Screenshots go to the test's temp dir, removed after the run; set
	// DASHBOARD_SCREENSHOT_DIR to keep them (e.g. as CI artifacts).
	shots := t.TempDir()
	if dir := os.Getenv("DASHBOARD_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = dir
	}
	n := strconv.FormatInt

	// The campaign list.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/campaigns"), chromedp.WaitVisible(chromedp.CSS(`tr[data-campaign="web"]`))); err != nil {
		t.Fatalf("campaign list: %v", err)
	}
	if challenges() == 0 {
		t.Fatal("the browser got in without a login prompt")
	}
	row := `tr[data-campaign="web"] `
	got := texts(t, ctx, map[string]string{
		"state": row + `[data-field="state"]`, "total": row + `[data-field="total"]`, "sent": row + `[data-field="sent"]`,
		"failed": row + `[data-field="failed"]`, "pending": row + `[data-field="pending"]`, "delivered": row + `[data-field="delivered"]`,
		"percent": row + `[data-field="percent"]`,
	})
	want := map[string]string{
		"state": string(list[0].State), "total": n(list[0].Total, 10), "sent": n(list[0].Sent, 10), "failed": n(list[0].Failed, 10),
		"pending": n(list[0].Pending, 10), "delivered": n(list[0].Outcomes.Delivered+list[0].Outcomes.Read, 10), "percent": "100",
	}
	compare(t, "campaign list", got, want)
	screenshot(t, ctx, shots, "campaigns")

	// The campaign page, reached by its link.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/campaigns/web"]`)), chromedp.WaitVisible(chromedp.ID("campaign-id"))); err != nil {
		t.Fatalf("campaign page: %v", err)
	}
	sels := map[string]string{"state": `h1 [data-field="state"]`, "eta": `[data-field="eta"]`}
	want = map[string]string{"state": string(api.State), "eta": "—"}
	for field, v := range map[string]int64{"total": api.Total, "pending": api.Pending, "sent": api.Sent, "failed": api.Failed,
		"cancelled": api.Cancelled, "attempts": api.Attempts, "rate_limited": api.RateLimited, "rejected": api.Rejected} {
		sels[field] = `td[data-field="` + field + `"]`
		want[field] = n(v, 10)
	}
	for _, o := range campaign.Outcomes {
		sels["outcome "+string(o)] = `td[data-outcome="` + string(o) + `"]`
		want["outcome "+string(o)] = n(api.Outcomes.Get(o), 10)
	}
	for reason, k := range api.Outcomes.FailedByReason {
		sels["reason "+reason] = `td[data-reason="` + reason + `"]`
		want["reason "+reason] = n(k, 10)
	}
	compare(t, "campaign page", texts(t, ctx, sels), want)
	// The rate is over the last minute: it falls while the page is read,
	// so it must lie between the API's figures from before and after.
	rate := texts(t, ctx, map[string]string{"r": `[data-field="send_rate"]`})["r"]
	var after campaign.Summary
	getJSON(t, base+"/api/campaigns/web", &after)
	if v, err := strconv.ParseFloat(rate, 64); err != nil || v < after.SendRate-0.05 || v > api.SendRate+0.05 {
		t.Errorf("campaign page: send rate on screen %q/s, the API said %.1f then %.1f", rate, api.SendRate, after.SendRate)
	}
	// Failed sends grouped by error add up to the failed count.
	perError, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('td[data-send-error]')).map(td => td.innerText.trim())`))
	var failedOnScreen int64
	for _, v := range perError {
		k, _ := strconv.ParseInt(v, 10, 64)
		failedOnScreen += k
	}
	if err != nil || len(perError) == 0 || failedOnScreen != api.Failed {
		t.Errorf("failed sends by error on screen %v (err %v) add up to %d, the API says %d failed", perError, err, failedOnScreen, api.Failed)
	}
	bars, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#rate-chart rect.bar`)))
	if err != nil || len(bars) == 0 {
		t.Fatalf("send-rate chart has no bars (err %v)", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`button#retry`))); err != nil {
		t.Fatalf("no retry button for the 2 failed sends: %v", err)
	}
	screenshot(t, ctx, shots, "campaign")

	// asynqmon, embedded at /monitoring/, rendered by its own scripts.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/monitoring/"),
		chromedp.WaitVisible(chromedp.Search(`//*[normalize-space(text())="default"]`))); err != nil {
		t.Fatalf("asynqmon did not render the default queue: %v", err)
	}
	// Its queue table shows what asynq itself counts for the queue today:
	// the campaign's chunk tasks and the own tasks of its 2 refused
	// recipients, which archive themselves (this Redis database holds this
	// campaign only).
	table, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](
		`Array.from(document.querySelectorAll('table tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))`))
	if err != nil {
		t.Fatal(err)
	}
	cols, cells := map[string]int{}, []string(nil)
	for _, r := range table {
		if len(r) > 0 && r[0] == "Queue" {
			for i, h := range r {
				cols[h] = i
			}
		} else if len(r) > 0 && r[0] == "default" {
			cells = r
		}
	}
	if cells == nil || len(cols) == 0 {
		t.Fatalf("asynqmon's queue table not found: %q", table)
	}
	insp := asynq.NewInspector(s.redis.AsynqOpt())
	defer insp.Close()
	qi, err := insp.GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Failed != int(api.Failed) || qi.Processed <= qi.Failed {
		t.Errorf("asynq counts %d processed and %d failed tasks today, want the %d refused recipients failed among more processed",
			qi.Processed, qi.Failed, api.Failed)
	}
	compare(t, "asynqmon", map[string]string{"processed": cells[cols["Processed"]], "failed": cells[cols["Failed"]]},
		map[string]string{"processed": n(int64(qi.Processed), 10), "failed": n(int64(qi.Failed), 10)})
	screenshot(t, ctx, shots, "monitoring")
}

func compare(t *testing.T, page string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s on screen is %q, the API says %q", page, k, got[k], w)
		}
	}
}

// The dashboard binary serves the delivery-receipt webhook without auth
// (Sinch cannot log in) and /metrics only behind it: a campaign whose
// receipts go to the running dashboard ends with its outcomes recorded and
// counted on the dashboard's own /metrics.
func TestDashboardReceivesReceiptsAndServesMetricsBehindAuth(t *testing.T) {
	t.Parallel()
	// The worker sets each message's callback_url, so the receipts are
	// signed with the app's secret for overridden callback URLs.
	s := newStack(t, sinchsim.Config{WebhookSecret: webhookSecret, OverrideCallbackSecret: overrideSecret,
		CallbackDelay: 300 * time.Millisecond})
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken, "SINCH_WEBHOOK_SECRET": webhookSecret,
		"SINCH_WEBHOOK_OVERRIDE_SECRET": overrideSecret})

	numbers := make([]string, 5)
	for i := range numbers {
		numbers[i] = e164(i)
	}
	s.enqueue("--campaign", "via-dashboard", "--csv", numbersCSV(t, numbers), "--text", "Hi")
	s.runWorker("via-dashboard", 30*time.Second, "--callback-url", base+webhook.Path, "--track-interval", "0")
	testwait.For(t, 20*time.Second, "receipts recorded through the dashboard", func() bool {
		return s.statusJSON("via-dashboard").Outcomes.Delivered == 5
	})
	if st := s.sim.Stats(); st.CallbacksFailed != 0 {
		t.Fatalf("the dashboard refused %d signed callbacks", st.CallbacksFailed)
	}

	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	if code := status("wrong-" + dashToken); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong token: %d, want 401", code)
	}
	fams := scrapeAs(t, base+"/metrics", dashToken)
	if got := value(fams, "sinch_dispatch_webhook_receipts_total", "status=DELIVERED", "result=recorded"); got != 5 {
		t.Errorf("DELIVERED receipts recorded on the dashboard's /metrics: %v, want 5", got)
	}
	if _, ok := fams["asynq_tasks_processed_total"]; !ok {
		t.Errorf("no asynq queue series on the dashboard's /metrics")
	}
}

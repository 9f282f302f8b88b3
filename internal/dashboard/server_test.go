package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaignctl"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

const (
	testUser     = "ops"
	testPassword = "s3cret-pass"
	testToken    = "tok-0123456789"
)

// fixture is a dashboard on a private Redis database holding campaign
// "c1": 10 recipients, 6 sent (2 delivered, 1 failed delivery), 1 failed
// send, 3 pending.
type fixture struct {
	t        *testing.T
	srv      *Server
	store    *campaign.Store
	webhooks atomic.Int64 // requests that reached the webhook handler
}

func newFixture(t *testing.T, admin bool) *fixture {
	t.Helper()
	return newFixtureAuth(t, admin, Auth{User: testUser, Password: testPassword, Token: testToken})
}

// newFixtureAuth is newFixture with auth's credentials.
func newFixtureAuth(t *testing.T, admin bool, auth Auth) *fixture {
	t.Helper()
	r := redistest.New(t)
	ctl := campaignctl.New(r.Client, r.AsynqOpt())
	t.Cleanup(ctl.Close)
	f := &fixture{t: t, store: ctl.Store()}
	ctx := context.Background()
	if _, _, err := f.store.Create(ctx, campaign.Definition{ID: "c1", Priority: campaign.PriorityNormal,
		Channel: sinch.ChannelSMS, CreatedAt: time.Now(), Source: "text"}); err != nil {
		t.Fatal(err)
	}
	var regs []campaign.Registration
	for i := range 10 {
		id := fmt.Sprintf("+1555000%04d", i)
		regs = append(regs, campaign.Registration{Key: campaign.RecipientKey(sinch.ChannelSMS, id),
			Record: campaign.Record{Row: i + 2, Channel: sinch.ChannelSMS, Identity: id}})
	}
	if _, err := f.store.Register(ctx, "c1", "run1", regs); err != nil {
		t.Fatal(err)
	}
	for i, rg := range regs[:6] {
		rec := rg.Record
		rec.MessageID, rec.AcceptedTime = fmt.Sprintf("msg-%d", i), time.Now()
		if _, err := f.store.MarkSent(ctx, "c1", rg.Key, rec); err != nil {
			t.Fatal(err)
		}
	}
	failed := regs[6].Record
	failed.Error = "rejected by Sinch: 400 INVALID_ARGUMENT"
	if _, err := f.store.MarkFailed(ctx, "c1", regs[6].Key, failed); err != nil {
		t.Fatal(err)
	}
	f.store.SetOutcomes(ctx, "c1", []campaign.OutcomeUpdate{
		{Key: regs[0].Key, Outcome: campaign.OutcomeDelivered, Channel: sinch.ChannelSMS},
		{Key: regs[1].Key, Outcome: campaign.OutcomeDelivered, Channel: sinch.ChannelWhatsApp}})
	f.store.CountSwitch(ctx, "c1", regs[1].Key)
	f.store.SetOutcome(ctx, "c1", regs[2].Key, campaign.OutcomeFailed, "RECIPIENT_NOT_REACHABLE")

	webhook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.webhooks.Add(1)
		w.WriteHeader(http.StatusOK)
	})
	srv, err := New(Config{Campaigns: ctl, RedisOpt: r.AsynqOpt(), Admin: admin,
		Auth: auth, Webhook: webhook, Metrics: promhttp.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	return f
}

// do serves one request; opts adjust it (credentials, headers).
func (f *fixture) do(method, target string, body io.Reader, opts ...func(*http.Request)) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func header(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }

func fromIP(ip string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = ip + ":40000" }
}

var authed = basic(testUser, testPassword)

// protectedRoutes are every kind of route behind auth.
var protectedRoutes = []struct{ method, path string }{
	{"GET", "/"},
	{"GET", "/campaigns"},
	{"GET", "/campaigns/c1"},
	{"GET", "/api/campaigns"},
	{"GET", "/api/campaigns/c1"},
	{"POST", "/api/campaigns/c1/pause"},
	{"POST", "/campaigns/c1/cancel"},
	{"GET", "/monitoring/"},
	{"GET", "/monitoring/api/queues"},
	{"GET", "/metrics"},
	{"GET", "/static/style.css"},
}

func checkSecureHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: CSP %q lacks frame-ancestors 'none'", what, csp)
	}
}

func TestEverythingButTheWebhookNeedsCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	wrong := map[string]func(*http.Request){
		"no credentials": func(*http.Request) {},
		"wrong password": basic(testUser, "guess"),
		"wrong user":     basic("admin", testPassword),
		"wrong token":    bearer("tok-wrong"),
		"empty token":    bearer(""),
	}
	ip := 0
	for _, rt := range protectedRoutes {
		for name, cred := range wrong {
			ip++ // one IP per try: a run of failures from one IP is throttled (429)
			rec := f.do(rt.method, rt.path, nil, cred, fromIP(fmt.Sprint("198.51.100.", ip)))
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: got %d, want 401", rt.method, rt.path, name, rec.Code)
				continue
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Basic realm=`) {
				t.Errorf("%s %s: 401 without a Basic challenge: %v", rt.method, rt.path, rec.Header())
			}
			checkSecureHeaders(t, rt.path+" 401", rec.Header())
			if body := rec.Body.String(); strings.Contains(body, "c1") || strings.Contains(body, "pending") {
				t.Errorf("%s %s: 401 body leaks data: %q", rt.method, rt.path, body)
			}
		}
		for name, cred := range map[string]func(*http.Request){"basic": authed, "bearer": bearer(testToken)} {
			if rt.method != "GET" {
				continue // actions: TestActionsArePostOnlyWithCSRF
			}
			rec := f.do(rt.method, rt.path, nil, cred)
			if rec.Code >= 400 {
				t.Errorf("%s %s with %s credentials: got %d: %s", rt.method, rt.path, name, rec.Code, rec.Body.String())
			}
			checkSecureHeaders(t, rt.path, rec.Header())
		}
	}
	if f.store == nil || f.webhooks.Load() != 0 {
		t.Fatal("webhook reached before any webhook request")
	}
	// The webhook alone needs no dashboard credentials (Sinch signs instead).
	rec := f.do("POST", WebhookPath, strings.NewReader(`{}`))
	if rec.Code != http.StatusOK || f.webhooks.Load() != 1 {
		t.Fatalf("webhook without credentials: got %d and %d calls, want 200 reaching the handler", rec.Code, f.webhooks.Load())
	}
	// Only POST: a GET there is a page like any other.
	if rec := f.do("GET", WebhookPath, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("GET %s without credentials: got %d, want 401", WebhookPath, rec.Code)
	}
	// Paused? No: none of the unauthenticated actions ran.
	if paused, cancelled, _, _ := f.store.Control(context.Background(), "c1"); paused || cancelled {
		t.Fatalf("an unauthenticated action ran: paused=%v cancelled=%v", paused, cancelled)
	}
}

func TestMonitoringHasItsOwnCSPAndPagesAllowNoScript(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	page := f.do("GET", "/campaigns/c1", nil, authed).Header().Get("Content-Security-Policy")
	if strings.Contains(page, "script-src") || strings.Contains(page, "unsafe-inline") || !strings.Contains(page, "default-src 'none'") {
		t.Errorf("page CSP %q must allow no script", page)
	}
	mon := f.do("GET", "/monitoring/", nil, authed)
	if mon.Code != 200 || !strings.Contains(mon.Body.String(), "Asynq") {
		t.Fatalf("GET /monitoring/: got %d %q", mon.Code, mon.Body.String()[:min(200, mon.Body.Len())])
	}
	if csp := mon.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' 'unsafe-inline'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("monitoring CSP %q", csp)
	}
}

// csrfToken reads the token rendered in the campaign page's forms.
func (f *fixture) csrfToken(cred func(*http.Request)) string {
	f.t.Helper()
	rec := f.do("GET", "/campaigns/c1", nil, cred)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		f.t.Fatalf("no csrf_token in the campaign page:\n%s", rec.Body.String())
	}
	return m[1]
}

func (f *fixture) state() campaign.State {
	f.t.Helper()
	var sum campaign.Summary
	rec := f.do("GET", "/api/campaigns/c1", nil, authed)
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil {
		f.t.Fatalf("GET /api/campaigns/c1: %d %v", rec.Code, err)
	}
	return sum.State
}

func TestActionsArePostOnlyWithCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	for _, path := range []string{"/api/campaigns/c1/pause", "/campaigns/c1/pause", "/api/campaigns/c1/retry", "/campaigns/c1/cancel"} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			if rec := f.do(method, path, nil, authed); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: got %d, want 405", method, path, rec.Code)
			}
		}
	}
	token := f.csrfToken(authed)
	form := func(tok string) io.Reader { return strings.NewReader(url.Values{"csrf_token": {tok}}.Encode()) }
	refused := []struct {
		name string
		rec  *httptest.ResponseRecorder
	}{
		{"API without token", f.do("POST", "/api/campaigns/c1/pause", nil, authed)},
		{"form without token", f.do("POST", "/campaigns/c1/pause", form(""), authed)},
		{"form with a forged token", f.do("POST", "/campaigns/c1/pause", form(token[:len(token)-2]+"xx"), authed)},
		{"API with another principal's token", f.do("POST", "/api/campaigns/c1/pause", nil, authed,
			header("X-CSRF-Token", (&csrfTokens{key: []byte("other")}).token(principal{name: "user:" + testUser})))},
		{"cross-site form with the token", f.do("POST", "/campaigns/c1/pause", form(token), authed, header("Sec-Fetch-Site", "cross-site"))},
		{"cross-origin API with the token", f.do("POST", "/api/campaigns/c1/pause", nil, authed,
			header("X-CSRF-Token", token), header("Origin", "https://evil.example"))},
	}
	for _, r := range refused {
		if r.rec.Code != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", r.name, r.rec.Code)
		}
	}
	if st := f.state(); st != campaign.StateRunning {
		t.Fatalf("after refused actions the campaign is %s, want running", st)
	}

	// The page's form, with its token: 303 back to the page, which says so.
	rec := f.do("POST", "/campaigns/c1/pause", form(token), authed, header("Sec-Fetch-Site", "same-origin"))
	if rec.Code != http.StatusSeeOther || f.state() != campaign.StatePaused {
		t.Fatalf("form pause: got %d, state %s; want 303 and paused", rec.Code, f.state())
	}
	page := f.do("GET", rec.Header().Get("Location"), nil, authed).Body.String()
	if !strings.Contains(page, "Paused: workers stop sending") || !strings.Contains(page, `id="resume"`) {
		t.Fatalf("page after pause lacks the note or the resume button:\n%s", page)
	}
	// The JSON API with the header token, as API reads hand it out.
	if got := f.do("GET", "/api/campaigns", nil, authed).Header().Get("X-CSRF-Token"); got != token {
		t.Fatalf("GET /api/campaigns: X-CSRF-Token %q, want the page's %q", got, token)
	}
	rec = f.do("POST", "/api/campaigns/c1/resume", nil, authed, header("X-CSRF-Token", token))
	var res actionResult
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.Campaign.State != campaign.StateRunning {
		t.Fatalf("API resume: got %d %s", rec.Code, rec.Body.String())
	}
	// A reason is stored and shown: it is bounded.
	long := url.Values{"reason": {strings.Repeat("x", maxReason+1)}}.Encode()
	if rec := f.do("POST", "/api/campaigns/c1/pause", strings.NewReader(long), bearer(testToken)); rec.Code != http.StatusBadRequest {
		t.Errorf("pause with a %d-character reason: got %d, want 400", maxReason+1, rec.Code)
	}
	// A bearer token is never sent by a browser on its own: no CSRF token needed.
	rec = f.do("POST", "/api/campaigns/c1/cancel", nil, bearer(testToken))
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.Campaign.State != campaign.StateCancelled {
		t.Fatalf("bearer cancel: got %d %s", rec.Code, rec.Body.String())
	}
	if cancelled := res.Campaign.Cancelled; cancelled != 3 {
		t.Fatalf("cancel: got %d cancelled, want the 3 pending", cancelled)
	}
	// Pausing a cancelled campaign is a conflict, an unknown one is 404.
	if rec := f.do("POST", "/api/campaigns/c1/pause", nil, bearer(testToken)); rec.Code != http.StatusConflict {
		t.Errorf("pause after cancel: got %d %s, want 409", rec.Code, rec.Body.String())
	}
	if rec := f.do("POST", "/api/campaigns/ghost/pause", nil, bearer(testToken)); rec.Code != http.StatusNotFound ||
		!strings.Contains(rec.Body.String(), "campaign not found") {
		t.Errorf("pause of an unknown campaign: got %d %s, want 404", rec.Code, rec.Body.String())
	}
	if rec := f.do("POST", "/api/campaigns/c1/explode", nil, bearer(testToken)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown action: got %d, want 404", rec.Code)
	}
}

// A cancelled campaign stays cancelled: the API answers 409 with a JSON
// error naming why, the page says so; an unknown campaign is a 404.
func TestActionsOnACancelledCampaignAreConflicts(t *testing.T) {
	f := newFixture(t, false)
	if rec := f.do("POST", "/api/campaigns/c1/cancel", nil, bearer(testToken)); rec.Code != http.StatusOK {
		t.Fatalf("cancel: got %d %s", rec.Code, rec.Body.String())
	}
	for _, action := range []string{"resume", "pause", "retry"} {
		t.Run("API "+action, func(t *testing.T) {
			rec := f.do("POST", "/api/campaigns/c1/"+action, nil, bearer(testToken))
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusConflict ||
				rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %q (%s), want 409 with a JSON body", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
			}
			if want := "cannot " + action + " campaign c1: campaign is cancelled"; body["error"] != want {
				t.Fatalf("got error %q, want %q", body["error"], want)
			}
		})
	}
	t.Run("page resume", func(t *testing.T) {
		// A cancelled campaign's page has no buttons: a stale page's form.
		token := f.do("GET", "/api/campaigns/c1", nil, authed).Header().Get("X-CSRF-Token")
		form := strings.NewReader(url.Values{"csrf_token": {token}}.Encode())
		rec := f.do("POST", "/campaigns/c1/resume", form, authed, header("Sec-Fetch-Site", "same-origin"))
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("got %d %s, want 303 back to the page", rec.Code, rec.Body.String())
		}
		page := f.do("GET", rec.Header().Get("Location"), nil, authed)
		want := `<p class="error" id="note">Could not resume: the campaign is cancelled, and a cancelled campaign stays cancelled.</p>`
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), want) || strings.Contains(page.Body.String(), "internal error") {
			t.Fatalf("got %d, want the page saying %q:\n%s", page.Code, want, page.Body.String())
		}
	})
	if st := f.state(); st != campaign.StateCancelled {
		t.Fatalf("after the refused actions: got %s, want cancelled", st)
	}
	for _, path := range []string{"/api/campaigns/ghost/resume", "/api/campaigns/ghost"} {
		method := "POST"
		if !strings.HasSuffix(path, "resume") {
			method = "GET"
		}
		rec := f.do(method, path, nil, bearer(testToken))
		var body map[string]string
		if json.Unmarshal(rec.Body.Bytes(), &body) != nil || rec.Code != http.StatusNotFound || body["error"] != "campaign not found: ghost" {
			t.Errorf("%s %s: got %d %s, want 404 campaign not found: ghost", method, path, rec.Code, rec.Body.String())
		}
	}
}

func TestRepeatedLoginFailuresAreThrottledPerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	for i := range failureBurst {
		if rec := f.do("GET", "/campaigns", nil, basic(testUser, fmt.Sprint("guess", i)), fromIP("203.0.113.9")); rec.Code != 401 {
			t.Fatalf("failure %d: got %d, want 401", i+1, rec.Code)
		}
	}
	// Bare requests (a browser's first, before its prompt) do not count.
	rec := f.do("GET", "/campaigns", nil, authed, fromIP("203.0.113.9"))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d failures, even the right password: got %d (Retry-After %q), want 429", failureBurst, rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := f.do("GET", "/campaigns", nil, authed, fromIP("203.0.113.10")); rec.Code != 200 {
		t.Fatalf("another IP: got %d, want 200", rec.Code)
	}
	now = now.Add(failureRefill)
	if rec := f.do("GET", "/campaigns", nil, authed, fromIP("203.0.113.9")); rec.Code != 200 {
		t.Fatalf("after %s: got %d, want 200 again", failureRefill, rec.Code)
	}
	for range 3 {
		f.do("GET", "/campaigns", nil, func(*http.Request) {}, fromIP("203.0.113.11"))
	}
	if rec := f.do("GET", "/campaigns", nil, authed, fromIP("203.0.113.11")); rec.Code != 200 {
		t.Fatalf("bare requests were counted as failures: got %d", rec.Code)
	}
}

func TestMonitoringIsReadOnlyUnlessAdmin(t *testing.T) {
	t.Parallel()
	for _, admin := range []bool{false, true} {
		f := newFixture(t, admin)
		rec := f.do("POST", "/monitoring/api/queues/default:pause", nil, authed, header("Sec-Fetch-Site", "same-origin"))
		if admin && rec.Code == http.StatusForbidden {
			t.Errorf("--admin: asynqmon's pause was refused: %s", rec.Body.String())
		}
		if !admin && (rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--admin")) {
			t.Errorf("read-only: POST to asynqmon's API: got %d %q, want 403 naming --admin", rec.Code, rec.Body.String())
		}
		if rec := f.do("DELETE", "/monitoring/api/queues/default", nil, authed); !admin && rec.Code != http.StatusForbidden {
			t.Errorf("read-only: DELETE to asynqmon's API: got %d, want 403", rec.Code)
		}
		if !admin {
			continue
		}
		// Even as admin, a cross-site page cannot drive asynqmon's buttons.
		if rec := f.do("POST", "/monitoring/api/queues/default:resume", nil, authed, header("Sec-Fetch-Site", "cross-site")); rec.Code != http.StatusForbidden {
			t.Errorf("admin, cross-site POST to asynqmon: got %d, want 403", rec.Code)
		}
	}
}

func TestAPIMatchesStatusAndPagesShowIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	rec := f.do("GET", "/api/campaigns/c1", nil, authed)
	var sum campaign.Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/campaigns/c1: %v %q", err, rec.Body.String())
	}
	want, _ := f.srv.cfg.Campaigns.Status(context.Background(), "c1") // what `campaign status --json` prints
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(sum)
	if sum.Total != 10 || sum.Sent != 6 || sum.Failed != 1 || sum.Pending != 3 || string(gotJSON) != string(wantJSON) {
		t.Fatalf("API:\n%s\nstatus:\n%s", gotJSON, wantJSON)
	}
	var list []campaign.Summary
	if err := json.Unmarshal(f.do("GET", "/api/campaigns", nil, authed).Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].CampaignID != "c1" {
		t.Fatalf("GET /api/campaigns: %v %+v", err, list)
	}
	if rec := f.do("GET", "/api/campaigns/ghost", nil, authed); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("unknown campaign: got %d %s", rec.Code, rec.Body.String())
	}
	if rec := f.do("GET", "/campaigns/bad%20id!", nil, authed); rec.Code != 404 {
		t.Fatalf("invalid ID page: got %d", rec.Code)
	}

	page := f.do("GET", "/campaigns/c1", nil, authed).Body.String()
	for _, s := range []string{
		`data-field="total">10<`, `data-field="sent">6<`, `data-field="pending">3<`, `data-field="percent">70<`,
		`data-send-error="rejected by Sinch: 400 INVALID_ARGUMENT">1<`, `id="retry"`,
		`data-outcome="delivered">2<`, `data-outcome="failed">1<`, `data-reason="RECIPIENT_NOT_REACHABLE">1<`,
		`data-channel="SMS">1<`, `data-channel="WHATSAPP">1<`, `data-field="channel_switches">1<`,
		`<svg id="rate-chart"`, `class="bar"`, `http-equiv="refresh"`, `id="pause"`, `id="cancel"`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("campaign page lacks %s", s)
		}
	}
	if strings.Contains(page, "+1555") {
		t.Error("campaign page shows a phone number")
	}
	list1 := f.do("GET", "/campaigns", nil, authed).Body.String()
	for _, s := range []string{`data-campaign="c1"`, `<progress value="7" max="10">`, `data-field="delivered">2<`} {
		if !strings.Contains(list1, s) {
			t.Errorf("list page lacks %s", s)
		}
	}
}

func TestChartGroupsSecondsIntoBars(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	series := make([]int64, 600)
	for i := range series {
		series[i] = int64(i / 60) // 0/s for a minute, then 1/s, … 9/s
	}
	c := chartOf(series, start)
	if len(c.Bars) != 60 || c.BucketSeconds != 10 || c.Peak != "9.0" || c.End != "12:09:59 UTC" {
		t.Fatalf("got %d bars of %ds, peak %s, end %s", len(c.Bars), c.BucketSeconds, c.Peak, c.End)
	}
	if c.Bars[0].H != 0 || c.Bars[59].H != float64(c.Height-10) || c.Bars[59].Y != 10 {
		t.Fatalf("first bar %+v, last bar %+v", c.Bars[0], c.Bars[59])
	}
	if !chartOf(nil, start).Empty {
		t.Fatal("no sends: want an empty chart")
	}
}

func TestAuthSettingsAreCheckedForTheAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		auth Auth
		want error
		name string
	}{
		{"127.0.0.1:8080", Auth{}, nil, ""},
		{"localhost:8080", Auth{}, nil, ""},
		{"[::1]:8080", Auth{}, nil, ""},
		{"0.0.0.0:8080", Auth{}, ErrOpenOnNetwork, "DASHBOARD_USER"},
		{":8080", Auth{}, ErrOpenOnNetwork, "--addr :8080"},
		{"10.0.0.5:8080", Auth{}, ErrOpenOnNetwork, "DASHBOARD_TOKEN"},
		{"0.0.0.0:8080", Auth{Token: "t"}, nil, ""},
		{"0.0.0.0:8080", Auth{User: "u", Password: "p"}, nil, ""},
		{"0.0.0.0:8080", Auth{User: "u"}, ErrHalfCredential, "DASHBOARD_PASSWORD"},
		{"127.0.0.1:8080", Auth{Password: "p"}, ErrHalfCredential, "DASHBOARD_USER"},
	}
	for _, c := range cases {
		err := c.auth.Validate(c.addr)
		if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Errorf("%s %+v: got %v, want %v", c.addr, c.auth.Enabled(), err, c.want)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %q does not name %s", c.addr, err, c.name)
		}
		if err != nil && strings.Contains(err.Error(), "p\"") {
			t.Errorf("error shows a secret: %q", err)
		}
	}
}

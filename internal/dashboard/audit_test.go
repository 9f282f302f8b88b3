package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

func TestEveryActionIsAuditedWithWhoWhereAndResult(t *testing.T) {
	f := newFixtureAuth(t, false, usersAuth(t))
	before := time.Now().UTC().Add(-time.Second)
	otto, vera := basic("otto", "pw-otto"), basic("vera", "pw-vera")
	ottoToken := f.apiCSRF(otto)
	form := url.Values{csrfField: {ottoToken}, "reason": {"call +15550000001 first"}}.Encode()
	steps := []struct {
		method, path string
		opts         []func(*http.Request)
		wantStatus   int
		form         string
	}{
		{"POST", "/campaigns/c1/pause", []func(*http.Request){otto, fromIP("192.0.2.10")}, http.StatusSeeOther, form},
		{"POST", "/api/campaigns/c1/resume", []func(*http.Request){otto, header(csrfHeader, ottoToken), fromIP("192.0.2.10")}, http.StatusOK, ""},
		{"POST", "/api/campaigns/c1/cancel", []func(*http.Request){vera, header(csrfHeader, f.apiCSRF(vera)), fromIP("192.0.2.20")}, http.StatusForbidden, ""},
		{"POST", "/api/campaigns/c1/retry", []func(*http.Request){bearer(testToken), fromIP("192.0.2.30")}, http.StatusOK, ""},
		{"POST", "/api/campaigns/c1/pause", []func(*http.Request){authed, fromIP("192.0.2.40")}, http.StatusForbidden, ""}, // no CSRF token
		{"POST", "/api/campaigns/c1/cancel", []func(*http.Request){authed, header(csrfHeader, f.apiCSRF(authed)), fromIP("192.0.2.40")}, http.StatusOK, ""},
		{"POST", "/api/campaigns/c1/pause", []func(*http.Request){bearer(testToken), fromIP("192.0.2.30")}, http.StatusConflict, ""},
		// Not recorded: no such campaign, no such action.
		{"POST", "/api/campaigns/ghost/pause", []func(*http.Request){bearer(testToken)}, http.StatusNotFound, ""},
		{"POST", "/api/campaigns/c1/explode", []func(*http.Request){bearer(testToken)}, http.StatusNotFound, ""},
	}
	for i, s := range steps {
		var body io.Reader
		if s.form != "" {
			body = strings.NewReader(s.form)
		}
		if got := f.do(s.method, s.path, body, s.opts...).Code; got != s.wantStatus {
			t.Fatalf("step %d %s %s: got %d, want %d", i, s.method, s.path, got, s.wantStatus)
		}
	}
	want := []campaign.AuditEntry{ // newest first
		{User: "bearer", Role: "operator", Action: "pause", Addr: "192.0.2.30", Status: 409, Result: "conflict"},
		{User: "user:" + testUser, Role: "admin", Action: "cancel", Addr: "192.0.2.40", Status: 200, Result: "ok"},
		{User: "user:" + testUser, Role: "admin", Action: "pause", Addr: "192.0.2.40", Status: 403, Result: "forbidden"},
		{User: "bearer", Role: "operator", Action: "retry", Addr: "192.0.2.30", Status: 200, Result: "ok"},
		{User: "user:vera", Role: "viewer", Action: "cancel", Addr: "192.0.2.20", Status: 403, Result: "forbidden"},
		{User: "user:otto", Role: "operator", Action: "resume", Addr: "192.0.2.10", Status: 200, Result: "ok"},
		{User: "user:otto", Role: "operator", Action: "pause", Addr: "192.0.2.10", Status: 303, Result: "ok"},
	}

	rec := f.do("GET", "/api/campaigns/c1/audit", nil, vera)
	var got []campaign.AuditEntry
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
		t.Fatalf("GET /api/campaigns/c1/audit: got %d %v %s", rec.Code, err, rec.Body.String())
	}
	if len(got) != len(want) {
		t.Fatalf("got %d audit entries, want %d:\n%s", len(got), len(want), rec.Body.String())
	}
	for i, w := range want {
		g := got[i]
		if g.At.Before(before) || g.At.After(time.Now().UTC()) {
			t.Errorf("entry %d: at %s, want the time of the request", i, g.At)
		}
		g.At = time.Time{}
		if g != w {
			t.Errorf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
	for _, secret := range []string{testPassword, testToken, "pw-otto", "pw-vera", "+1555", "call "} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("the audit log holds %q:\n%s", secret, rec.Body.String())
		}
	}

	// The page shows them, newest first.
	page := f.do("GET", "/campaigns/c1", nil, vera).Body.String()
	first, last := strings.Index(page, `<tr data-audit-action="pause"><td>`), strings.LastIndex(page, `data-audit-action="pause"`)
	if strings.Count(page, "data-audit-action=") != len(want) || first < 0 || first == last {
		t.Fatalf("campaign page does not list the %d audit entries:\n%s", len(want), page)
	}
	for _, s := range []string{`data-audit="user">user:otto<`, `data-audit="addr">192.0.2.20<`, `data-audit="result">forbidden (403)<`,
		`data-audit="result">conflict (409)<`} {
		if !strings.Contains(page, s) {
			t.Errorf("campaign page lacks %s", s)
		}
	}
	if i, j := strings.Index(page, "conflict (409)"), strings.Index(page, `data-audit="user">user:otto<`); i > j {
		t.Error("campaign page does not list the newest entry first")
	}

	if n := f.store.Redis().Exists(context.Background(), "sd:{ghost}:audit").Val(); n != 0 {
		t.Error("an action on an unknown campaign created an audit log")
	}
	if rec := f.do("GET", "/api/campaigns/ghost/audit", nil, vera); rec.Code != http.StatusNotFound {
		t.Errorf("audit of an unknown campaign: got %d, want 404", rec.Code)
	}
}

func TestACampaignWithoutActionsSaysSo(t *testing.T) {
	f := newFixture(t, false)
	if page := f.do("GET", "/campaigns/c1", nil, authed).Body.String(); !strings.Contains(page, `id="no-audit"`) {
		t.Error("campaign page without actions lacks the empty audit note")
	}
	rec := f.do("GET", "/api/campaigns/c1/audit", nil, authed)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("GET /api/campaigns/c1/audit: got %d %s, want 200 []", rec.Code, rec.Body.String())
	}
}

package e2etest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// usersFile writes a DASHBOARD_USERS_FILE with one user per name:role
// pair, each with the password "pw-" + secret + name, as htpasswd -B would.
func usersFile(t *testing.T, roles ...string) string {
	t.Helper()
	var b strings.Builder
	for _, nr := range roles {
		name, role, _ := strings.Cut(nr, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(userPassword(name)), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(name + ":$2y$" + strings.TrimPrefix(string(h), "$2a$") + ":" + role + "\n")
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func userPassword(name string) string { return "pw-" + secret + "-" + name }

// The dashboard command reads DASHBOARD_USERS_FILE: a viewer reads, an
// operator acts, and the campaign's audit log says who did what from where.
func TestDashboardUsersFileRolesAndAudit(t *testing.T) {
	s := newStack(t, sinchsim.Config{})
	s.enqueue("--campaign", "roles", "--csv", numbersCSV(t, []string{e164(1), e164(2)}), "--text", "Hi")
	base := s.startDashboard(map[string]string{"DASHBOARD_USERS_FILE": usersFile(t, "vera:viewer", "otto:operator")})

	call := func(user, method, path, csrf string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.SetBasicAuth(user, userPassword(user))
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// pause pauses the campaign as user, with the CSRF token the API hands out.
	pause := func(user string) (int, string) {
		t.Helper()
		resp, body := call(user, "GET", "/api/campaigns/roles", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET as %s: got %d %s", user, resp.StatusCode, body)
		}
		resp, body = call(user, "POST", "/api/campaigns/roles/pause", resp.Header.Get("X-CSRF-Token"))
		return resp.StatusCode, body
	}
	if code, body := pause("vera"); code != http.StatusForbidden || !strings.Contains(body, "needs the operator role") {
		t.Fatalf("viewer pause: got %d %s, want 403 naming the operator role", code, body)
	}
	if code, body := pause("otto"); code != http.StatusOK {
		t.Fatalf("operator pause: got %d %s, want 200", code, body)
	}
	if st := s.statusJSON("roles").State; st != campaign.StatePaused {
		t.Fatalf("after the operator's pause the campaign is %s, want paused", st)
	}
	var audit []campaign.AuditEntry
	getAs(t, base+"/api/campaigns/roles/audit", "vera", userPassword("vera"), &audit)
	if len(audit) != 2 {
		t.Fatalf("got %d audit entries, want 2: %+v", len(audit), audit)
	}
	for i, want := range []struct{ user, result string }{{"user:otto", "ok"}, {"user:vera", "forbidden"}} {
		if e := audit[i]; e.User != want.user || e.Action != "pause" || e.Result != want.result || e.Addr != "127.0.0.1" {
			t.Errorf("audit entry %d: got %+v, want %s pause %s from 127.0.0.1", i, e, want.user, want.result)
		}
	}
}

// getAs GETs url with Basic credentials and decodes it.
func getAs(t *testing.T, url, user, password string, v any) {
	t.Helper()
	if err := json.Unmarshal(getRaw(t, url, user, password), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// getRaw GETs url with Basic credentials and returns the body of its 200.
func getRaw(t *testing.T, url, user, password string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s as %s: %s", url, user, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return b
}

// In a browser, a viewer's campaign page has no action buttons, and an
// operator's Pause button pauses the campaign and lands in the audit log
// shown under it.
func TestDashboardRolesInChromium(t *testing.T) {
	chromiumPath(t)
	s := newStack(t, sinchsim.Config{})
	s.enqueue("--campaign", "roles-web", "--csv", numbersCSV(t, []string{e164(1), e164(2)}), "--text", "Hi")
	base := s.startDashboard(map[string]string{"DASHBOARD_USERS_FILE": usersFile(t, "vera:viewer", "otto:operator")}, "--refresh", "10m")
	page := base + "/campaigns/roles-web"

	viewer, _ := browser(t, "vera", userPassword("vera"))
	if err := chromedp.Do(viewer, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("campaign-id"))); err != nil {
		t.Fatalf("campaign page as a viewer: %v", err)
	}
	buttons, err := chromedp.Run(viewer, chromedp.Evaluate[int](`document.querySelectorAll('form, button').length`))
	if err != nil || buttons != 0 {
		t.Fatalf("the viewer's campaign page has %d forms and buttons (err %v), want none", buttons, err)
	}

	operator, _ := browser(t, "otto", userPassword("otto"))
	if err := chromedp.Do(operator, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("pause")),
		chromedp.Click(chromedp.ID("pause")), chromedp.WaitVisible(chromedp.ID("note"))); err != nil {
		t.Fatalf("pause as an operator: %v", err)
	}
	got := texts(t, operator, map[string]string{
		"state": `h1 [data-field="state"]`, "user": `tr[data-audit-action="pause"] [data-audit="user"]`,
		"result": `tr[data-audit-action="pause"] [data-audit="result"]`, "addr": `tr[data-audit-action="pause"] [data-audit="addr"]`,
	})
	compare(t, "campaign page after the operator's pause", got, map[string]string{
		"state": string(campaign.StatePaused), "user": "user:otto", "result": "ok (303)", "addr": "127.0.0.1",
	})
	shots := t.TempDir()
	if dir := os.Getenv("DASHBOARD_SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	screenshot(t, operator, shots, "campaign-audit")
}

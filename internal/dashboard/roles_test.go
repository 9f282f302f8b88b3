package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// File users of the role tests, one per role; each password is "pw-" and
// the name.
var fileUsers = []struct {
	name string
	role Role
}{{"vera", RoleViewer}, {"otto", RoleOperator}, {"ada", RoleAdmin}}

// usersAuth is the legacy user and token plus one file user per role.
func usersAuth(t *testing.T) Auth {
	t.Helper()
	var lines []string
	for _, u := range fileUsers {
		lines = append(lines, u.name+":"+hashOf(t, "pw-"+u.name, "$2y$")+":"+u.role.String())
	}
	users, err := ReadUsers("users", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return Auth{User: testUser, Password: testPassword, Token: testToken, Users: users}
}

// apiCSRF is the CSRF token the API hands cred's principal.
func (f *fixture) apiCSRF(cred func(*http.Request)) string {
	f.t.Helper()
	rec := f.do("GET", "/api/campaigns", nil, cred)
	if rec.Code != http.StatusOK || rec.Header().Get(csrfHeader) == "" {
		f.t.Fatalf("GET /api/campaigns: got %d without a CSRF token", rec.Code)
	}
	return rec.Header().Get(csrfHeader)
}

func TestEachRoleGetsItsRoutesAndA403ForTheRest(t *testing.T) {
	principals := []struct {
		name string
		cred func(*http.Request)
		role Role
	}{
		{"viewer (file)", basic("vera", "pw-vera"), RoleViewer},
		{"operator (file)", basic("otto", "pw-otto"), RoleOperator},
		{"admin (file)", basic("ada", "pw-ada"), RoleAdmin},
		{"DASHBOARD_USER", authed, RoleAdmin},
		{"DASHBOARD_TOKEN", bearer(testToken), RoleOperator},
	}
	// Each kind of route and the least role it needs.
	routes := []struct {
		method, path string
		form         bool // a page's form (else the API, with the header token)
		need         Role
	}{
		{"GET", "/campaigns", false, RoleViewer},
		{"GET", "/campaigns/c1", false, RoleViewer},
		{"GET", "/api/campaigns", false, RoleViewer},
		{"GET", "/api/campaigns/c1", false, RoleViewer},
		{"GET", "/api/campaigns/c1/audit", false, RoleViewer},
		{"GET", "/metrics", false, RoleViewer},
		{"GET", "/static/style.css", false, RoleViewer},
		{"GET", "/monitoring/", false, RoleViewer},
		{"GET", "/monitoring/api/queues", false, RoleViewer},
		{"POST", "/api/campaigns/c1/pause", false, RoleOperator},
		{"POST", "/campaigns/c1/resume", true, RoleOperator},
		{"POST", "/api/campaigns/c1/retry", false, RoleOperator},
		{"POST", "/monitoring/api/queues/default:pause", false, RoleAdmin},
		{"POST", "/monitoring/api/queues/default:resume", false, RoleAdmin},
	}
	for _, p := range principals {
		t.Run(p.name, func(t *testing.T) {
			f := newFixtureAuth(t, true, usersAuth(t))
			token := f.apiCSRF(p.cred)
			for _, rt := range routes {
				var body io.Reader
				opts := []func(*http.Request){p.cred}
				if rt.method == "POST" {
					if rt.form {
						body = strings.NewReader(url.Values{csrfField: {token}}.Encode())
					} else {
						opts = append(opts, header(csrfHeader, token))
					}
				}
				rec := f.do(rt.method, rt.path, body, opts...)
				allowed := p.role >= rt.need
				switch {
				case allowed && rec.Code >= 400:
					t.Errorf("%s %s as %s: got %d %s, want it allowed", rt.method, rt.path, p.role, rec.Code, rec.Body.String())
				case !allowed && rec.Code != http.StatusForbidden:
					t.Errorf("%s %s as %s: got %d, want 403", rt.method, rt.path, p.role, rec.Code)
				case !allowed && !rt.form:
					var e struct{ Error string }
					if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Header().Get("Content-Type") != "application/json" ||
						!strings.Contains(e.Error, "needs the "+rt.need.String()+" role") {
						t.Errorf("%s %s as %s: got %q (%s), want a JSON error naming the %s role", rt.method, rt.path, p.role,
							rec.Body.String(), rec.Header().Get("Content-Type"), rt.need)
					}
				case !allowed && !strings.Contains(rec.Body.String(), "needs the "+rt.need.String()+" role"):
					t.Errorf("%s %s as %s: the 403 page does not name the %s role:\n%s", rt.method, rt.path, p.role, rt.need, rec.Body.String())
				}
			}
			// What the role may do is what it is shown: a viewer gets no
			// action buttons, asynqmon's buttons are for admins only.
			page := f.do("GET", "/campaigns/c1", nil, p.cred).Body.String()
			buttons := strings.Contains(page, `id="cancel"`) && strings.Contains(page, `id="retry"`)
			if want := p.role >= RoleOperator; buttons != want || strings.Contains(page, "<form") != want {
				t.Errorf("campaign page as %s: action buttons %v, want %v", p.role, buttons, want)
			}
			mon := f.do("GET", "/monitoring/", nil, p.cred).Body.String()
			want := fmt.Sprintf(`READ_ONLY="%v"`, p.role < RoleAdmin)
			if !strings.Contains(mon, want) {
				t.Errorf("task monitor as %s: want %s in the page", p.role, want)
			}
		})
	}
}

func TestWithoutAdminFlagNobodyChangesTasks(t *testing.T) {
	f := newFixtureAuth(t, false, usersAuth(t))
	for _, cred := range []func(*http.Request){basic("ada", "pw-ada"), authed} {
		rec := f.do("POST", "/monitoring/api/queues/default:pause", nil, cred)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--admin") {
			t.Errorf("admin without --admin: got %d %q, want 403 naming --admin", rec.Code, rec.Body.String())
		}
		if mon := f.do("GET", "/monitoring/", nil, cred).Body.String(); !strings.Contains(mon, `READ_ONLY="true"`) {
			t.Error("admin without --admin: asynqmon shows its write buttons")
		}
	}
}

func TestLoginsAreThrottledAndCachedForFileUsers(t *testing.T) {
	f := newFixtureAuth(t, false, usersAuth(t))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	ip := fromIP("203.0.113.20")
	// Known and unknown names fail alike and count alike.
	for i := range failureBurst {
		cred := basic("vera", fmt.Sprint("guess", i))
		if i%2 == 1 {
			cred = basic(fmt.Sprint("nobody", i), "pw-vera")
		}
		if rec := f.do("GET", "/campaigns", nil, cred, ip); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d, want 401", i+1, rec.Code)
		}
	}
	if rec := f.do("GET", "/campaigns", nil, basic("vera", "pw-vera"), ip); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures, vera's right password: got %d, want 429", failureBurst, rec.Code)
	}
	// Another address logs in; the login is remembered, for its password only.
	other := fromIP("203.0.113.21")
	if rec := f.do("GET", "/campaigns", nil, basic("vera", "pw-vera"), other); rec.Code != http.StatusOK {
		t.Fatalf("vera from another address: got %d, want 200", rec.Code)
	}
	if c, ok := f.srv.auth.logins["vera"]; !ok || c.p.role != RoleViewer || c.sum == f.srv.auth.passwordSum("pw-other") {
		t.Fatalf("vera's login is not cached as a viewer: %+v %v", c, ok)
	}
	if rec := f.do("GET", "/campaigns", nil, basic("vera", "pw-otto"), other); rec.Code != http.StatusUnauthorized {
		t.Fatalf("vera with another password while her login is cached: got %d, want 401", rec.Code)
	}
	if rec := f.do("GET", "/campaigns", nil, basic("vera", "pw-vera"), other); rec.Code != http.StatusOK {
		t.Fatalf("vera again: got %d, want 200", rec.Code)
	}
	// Past its TTL the cache is not trusted: bcrypt decides again.
	f.srv.auth.logins["vera"] = cachedLogin{sum: f.srv.auth.passwordSum("stale"), p: principal{name: "user:vera", role: RoleAdmin}, until: now}
	if rec := f.do("GET", "/campaigns", nil, basic("vera", "stale"), other); rec.Code != http.StatusUnauthorized {
		t.Fatalf("an expired cached login was accepted: got %d, want 401", rec.Code)
	}
}

func TestUnknownNamesAreCheckedAgainstADummyHashOfTheUsersCost(t *testing.T) {
	a := newAuthenticator(usersAuth(t))
	if len(a.dummy) == 0 {
		t.Fatal("no dummy hash with file users")
	}
	if got, want := string(a.dummy[:7]), "$2a$04$"; got != want { // hashOf's MinCost
		t.Errorf("dummy hash %s…, want the users' cost: %s…", got, want)
	}
	if newAuthenticator(Auth{User: "u", Password: "p"}).dummy != nil {
		t.Error("a dummy hash without file users: DASHBOARD_USER alone needs no bcrypt")
	}
}

func TestConcurrentGuessesFromOneIPGetTheBurstOnly(t *testing.T) {
	f := newFixtureAuth(t, false, usersAuth(t))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	const guesses = 3 * failureBurst
	codes := make(chan int, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/campaigns", nil)
			req.SetBasicAuth("vera", fmt.Sprint("guess", i))
			req.RemoteAddr = "203.0.113.30:40000"
			f.srv.ServeHTTP(rec, req)
			codes <- rec.Code
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusUnauthorized] != failureBurst || got[http.StatusTooManyRequests] != guesses-failureBurst {
		t.Fatalf("%d concurrent wrong passwords: got %v, want %d × 401 and the rest 429", guesses, got, failureBurst)
	}
}

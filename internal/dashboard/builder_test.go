package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// builderCSV is a ;-separated windows-1252 file: row 3 has a number that
// is no phone number, row 5 repeats row 2, national numbers are French.
var builderCSV = "phone;first_name\r\n06 12 34 56 01;Ren\xe9\r\nnot-a-number;Bob\r\n+33612345602;Zo\xe9\r\n06 12 34 56 01;Ren\xe9\r\n"

// upload posts the upload form; fields are sent in the order given, the
// file last.
func (f *fixture) upload(cred func(*http.Request), fields [][2]string, name, data string) *http.Response {
	f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range fields {
		mw.WriteField(kv[0], kv[1])
	}
	fw, _ := mw.CreateFormFile("csv", name)
	fw.Write([]byte(data))
	mw.Close()
	rec := f.do("POST", "/campaigns/new", &body, cred, header("Content-Type", mw.FormDataContentType()))
	return rec.Result()
}

// uploadFile uploads builderCSV as the DASHBOARD_USER and returns the
// upload's ID.
func (f *fixture) uploadFile() string {
	f.t.Helper()
	res := f.upload(authed, [][2]string{{"csrf_token", f.csrfToken(authed)}, {"delimiter", ";"},
		{"default_region", "fr"}, {"encoding", "windows-1252"}}, "Spring sale.csv", builderCSV)
	loc := res.Header.Get("Location")
	m := regexp.MustCompile(`^/campaigns/new/([A-Z2-7]{26})$`).FindStringSubmatch(loc)
	if res.StatusCode != http.StatusSeeOther || m == nil {
		f.t.Fatalf("upload: got %d Location %q, want 303 to /campaigns/new/ID", res.StatusCode, loc)
	}
	return m[1]
}

func (f *fixture) review(id string, form url.Values) (int, string) {
	f.t.Helper()
	form.Set("csrf_token", f.csrfToken(authed))
	rec := f.do("POST", "/campaigns/new/"+id, strings.NewReader(form.Encode()), authed)
	return rec.Code, rec.Body.String()
}

func TestBuilderUploadIsStoredAndReviewedThroughADryRun(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	stored, err := os.ReadFile(filepath.Join(f.srv.uploads.dir, id+".csv"))
	if err != nil || string(stored) != builderCSV {
		t.Fatalf("stored upload: got %q, %v; want the file as sent", stored, err)
	}

	rec := f.do("GET", "/campaigns/new/"+id, nil, authed)
	page := rec.Body.String()
	for _, want := range []string{`data-column="first_name"`, `id="phone-column">phone<`, `value="spring-sale"`,
		`data-field="rows">4<`, `data-field="valid">2<`, `data-field="rejected">1<`, `data-field="duplicates">1<`,
		`Write a message to see it personalised.`} {
		if rec.Code != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("review page: got %d without %q:\n%s", rec.Code, want, page)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("review page CSP: got %q, want script-src 'self' without unsafe-inline", csp)
	}

	// The JSON preview the page's script fetches.
	form := url.Values{"csrf_token": {f.csrfToken(authed)}, "campaign": {"spring"}, "text": {"Bonjour {{.first_name}} ✓"},
		"price_per_segment": {"0.01"}}
	rec = f.do("POST", "/campaigns/new/"+id+"/preview", strings.NewReader(form.Encode()), authed)
	var rv review
	if err := json.Unmarshal(rec.Body.Bytes(), &rv); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("preview: got %d %v:\n%s", rec.Code, err, rec.Body.String())
	}
	wantPreview := []previewRow{
		{Row: "2", Channel: "SMS", Identity: "+33612345601", Encoding: "UCS-2", Segments: "1", Characters: "14", Text: "Bonjour René ✓"},
		{Row: "4", Channel: "SMS", Identity: "+33612345602", Encoding: "UCS-2", Segments: "1", Characters: "13", Text: "Bonjour Zoé ✓"},
		// Valid rows, the duplicate too (it is dropped at launch).
		{Row: "5", Channel: "SMS", Identity: "+33612345601", Encoding: "UCS-2", Segments: "1", Characters: "14", Text: "Bonjour René ✓"},
	}
	if len(rv.Preview) != 3 || rv.Preview[0] != wantPreview[0] || rv.Preview[1] != wantPreview[1] || rv.Preview[2] != wantPreview[2] {
		t.Errorf("preview: got %+v, want %+v", rv.Preview, wantPreview)
	}
	if len(rv.Rejects) != 1 || rv.Rejects[0].Row != "3" || rv.Rejects[0].Column != "phone" {
		t.Errorf("rejects: got %+v, want row 3, column phone", rv.Rejects)
	}
	if rv.Cost == "" || !strings.Contains(rv.Cost, "0.02") {
		t.Errorf("cost: got %q, want 2 segments at 0.01", rv.Cost)
	}

	// A bad setting is named, and the page says so.
	form.Set("ttl", "1s")
	rec = f.do("POST", "/campaigns/new/"+id+"/preview", strings.NewReader(form.Encode()), authed)
	rv = review{}
	json.Unmarshal(rec.Body.Bytes(), &rv)
	if rv.Fields["ttl"] == "" || !strings.Contains(rv.Error, "ttl") {
		t.Errorf("ttl 1s: got fields %v error %q, want ttl named", rv.Fields, rv.Error)
	}

	// The Preview button (no script) renders the same on the page.
	code, page := f.review(id, url.Values{"op": {"preview"}, "campaign": {"spring"}, "text": {"Hi {{.first_name}}"}})
	if code != http.StatusOK || !strings.Contains(page, "Hi René") || !strings.Contains(page, `data-field="segments">1<`) {
		t.Errorf("Preview button: got %d without the personalised text:\n%s", code, page)
	}

	// Every rejected row, as CSV.
	rec = f.do("GET", "/campaigns/new/"+id+"/rejects.csv?text=x", nil, authed)
	if got := rec.Body.String(); rec.Code != http.StatusOK || !strings.HasPrefix(got, "row,column,reason\n3,phone,") {
		t.Errorf("rejects.csv: got %d %q, want the header and row 3", rec.Code, got)
	}
}

func TestBuilderLaunchesOnceAndAudits(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	form := url.Values{"op": {"launch"}, "campaign": {"spring"}, "text": {"Hi {{.first_name}}"}, "launch_key": {"k1"}}
	var locs []string
	for range 2 { // a resubmitted form
		form.Set("csrf_token", f.csrfToken(authed))
		rec := f.do("POST", "/campaigns/new/"+id, strings.NewReader(form.Encode()), authed)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("launch: got %d, want 303:\n%s", rec.Code, rec.Body.String())
		}
		locs = append(locs, rec.Header().Get("Location"))
	}
	if !strings.HasPrefix(locs[0], "/campaigns/spring?") || locs[1] != locs[0] {
		t.Errorf("launch redirects: got %q, want the campaign page twice", locs)
	}
	sum, err := f.srv.cfg.Campaigns.Status(context.Background(), "spring")
	if err != nil || sum.Total != 2 {
		t.Fatalf("campaign spring: got %+v, %v; want 2 recipients", sum, err)
	}
	entries, _ := f.srv.cfg.Campaigns.Audit(context.Background(), "spring", 0)
	if len(entries) != 1 || entries[0].Action != "launch" || entries[0].User != "user:"+testUser || entries[0].Status != http.StatusCreated {
		t.Errorf("audit log: got %+v, want one launch by %s", entries, testUser)
	}
	if _, err := os.Stat(filepath.Join(f.srv.uploads.dir, id+".csv")); !os.IsNotExist(err) {
		t.Errorf("upload after launch: got %v, want it deleted", err)
	}
	// The same key with other settings is refused.
	form.Set("text", "Other")
	form.Set("csrf_token", f.csrfToken(authed))
	rec := f.do("POST", "/campaigns/new/"+id, strings.NewReader(form.Encode()), authed)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other settings: got %d, want 422", rec.Code)
	}
}

// The builder's omnichannel settings reach the campaign as the other
// uploads' do: fallback order, content type and app; strict TTL refuses a
// campaign the app's rate cannot send within its TTL, keeping the form.
func TestBuilderLaunchesAnOmnichannelCampaignAndChecksItsTTL(t *testing.T) {
	f := newFixture(t, false)
	f.srv.cfg.Campaigns.SetRate(func(_ context.Context, app string) float64 {
		if app == "slow-app" {
			return 0.1 // 2 recipients: 20 s
		}
		return 20
	})
	id := f.uploadFile()
	form := url.Values{"op": {"launch"}, "campaign": {"omni"}, "text": {"Hi {{.first_name}}"}, "launch_key": {"k-omni"},
		"channels": {"WHATSAPP, SMS"}, "content_type": {"marketing"}, "app": {"app-2"}, "strict_ttl": {"1"}, "ttl": {"1h"}}
	if code, page := f.review(id, form); code != http.StatusSeeOther {
		t.Fatalf("launch: got %d, want 303:\n%s", code, page)
	}
	def, _, err := f.store.Lookup(context.Background(), "omni")
	if err != nil {
		t.Fatal(err)
	}
	if got := sinch.JoinChannels(def.Channels, ","); got != "WHATSAPP,SMS" || def.ContentType != sinch.ContentMarketing || def.App != "app-2" {
		t.Errorf("campaign omni: channels %q, content type %q, app %q; want WHATSAPP,SMS, %q, app-2",
			got, def.ContentType, def.App, sinch.ContentMarketing)
	}
	if rec := f.do("GET", "/campaigns/omni", nil, authed); !strings.Contains(rec.Body.String(), `id="content-type">Content: marketing`) ||
		!strings.Contains(rec.Body.String(), "Channel fallback: WHATSAPP &gt; SMS") {
		t.Errorf("campaign page: want its content type and fallback shown:\n%s", rec.Body.String())
	}

	id = f.uploadFile()
	form = url.Values{"op": {"launch"}, "campaign": {"too-slow"}, "text": {"Hi"}, "launch_key": {"k-slow"},
		"app": {"slow-app"}, "strict_ttl": {"1"}, "ttl": {"3s"}}
	code, page := f.review(id, form)
	if code != http.StatusBadRequest || !strings.Contains(page, "strict_ttl") || !strings.Contains(page, `id="review-form"`) ||
		!strings.Contains(page, `name="strict_ttl" id="strict-ttl" value="1" checked`) {
		t.Errorf("strict TTL launch: got %d, want 400 naming strict_ttl with the form kept:\n%s", code, page)
	}
	if _, _, err := f.store.Lookup(context.Background(), "too-slow"); !errors.Is(err, campaign.ErrCampaignNotFound) {
		t.Errorf("campaign too-slow after the refusal: got %v, want not found (nothing written)", err)
	}
}

func TestBuilderConcurrentLaunchesOfOneFormLaunchOnce(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	form := url.Values{"op": {"launch"}, "campaign": {"twice"}, "text": {"Hi"}, "launch_key": {"k2"},
		"csrf_token": {f.csrfToken(authed)}}
	locs := make(chan string, 2)
	for range 2 { // a double click: both requests at once
		go func() {
			rec := f.do("POST", "/campaigns/new/"+id, strings.NewReader(form.Encode()), authed)
			locs <- strconv.Itoa(rec.Code) + " " + rec.Header().Get("Location")
		}()
	}
	a, b := <-locs, <-locs
	if a != b || !strings.HasPrefix(a, "303 /campaigns/twice?") {
		t.Errorf("answers: got %q and %q, want the same 303 to the campaign", a, b)
	}
	entries, _ := f.srv.cfg.Campaigns.Audit(context.Background(), "twice", 0)
	if len(entries) != 1 {
		t.Errorf("audit log: got %d entries, want one launch", len(entries))
	}
}

func TestBuilderLaunchErrorsKeepTheForm(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no message", url.Values{"campaign": {"x1"}}, "Write the message"},
		{"bad ID", url.Values{"campaign": {"a b"}, "text": {"Hi"}}, "campaign:"},
		{"unknown column", url.Values{"campaign": {"x2"}, "text": {"Hi {{.nope}}"}}, "nope"},
	} {
		tc.form.Set("op", "launch")
		tc.form.Set("launch_key", "k-"+tc.name)
		code, page := f.review(id, tc.form)
		if code != http.StatusBadRequest || !strings.Contains(page, tc.want) || !strings.Contains(page, `id="review-form"`) {
			t.Errorf("%s: got %d, want 400 with the review form and %q:\n%s", tc.name, code, tc.want, page)
		}
	}
	if list, _ := f.srv.cfg.Campaigns.List(context.Background()); len(list) != 1 {
		t.Errorf("campaigns after refused launches: got %d, want only c1", len(list))
	}
}

func TestBuilderSendsATestAsItsOwnCampaign(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	form := url.Values{"op": {"test"}, "campaign": {"spring"}, "text": {"Hi {{.first_name}}"}, "test_to": {"06 99 88 77 66"}}
	code, page := f.review(id, form)
	if code != http.StatusOK || !strings.Contains(page, "Test queued") || !strings.Contains(page, `href="/campaigns/spring-test"`) {
		t.Fatalf("test: got %d:\n%s", code, page)
	}
	sum, err := f.srv.cfg.Campaigns.Status(context.Background(), "spring-test")
	if err != nil || sum.Total != 1 || sum.Priority != campaign.PriorityHigh {
		t.Fatalf("spring-test: got %+v, %v; want 1 recipient at high priority", sum, err)
	}
	entries, _ := f.srv.cfg.Campaigns.Audit(context.Background(), "spring-test", 0)
	if len(entries) != 1 || entries[0].Action != "test" {
		t.Errorf("audit log of spring-test: got %+v, want one test", entries)
	}
	if _, err := f.srv.cfg.Campaigns.Status(context.Background(), "spring"); err == nil {
		t.Error("a test created the campaign itself")
	}
	// The same number again: nothing sent twice.
	code, page = f.review(id, form)
	if code != http.StatusBadRequest || !strings.Contains(page, "already had the test") {
		t.Errorf("second test: got %d, want 400 saying it was sent:\n%s", code, page)
	}
	form.Set("test_to", "")
	if code, page = f.review(id, form); code != http.StatusBadRequest || !strings.Contains(page, "Type a phone number") {
		t.Errorf("no number: got %d:\n%s", code, page)
	}
}

func TestBuilderUploadErrors(t *testing.T) {
	f := newFixture(t, false)
	tok := f.csrfToken(authed)
	for _, tc := range []struct {
		name   string
		fields [][2]string
		status int
		want   string
	}{
		{"no CSRF token", [][2]string{{"delimiter", ","}}, http.StatusForbidden, "CSRF"},
		{"token after the file", nil, http.StatusForbidden, "CSRF"},
		{"bad delimiter", [][2]string{{"csrf_token", tok}, {"delimiter", "ab"}}, http.StatusBadRequest, "delimiter:"},
		{"bad region", [][2]string{{"csrf_token", tok}, {"default_region", "XX"}}, http.StatusBadRequest, "default_region:"},
		{"bad encoding", [][2]string{{"csrf_token", tok}, {"encoding", "klingon"}}, http.StatusBadRequest, "encoding:"},
	} {
		res := f.upload(authed, tc.fields, "a.csv", "phone\n+15550001111\n")
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		if res.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: got %d, want %d naming %q:\n%s", tc.name, res.StatusCode, tc.status, tc.want, b.String())
		}
	}
	if entries, _ := os.ReadDir(f.srv.uploads.dir); len(entries) != 0 {
		t.Errorf("upload dir after refused uploads: got %d files, want none", len(entries))
	}
	if rec := f.do("GET", "/campaigns/new/AAAAAAAAAAAAAAAAAAAAAAAAAA", nil, authed); rec.Code != http.StatusNotFound {
		t.Errorf("unknown upload: got %d, want 404", rec.Code)
	}
}

func TestBuilderIsForOperatorsAndUploadsAreTheirs(t *testing.T) {
	f := newFixtureAuth(t, false, usersAuth(t))
	id := f.uploadFile()
	viewer, operator := basic("vera", "pw-vera"), basic("otto", "pw-otto")
	if page := f.do("GET", "/campaigns", nil, viewer).Body.String(); strings.Contains(page, "New campaign") {
		t.Error("the viewer's list shows New campaign")
	}
	if page := f.do("GET", "/campaigns", nil, operator).Body.String(); !strings.Contains(page, `href="/campaigns/new"`) {
		t.Error("the operator's list has no New campaign button")
	}
	for _, rt := range []struct{ method, path string }{
		{"GET", "/campaigns/new"}, {"POST", "/campaigns/new"}, {"GET", "/campaigns/new/" + id},
		{"POST", "/campaigns/new/" + id}, {"POST", "/campaigns/new/" + id + "/preview"}, {"GET", "/campaigns/new/" + id + "/rejects.csv"},
	} {
		if rec := f.do(rt.method, rt.path, strings.NewReader(""), viewer); rec.Code != http.StatusForbidden {
			t.Errorf("viewer %s %s: got %d, want 403", rt.method, rt.path, rec.Code)
		}
	}
	// Another operator cannot see an upload that is not theirs.
	if rec := f.do("GET", "/campaigns/new/"+id, nil, operator); rec.Code != http.StatusNotFound {
		t.Errorf("another user's upload: got %d, want 404", rec.Code)
	}
}

func TestBuilderSweepsOldUploads(t *testing.T) {
	f := newFixture(t, false)
	id := f.uploadFile()
	f.srv.uploads.sweep(time.Now())
	if _, err := os.Stat(filepath.Join(f.srv.uploads.dir, id+".csv")); err != nil {
		t.Fatalf("a fresh upload was swept: %v", err)
	}
	f.srv.uploads.sweep(time.Now().Add(DefaultUploadTTL + time.Minute))
	if entries, _ := os.ReadDir(f.srv.uploads.dir); len(entries) != 0 {
		t.Errorf("after the TTL: got %d files, want none", len(entries))
	}
	if rec := f.do("GET", "/campaigns/new/"+id, nil, authed); rec.Code != http.StatusNotFound {
		t.Errorf("swept upload: got %d, want 404", rec.Code)
	}
}

func TestBuilderReviewSaysWhyAFileCannotBeRead(t *testing.T) {
	f := newFixture(t, false)
	res := f.upload(authed, [][2]string{{"csrf_token", f.csrfToken(authed)}}, "nophone.csv", "name,city\nAnn,Paris\n")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: got %d, want 303", res.StatusCode)
	}
	rec := f.do("GET", res.Header.Get("Location"), nil, authed)
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, `id="columns-error"`) || !strings.Contains(page, "cannot be read with these settings") {
		t.Errorf("review of a file without a phone column: got %d:\n%s", rec.Code, page)
	}
}

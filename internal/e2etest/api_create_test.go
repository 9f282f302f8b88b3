package e2etest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// createBody is a multipart upload: the spec part, then the csv part.
func createBody(t *testing.T, spec, csvData string) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if spec != "" {
		mw.WriteField("spec", spec)
	}
	if csvData != "" {
		fw, _ := mw.CreateFormFile("csv", "recipients.csv")
		io.WriteString(fw, csvData)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", a.status, err, a.body)
	}
}

func (a apiAnswer) errorText(t *testing.T) string {
	t.Helper()
	var e struct{ Error string }
	a.json(t, &e)
	return e.Error
}

// post sends a create request as a bearer client (no CSRF token needed).
func post(t *testing.T, url string, body io.Reader, contentType string, header map[string]string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{resp.StatusCode, resp.Header, b}
}

// POST /api/campaigns creates a campaign through the enqueue pipeline, a
// worker sends it, and its report streams from GET …/report.
func TestAPICreatesACampaignAWorkerSends(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken})
	csvData := "phone,first_name\n+33612340001,Ann\n+33612340002,Bob\n12ab,Bad\n+33612340001,Ann\n"
	body, ct := createBody(t, `{"campaign":"api","text":"Hi {{.first_name}}","ttl":"2h","priority":"high"}`, csvData)

	ans := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
	if ans.status != http.StatusCreated || ans.header.Get("Location") != "/api/campaigns/api" {
		t.Fatalf("create: got %d, Location %q: %s; want 201 and /api/campaigns/api", ans.status, ans.header.Get("Location"), ans.body)
	}
	var sum enqueue.Summary
	ans.json(t, &sum)
	if sum.Rows != 4 || sum.Enqueued != 2 || sum.Rejected != 1 || sum.Duplicates != 1 || len(sum.FirstRejects) != 1 ||
		sum.FirstRejects[0].Row != 4 || sum.SMS == nil || sum.SMS.Messages != 2 {
		t.Errorf("summary: got %+v, want 4 rows, 2 enqueued, row 4 rejected, 1 duplicate, 2 SMS", sum)
	}
	if c := s.runWorker("api", 30*time.Second, "--rate", "200"); c.Sent != 2 {
		t.Fatalf("sent %d, want 2", c.Sent)
	}
	if st := s.statusJSON("api"); st.Priority != campaign.PriorityHigh {
		t.Errorf("priority: got %s, want high", st.Priority)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/api/campaigns/api/report", nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(recs) != 3 || recs[0][0] != "row" {
		t.Fatalf("report: got %d, %d lines (%v), want 200 and header + 2", resp.StatusCode, len(recs), err)
	}
	for _, r := range recs[1:] {
		if r[3] != "sent" {
			t.Errorf("report row %v: want status sent", r)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/api/campaigns/nope/report", nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("report of an unknown campaign: got %v %v, want 404", resp.StatusCode, err)
	}
}

// A dry run validates, renders and counts, and writes nothing.
func TestAPIDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken})
	body, ct := createBody(t, `{"campaign":"dry","text":"It’s {{.first_name}}"}`, "phone,first_name\n+33612340001,Ann\n")
	ans := post(t, base+"/api/campaigns?dry_run=true", bytes.NewReader(body), ct, nil)
	var sum enqueue.Summary
	ans.json(t, &sum)
	if ans.status != http.StatusOK || !sum.DryRun || sum.Enqueued != 1 || sum.SMS == nil || sum.SMS.UCS2 != 1 {
		t.Fatalf("dry run: got %d %s, want 200 with 1 UCS-2 SMS", ans.status, ans.body)
	}
	if n := s.redis.Client.DBSize(t.Context()).Val(); n != 0 {
		keys, _ := s.redis.Client.Keys(t.Context(), "*").Result()
		t.Errorf("a dry run wrote %d keys: %v", n, keys)
	}
}

// The three Idempotency-Key answers: a repeat is replayed and creates
// nothing; another request with the key is 422; a repeat while the first
// still streams is 409.
func TestAPIIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken})
	spec := `{"campaign":"idem","text":"Hi"}`
	csvData := "phone\n+33612340001\n+33612340002\n"
	body, ct := createBody(t, spec, csvData)
	key := map[string]string{"Idempotency-Key": "run-2026-12-02"}

	first := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, key)
	if first.status != http.StatusCreated {
		t.Fatalf("first: got %d %s", first.status, first.body)
	}
	// The same request again, with another multipart boundary (as another
	// client library would write it): the same answer, nothing new.
	again, ct2 := createBody(t, spec, csvData)
	second := post(t, base+"/api/campaigns", bytes.NewReader(again), ct2, key)
	if second.status != http.StatusCreated || string(second.body) != string(first.body) ||
		second.header.Get("Location") != first.header.Get("Location") || second.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat: got %d %q (replayed %q), want the first answer replayed: %d %q",
			second.status, second.body, second.header.Get("Idempotent-Replayed"), first.status, first.body)
	}
	c, err := campaign.NewStore(s.redis.Client).Counters(t.Context(), "idem")
	if err != nil || c.Rows != 2 || c.Enqueued != 2 {
		t.Errorf("after the repeat: counters %+v (%v), want the first upload's 2 rows only", c, err)
	}

	other, ct3 := createBody(t, spec, csvData+"+33612340003\n")
	if ans := post(t, base+"/api/campaigns", bytes.NewReader(other), ct3, key); ans.status != http.StatusUnprocessableEntity {
		t.Errorf("same key, other request: got %d %s, want 422", ans.status, ans.body)
	}

	// A request still streaming holds the key.
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // lets the dashboard stop if the test fails
	mw := multipart.NewWriter(pw)
	running := make(chan apiAnswer, 1)
	slowKey := map[string]string{"Idempotency-Key": "slow"}
	go func() { running <- post(t, base+"/api/campaigns", pr, mw.FormDataContentType(), slowKey) }()
	mw.WriteField("spec", `{"campaign":"slow","text":"Hi"}`)
	fw, _ := mw.CreateFormFile("csv", "slow.csv")
	// More than the client's 4 KiB write buffer, so the request reaches
	// the server while its body is still open.
	io.WriteString(fw, "phone\n")
	for i := range 2000 {
		fmt.Fprintf(fw, "+3361%07d\n", i)
	}
	body, ct = createBody(t, `{"campaign":"slow","text":"Hi"}`, "phone\n+33612340001\n")
	var conflict apiAnswer
	testwait.For(t, 10*time.Second, "the second request to see the first one running", func() bool {
		conflict = post(t, base+"/api/campaigns", bytes.NewReader(body), ct, slowKey)
		return conflict.status == http.StatusConflict
	})
	if !strings.Contains(conflict.errorText(t), "still being processed") {
		t.Errorf("409 answer: %s", conflict.body)
	}
	mw.Close()
	pw.Close()
	if ans := <-running; ans.status != http.StatusCreated {
		t.Errorf("the slow request: got %d %s, want 201", ans.status, ans.body)
	}
}

// Errors are JSON: 400 naming the spec field or the fatal CSV problem, 413
// over --max-upload, 401 without credentials, 403 for a browser session
// without its CSRF token and for a viewer.
func TestAPICreateErrors(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	users := usersFile(t, "vicky:viewer", "olga:operator")
	base := s.startDashboard(map[string]string{"DASHBOARD_TOKEN": dashToken, "DASHBOARD_USERS_FILE": users}, "--max-upload", "2KiB")
	good := "phone\n+33612340001\n"
	for _, tc := range []struct {
		name, spec, csv string
		status          int
		want            string
	}{
		{"short ttl", `{"campaign":"e1","text":"Hi","ttl":"1s"}`, good, 400, "ttl: must be whole seconds"},
		{"unknown key", `{"campaign":"e2","text":"Hi","colour":"red"}`, good, 400, "colour"},
		{"ttl as a number", `{"campaign":"e3","text":"Hi","ttl":3600}`, good, 400, "ttl"},
		{"a server file", `{"campaign":"e4","text":"Hi","prices":"/etc/passwd"}`, good, 400, "prices: names a file on the server"},
		{"no phone column", `{"campaign":"e5","text":"Hi"}`, "name\nAnn\n", 400, "no phone column"},
		{"no message", `{"campaign":"e6"}`, good, 400, "text: is required"},
		{"no csv", `{"campaign":"e7","text":"Hi"}`, "", 400, "no csv part"},
		{"no spec", "", good, 400, "the spec part must come before the csv part"},
		{"too large", `{"campaign":"e8","text":"Hi"}`, "phone\n" + strings.Repeat("+33612340001\n", 300), 413, "--max-upload"},
	} {
		body, ct := createBody(t, tc.spec, tc.csv)
		ans := post(t, base+"/api/campaigns", bytes.NewReader(body), ct, nil)
		if ans.status != tc.status || !strings.Contains(ans.errorText(t), tc.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tc.name, ans.status, ans.body, tc.status, tc.want)
		}
	}
	if n, _ := s.redis.Client.Exists(t.Context(), "sd:{e1}:def", "sd:{e5}:def", "sd:{e8}:def").Result(); n != 0 {
		t.Errorf("refused requests created %d campaigns", n)
	}

	body, ct := createBody(t, `{"campaign":"auth","text":"Hi"}`, good)
	for _, tc := range []struct {
		name       string
		user, pass string
		csrf       bool
		status     int
	}{
		{"no credentials", "", "", false, 401},
		{"operator session without CSRF token", "olga", userPassword("olga"), false, 403},
		{"viewer", "vicky", userPassword("vicky"), true, 403},
		{"operator session with CSRF token", "olga", userPassword("olga"), true, 201},
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/campaigns", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		if tc.csrf {
			req.Header.Set("X-CSRF-Token", csrfFor(t, base, tc.user, tc.pass))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: got %d %s, want %d", tc.name, resp.StatusCode, b, tc.status)
		}
	}
}

// csrfFor is the CSRF token the API hands a Basic-auth session.
func csrfFor(t *testing.T, base, user, pass string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/campaigns", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-CSRF-Token")
	if tok == "" {
		t.Fatal(fmt.Sprintf("no CSRF token for %s (status %d)", user, resp.StatusCode))
	}
	return tok
}

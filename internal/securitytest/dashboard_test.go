package securitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// credential sets a request's Authorization (or nothing).
type credential func(*http.Request)

func basicAuth(user, pass string) credential {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func bearerAuth(token string) credential {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func anonymous(*http.Request) {}

// dashboardCheck is one request to the running dashboard and the status it
// must get. With repeat, it is sent up to repeat times until it gets want
// (the login throttle needs several failures).
type dashboardCheck struct {
	name   string
	method string
	path   string
	cred   credential
	header http.Header
	body   []byte
	want   int
	repeat int
}

// exerciseDashboard runs the dashboard binary with the known secrets and
// puts it through its success paths (pages, API, the task monitor, /metrics
// with the bearer token, a correctly signed delivery receipt for a message
// of campaign "sec") and failure paths (no, wrong and throttled
// credentials, actions without a CSRF token, a badly signed receipt). Its
// output and every response (status, headers, body) land in outDir, where
// the caller searches them for secrets. It returns the files holding
// /metrics pages and the dashboard's log: they must also be free of phone
// numbers and message text.
func exerciseDashboard(t *testing.T, bin, root, outDir string, env map[string]string, store *campaign.Store) (noPersonalData []string) {
	t.Helper()
	ctx := context.Background()
	logFile := filepath.Join(outDir, "dashboard-serving")
	cmd := startCommand(t, bin, root, "dashboard", logFile, env, "--addr", "127.0.0.1:0", "--log-level", "debug")
	base := waitForMatch(t, logFile, regexp.MustCompile(`msg="dashboard listening" url=(\S+)`))
	defer stopCommand(t, cmd, "dashboard")

	// A delivery receipt, as Sinch would send it, for a message the worker
	// sent: it names the recipient's phone number.
	var sent campaign.Record
	err := store.ScanReport(ctx, "sec", func(r campaign.ReportRow) error {
		if r.Status == campaign.StatusSent && r.Record.MessageID != "" && sent.MessageID == "" {
			sent = r.Record
		}
		return nil
	})
	if err != nil || sent.MessageID == "" {
		t.Fatalf("no sent message in campaign sec to receive a receipt for (err %v)", err)
	}
	receipt := func(msgID string, status sinch.DeliveryStatus) []byte {
		body, err := json.Marshal(sinch.DeliveryReceipt{
			AppID: sinchsim.DefaultAppID, ProjectID: sinchsim.DefaultProjectID,
			EventTime: time.Now().UTC(), MessageMetadata: "sec",
			MessageDeliveryReport: &sinch.MessageDeliveryReport{
				MessageID: msgID, Status: status,
				ChannelIdentity: &sinch.ChannelIdentity{Channel: sent.Channel, Identity: sent.Identity},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	// Tracking already found the messages DELIVERED: READ changes the
	// outcome, so recording it shows.
	read := receipt(sent.MessageID, sinch.StatusRead)
	unknown := receipt("unknown-message-1", sinch.StatusDelivered)
	if o, err := store.Outcomes(ctx, "sec"); err != nil || o.Read != 0 {
		t.Fatalf("campaign sec before any receipt: %+v, %v; want none read", o, err)
	}
	signed := func(secret string, body []byte, nonce string) http.Header {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := http.Header{}
		h.Set("X-Sinch-Webhook-Signature", sinch.SignWebhook(secret, body, nonce, ts))
		h.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
		h.Set("X-Sinch-Webhook-Signature-Nonce", nonce)
		h.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA256")
		h.Set("Content-Type", "application/json")
		return h
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	user := basicAuth(dashboardUser, dashboardPass)
	wrongPass := basicAuth(dashboardUser, wrongDashboardPass)
	viewer := basicAuth(fileUser, fileUserPass)

	checks := []dashboardCheck{
		// Success paths.
		{name: "campaign list page", path: "/campaigns", cred: user, want: http.StatusOK},
		{name: "campaign page", path: "/campaigns/sec", cred: user, want: http.StatusOK},
		{name: "API list", path: "/api/campaigns", cred: user, want: http.StatusOK},
		{name: "API campaign", path: "/api/campaigns/sec", cred: user, want: http.StatusOK},
		{name: "API campaign bearer", path: "/api/campaigns/sec", cred: bearerAuth(dashboardToken), want: http.StatusOK},
		{name: "task monitor", path: "/monitoring/", cred: user, want: http.StatusOK},
		{name: "task monitor API", path: "/monitoring/api/queues", cred: user, want: http.StatusOK},
		{name: "campaign page as a file user", path: "/campaigns/sec", cred: viewer, want: http.StatusOK},
		{name: "audit log as a file user", path: "/api/campaigns/sec/audit", cred: viewer, want: http.StatusOK},
		{name: "webhook signed", method: http.MethodPost, path: "/webhooks/sinch", cred: anonymous,
			header: signed(webhookSecret, read, "nonce-ok-1"), body: read, want: http.StatusOK},
		// Failure paths.
		{name: "no credentials", path: "/api/campaigns", cred: anonymous, want: http.StatusUnauthorized},
		{name: "API action without CSRF token", method: http.MethodPost, path: "/api/campaigns/sec/pause", cred: user,
			want: http.StatusForbidden},
		{name: "form action without CSRF token", method: http.MethodPost, path: "/campaigns/sec/cancel", cred: user,
			header: form, body: []byte("reason=x"), want: http.StatusForbidden},
		{name: "webhook bad signature", method: http.MethodPost, path: "/webhooks/sinch", cred: anonymous,
			header: signed(badWebhookSecret, read, "nonce-bad-1"), body: read, want: http.StatusUnauthorized},
		{name: "metrics", path: "/metrics", cred: bearerAuth(dashboardToken), want: http.StatusOK},
		{name: "wrong password", path: "/api/campaigns", cred: wrongPass, want: http.StatusUnauthorized},
		{name: "viewer action", method: http.MethodPost, path: "/api/campaigns/sec/pause", cred: viewer, want: http.StatusForbidden},
		{name: "wrong file user password", path: "/api/campaigns", cred: basicAuth(fileUser, wrongFileUserPass), want: http.StatusUnauthorized},
		{name: "wrong token", path: "/metrics", cred: bearerAuth(wrongDashboardToken), want: http.StatusUnauthorized},
		{name: "wrong password until throttled", path: "/campaigns", cred: wrongPass, want: http.StatusTooManyRequests, repeat: 20},
		{name: "right password while throttled", path: "/campaigns", cred: user, want: http.StatusTooManyRequests},
		// The webhook is exempt from auth, so from its throttle too.
		{name: "webhook signed while throttled", method: http.MethodPost, path: "/webhooks/sinch", cred: anonymous,
			header: signed(webhookSecret, unknown, "nonce-ok-2"), body: unknown, want: http.StatusOK},
	}
	var metricsPage string
	for i, c := range checks {
		file := filepath.Join(outDir, fmt.Sprintf("dashboard-%02d-%s", i, strings.ReplaceAll(c.name, " ", "-")))
		var got int
		var dump []byte
		for n := 0; n == 0 || (n < c.repeat && got != c.want); n++ {
			got, dump = dashboardRequest(t, base, c)
		}
		if err := os.WriteFile(file, dump, 0o600); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("dashboard %s: %s %s got %d, want %d\n%s", c.name, c.method, c.path, got, c.want, dump)
		}
		if c.path == "/metrics" && got == http.StatusOK {
			metricsPage = file
		}
	}
	stopCommand(t, cmd, "dashboard")

	// The requests did what they claim: the signed receipt was recorded,
	// the badly signed one refused, and /metrics counted both.
	if o, err := store.Outcomes(ctx, "sec"); err != nil || o.Read != 1 {
		t.Errorf("campaign sec after the signed receipt: %+v, %v; want 1 read", o, err)
	}
	if metricsPage == "" {
		t.Fatal("the dashboard served no /metrics page")
	}
	fams := parseMetrics(t, metricsPage)
	for _, want := range []struct {
		name   string
		labels []string
	}{
		{"sinch_dispatch_webhook_receipts_total", []string{"status=READ", "result=" + metrics.ReceiptRecorded}},
		{"sinch_dispatch_webhook_rejected_total", []string{"reason=" + metrics.RejectSignature}},
	} {
		if v := metrics.Sum(fams, want.name, want.labels...); v != 1 {
			t.Errorf("dashboard /metrics: %s%v = %v, want 1", want.name, want.labels, v)
		}
	}
	return []string{logFile, metricsPage}
}

// dashboardRequest sends c to the dashboard at base and returns the status
// and the whole response as received (status line, headers, body).
func dashboardRequest(t *testing.T, base string, c dashboardCheck) (int, []byte) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	c.cred(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("dashboard %s: %v", c.name, err)
	}
	dump, err := readResponse(resp)
	if err != nil {
		t.Fatalf("dashboard %s: reading the response: %v", c.name, err)
	}
	return resp.StatusCode, dump
}

// readResponse returns the status line and headers as received, then the
// decoded body (DumpResponse would re-chunk it), and closes the body.
func readResponse(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	head, err := httputil.DumpResponse(resp, false)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return append(head, body...), err
}

// scrapeWorker fetches the worker's /metrics at addr into file until its
// sends_total{result="accepted"} reaches accepted: the count follows the
// campaign's counters by a moment.
func scrapeWorker(t *testing.T, addr, file string, accepted float64) {
	t.Helper()
	var got float64
	waitFor(t, "worker /metrics", file, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			os.WriteFile(file, []byte(err.Error()), 0o600)
			return false
		}
		dump, err := readResponse(resp)
		if err != nil || resp.StatusCode != http.StatusOK {
			os.WriteFile(file, dump, 0o600)
			return false
		}
		if err := os.WriteFile(file, dump, 0o600); err != nil {
			t.Fatal(err)
		}
		got = metrics.Sum(parseMetrics(t, file), "sinch_dispatch_sends_total", "result=accepted")
		return got >= accepted
	})
	if got != accepted {
		t.Errorf("worker /metrics: %v sends accepted, want %v", got, accepted)
	}
}

// parseMetrics parses a response dumped by DumpResponse as Prometheus text.
func parseMetrics(t *testing.T, file string) []*dto.MetricFamily {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("%s: not an HTTP response", filepath.Base(file))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not Prometheus text: %v", filepath.Base(file), err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	return out
}

// personalData returns the forms in which a campaign's phone numbers and
// rendered message bodies could leak: phones with and without the "+",
// and URL-escaped.
func personalData(phones, bodies []string) map[string]string {
	forms := map[string]string{}
	for _, p := range phones {
		forms["phone "+p] = p
		forms["phone "+p+" without +"] = strings.TrimPrefix(p, "+")
		forms["phone "+p+" URL-escaped"] = url.QueryEscape(p)
	}
	for _, b := range bodies {
		forms[fmt.Sprintf("message body %q", b)] = b
	}
	return forms
}

// assertAbsent fails for every form found in one of files, and returns
// what it searched.
func assertAbsent(t *testing.T, files []string, forms map[string]string) string {
	t.Helper()
	var all strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("reading %s: %v", filepath.Base(f), err)
			continue
		}
		all.Write(data)
		for what, s := range forms {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the %s:\n%s", filepath.Base(f), what, data)
			}
		}
	}
	return all.String()
}

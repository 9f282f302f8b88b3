package e2etest

import (
	"context"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// textOf reads a selector's text, or "" if it is not on the page within a
// second (the page may be reloading).
func textOf(ctx context.Context, sel string) string {
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

// An operator builds a campaign in the browser: upload, preview, test,
// launch, watch it finish, download its report. A viewer cannot.
func TestBuilderInChromium(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	s := newStack(t, sinchsim.Config{RejectSuffix: "98"}) // Sinch refuses numbers ending in 98
	base := s.startDashboard(map[string]string{"DASHBOARD_USERS_FILE": usersFile(t, "olga:operator", "vic:viewer")}, "--refresh", "1s")
	s.startWorker("--rate", "200", "--track-interval", "0")
	shots := t.TempDir()
	if dir := os.Getenv("DASHBOARD_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = dir
	}
	file := filepath.Join(t.TempDir(), "spring.csv")
	if err := os.WriteFile(file, []byte("phone,first_name\n+33612340001,Ann\n+33612340002,Bob\nbad,Bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, _ := browser(t, "olga", userPassword("olga"))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/campaigns"), chromedp.Click(chromedp.CSS("#new-campaign")),
		chromedp.WaitVisible(chromedp.CSS("#csv")), chromedp.SetUploadFiles(chromedp.CSS("#csv"), []string{file}),
		chromedp.Click(chromedp.CSS("#upload"))); err != nil {
		t.Fatalf("upload: %v", err)
	}
	testwait.For(t, 20*time.Second, "the review page", func() bool { return textOf(ctx, "#file-name") == "spring.csv" })
	got := texts(t, ctx, map[string]string{"rows": `#summary [data-field="rows"]`, "valid": `#summary [data-field="valid"]`,
		"rejected": `#summary [data-field="rejected"]`, "reject": `#rejects tbody tr td:nth-child(1)`})
	compare(t, "review", got, map[string]string{"rows": "3", "valid": "2", "rejected": "1", "reject": "4"})

	// Type the message with the column button; the preview follows.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#text"), "Hi "),
		chromedp.Click(chromedp.CSS(`button[data-column="first_name"]`)), chromedp.SendKeys(chromedp.CSS("#text"), "!")); err != nil {
		t.Fatalf("message: %v", err)
	}
	testwait.For(t, 10*time.Second, "the preview of the typed message", func() bool {
		return textOf(ctx, `#preview tbody tr:first-child td.text`) == "Hi Ann!" &&
			textOf(ctx, `#preview tbody tr:first-child td[data-field="segments"]`) == "1"
	})
	if enc := textOf(ctx, `#preview tbody tr:first-child td[data-field="encoding"]`); enc != "GSM-7" {
		t.Errorf("preview encoding: got %q, want GSM-7", enc)
	}
	screenshot(t, ctx, shots, "builder-review")

	// A test to a typed number, as campaign spring-test.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#test-to"), "+33612349999"),
		chromedp.Click(chromedp.CSS("#send-test"))); err != nil {
		t.Fatalf("send test: %v", err)
	}
	testwait.For(t, 20*time.Second, "the page to show the test sent", func() bool {
		return textOf(ctx, `[data-field="test-sent"]`) == "1" && textOf(ctx, `[data-field="test-pending"]`) == "0"
	})
	if st := s.statusJSON("spring-test"); st.Sent != 1 || st.Priority != "high" {
		t.Errorf("spring-test: got %d sent at %s priority, want 1 at high", st.Sent, st.Priority)
	}
	if msg := textOf(ctx, "#test-result"); !strings.Contains(msg, "Test queued") {
		t.Errorf("test result: got %q, want it queued", msg)
	}
	// A test Sinch refuses shows as failed, with the error once the page
	// is rendered again.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#test-to"), "+33612349998"),
		chromedp.Click(chromedp.CSS("#send-test"))); err != nil {
		t.Fatalf("send failing test: %v", err)
	}
	testwait.For(t, 20*time.Second, "the page to show the test failed", func() bool {
		return textOf(ctx, `[data-field="test-failed"]`) == "1" && textOf(ctx, `[data-field="test-pending"]`) == "0"
	})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#preview-button"))); err != nil {
		t.Fatalf("preview: %v", err)
	}
	testwait.For(t, 10*time.Second, "the re-rendered page to show the test's error", func() bool {
		msg := textOf(ctx, "#test-result")
		return strings.Contains(msg, "failed 1") && strings.Contains(msg, "rejected by Sinch: 400") && !strings.Contains(msg, "Test queued")
	})

	// Launch, as marketing: a double click launches once.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#content-type"), "marketing"),
		chromedp.DoubleClick(chromedp.CSS("#launch"))); err != nil {
		t.Fatalf("launch: %v", err)
	}
	// Polled with fresh queries: a wait started on the review page can
	// miss the navigation.
	testwait.For(t, 20*time.Second, "the campaign page", func() bool { return textOf(ctx, "#campaign-id") == "spring" })
	testwait.For(t, 30*time.Second, "the campaign page to show done", func() bool {
		return textOf(ctx, `h1 [data-field="state"]`) == "done"
	})
	if st := s.statusJSON("spring"); st.Total != 2 || st.Sent != 2 || st.ContentType != sinch.ContentMarketing {
		t.Errorf("spring: got %d recipients, %d sent, content type %q; want 2, 2 and marketing", st.Total, st.Sent, st.ContentType)
	}
	if got := textOf(ctx, "#content-type"); got != "Content: marketing" {
		t.Errorf("campaign page content type: got %q, want %q", got, "Content: marketing")
	}
	screenshot(t, ctx, shots, "builder-launched")

	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#report"), "href"))
	if err != nil || !link.Exists {
		t.Fatalf("report link: %v %v", err, link.Exists)
	}
	req, _ := http.NewRequest(http.MethodGet, base+link.Value, nil)
	req.SetBasicAuth("olga", userPassword("olga"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(recs) != 3 || recs[1][3] != "sent" || recs[2][3] != "sent" {
		t.Errorf("report: got %v (%v), want a header and 2 sent rows", recs, err)
	}

	// The viewer: no button, 403 on every way to create.
	vctx, _ := browser(t, "vic", userPassword("vic"))
	if err := chromedp.Do(vctx, chromedp.Navigate(base+"/campaigns"), chromedp.WaitVisible(chromedp.CSS("#campaigns"))); err != nil {
		t.Fatalf("viewer's list: %v", err)
	}
	if buttons, err := chromedp.Run(vctx, chromedp.Evaluate[int](`document.querySelectorAll("#new-campaign").length`)); err != nil || buttons != 0 {
		t.Errorf("viewer's list: got %d New campaign buttons (%v), want none", buttons, err)
	}
	for _, rt := range []struct{ method, path string }{{"POST", "/api/campaigns"}, {"GET", "/campaigns/new"},
		{"POST", "/campaigns/new"}, {"GET", "/campaigns/new/AAAAAAAAAAAAAAAAAAAAAAAAAA"}} {
		req, _ := http.NewRequest(rt.method, base+rt.path, nil)
		req.SetBasicAuth("vic", userPassword("vic"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: got %d, want 403", rt.method, rt.path, resp.StatusCode)
		}
	}
}

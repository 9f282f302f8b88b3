package enqueue

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// smsCSV: one row per case; the message is the msg column. Rows 2..8.
// Row 7 is a Messenger recipient (not counted), row 8 repeats row 2.
const smsCSV = "phone,channel,msg\n" +
	"+33612345678,,short and plain\n" + // 2: FR, GSM-7, 1
	"+33612345679,,%s\n" + // 3: FR, GSM-7, 2 (200 septets)
	"+12025550143,,It’s here\n" + // 4: US, UCS-2 (curly quote), 1
	"+12025550144,,%s\n" + // 5: US, GSM-7, 3 (400 septets)
	"+447911123456,,Party 🎉 tonight\n" + // 6: GB-ish, UCS-2 (emoji), 1
	"someone,MESSENGER,hello\n" + // 7: not SMS
	"+33612345678,,short and plain\n" // 8: duplicate of 2

func runSMS(t *testing.T, o SMSOptions) (Summary, string) {
	t.Helper()
	data := fmt.Sprintf(smsCSV, strings.Repeat("a", 200), strings.Repeat("b", 400))
	src, err := NewTextSource("{{.msg}}")
	if err != nil {
		t.Fatal(err)
	}
	var preview bytes.Buffer
	sum, err := New(nil, nil).Run(context.Background(), Options{
		CampaignID: "c", CSV: strings.NewReader(data), Source: src, DryRun: true, SMS: o, Preview: &preview,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum, preview.String()
}

func TestSummaryCountsSMSEncodingsAndSegments(t *testing.T) {
	sum, _ := runSMS(t, SMSOptions{})
	if sum.SMS == nil {
		t.Fatal("no sms totals in the summary")
	}
	got := *sum.SMS
	if got.Messages != 5 || got.GSM7 != 3 || got.UCS2 != 2 || got.Segments != 1+2+1+3+1 || got.MaxSegments != 3 {
		t.Errorf("totals: got %+v, want 5 messages (3 GSM-7, 2 UCS-2), 8 segments, max 3", got)
	}
	b, _ := json.Marshal(sum)
	// Each character forced one message: ties go by code point.
	if !strings.Contains(string(b), `"sms":{"messages":5,"gsm7":3,"ucs2":2,"segments":8,"max_segments":3,"ucs2_chars":["’","🎉"]}`) {
		t.Errorf("summary JSON lacks the sms object:\n%s", b)
	}
	if sum.Cost != nil || strings.Contains(string(b), `"cost"`) {
		t.Errorf("cost without prices: %s", b)
	}
}

func TestMaxSegmentsRejectsOnlyLongerSMS(t *testing.T) {
	sum, preview := runSMS(t, SMSOptions{MaxSegments: 2})
	if sum.Rejected != 1 || len(sum.FirstRejects) != 1 {
		t.Fatalf("rejected: got %d %+v, want row 5 only", sum.Rejected, sum.FirstRejects)
	}
	r := sum.FirstRejects[0]
	if r.Row != 5 || !strings.Contains(r.Reason, "needs 3 segments") || !strings.Contains(r.Reason, "--max-segments 2") {
		t.Errorf("reject: got %+v, want row 5 naming 3 segments and --max-segments 2", r)
	}
	if sum.Enqueued != 5 || sum.SMS.Messages != 4 || sum.SMS.MaxSegments != 2 {
		t.Errorf("good rows: got %d enqueued, %d SMS (max %d), want 5 and 4 (max 2)", sum.Enqueued, sum.SMS.Messages, sum.SMS.MaxSegments)
	}
	if strings.Contains(preview, "\n5,") {
		t.Errorf("the rejected row is in the preview:\n%s", preview)
	}
}

func TestGSMSafeChangesTheTextCountedAndSent(t *testing.T) {
	sum, preview := runSMS(t, SMSOptions{GSMSafe: true})
	if sum.GSMSafeChanged != 1 || sum.SMS.UCS2 != 1 || sum.SMS.GSM7 != 4 {
		t.Errorf("gsm-safe: got %d changed, %d UCS-2, %d GSM-7; want 1, 1 (the emoji), 4", sum.GSMSafeChanged, sum.SMS.UCS2, sum.SMS.GSM7)
	}
	if !strings.Contains(preview, "4,SMS,'+12025550143,GSM-7,1,9,It's here\n") {
		t.Errorf("preview does not show the replaced text:\n%s", preview)
	}
}

func TestPreviewHasOneLinePerValidRow(t *testing.T) {
	_, preview := runSMS(t, SMSOptions{})
	recs, err := csv.NewReader(strings.NewReader(preview)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		PreviewHeader,
		{"2", "SMS", "'+33612345678", "GSM-7", "1", "15", "short and plain"},
		{"3", "SMS", "'+33612345679", "GSM-7", "2", "200", strings.Repeat("a", 200)},
		{"4", "SMS", "'+12025550143", "UCS-2", "1", "9", "It’s here"},
		{"5", "SMS", "'+12025550144", "GSM-7", "3", "400", strings.Repeat("b", 400)},
		{"6", "SMS", "'+447911123456", "UCS-2", "1", "15", "Party 🎉 tonight"},
		{"7", "MESSENGER", "someone", "", "0", "5", "hello"},
		{"8", "SMS", "'+33612345678", "GSM-7", "1", "15", "short and plain"},
	}
	if len(recs) != len(want) {
		t.Fatalf("preview: got %d lines, want %d:\n%s", len(recs), len(want), preview)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("preview line %d: got %q, want %q", i+1, recs[i], want[i])
		}
	}
}

func TestCostEstimateByCountry(t *testing.T) {
	prices, err := sms.ParsePrices(strings.NewReader("country,price\nFR,0.05\ndefault,0.01\n"))
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := runSMS(t, SMSOptions{Prices: &prices})
	if sum.Cost == nil {
		t.Fatal("no cost estimate")
	}
	// FR: 1 + 2 segments at 0.05; the rest (US 1 + 3, GB 1) at the default 0.01.
	if got, want := sum.Cost.Total(), sms.Price(3*50000+5*10000); got != want {
		t.Errorf("total: got %s, want %s", got, want)
	}
	b, _ := json.Marshal(sum.Cost)
	for _, w := range []string{`"total":0.2`, `"FR":0.15`, `"US":0.04`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("cost JSON lacks %s: %s", w, b)
		}
	}
}

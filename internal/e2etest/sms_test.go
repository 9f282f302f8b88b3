package e2etest

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// A campaign sent to the simulator: the report has each recipient's
// encoding and segments, their sum is the status's segments sent, and the
// estimated cost sent is what the upload estimated.
func TestSentSMSSegmentsAndCostInReportAndStatus(t *testing.T) {
	s := newStack(t, sinchsim.Config{})
	dir := t.TempDir()
	texts := []string{"short", strings.Repeat("a", 200), "It’s here", strings.Repeat("é", 161), "Party 🎉"}
	var b strings.Builder
	b.WriteString("phone,msg\n")
	for i, text := range texts {
		b.WriteString("+3361234560" + strconv.Itoa(i) + "," + text + "\n")
	}
	b.WriteString("+12025550143,hello US\n") // priced by default
	csvPath := filepath.Join(dir, "r.csv")
	os.WriteFile(csvPath, []byte(b.String()), 0o600)
	prices := filepath.Join(dir, "prices.csv")
	os.WriteFile(prices, []byte("country,price\nFR,0.05\ndefault,0.01\n"), 0o600)

	sum := s.enqueue("--campaign", "seg", "--csv", csvPath, "--text", "{{.msg}}", "--prices", prices)
	// short 1, 200 a's 2, curly quote 1 (UCS-2), 161 é 2 (GSM-7: é is in
	// the alphabet), emoji 1 (UCS-2), US 1.
	wantSegments := 1 + 2 + 1 + 2 + 1 + 1
	if sum.SMS == nil || sum.SMS.Segments != wantSegments || sum.Cost == nil {
		t.Fatalf("enqueue summary: %+v, want %d segments and a cost", sum, wantSegments)
	}
	wantCost := sms.Price(7*50000 + 1*10000)
	if sum.Cost.Total() != wantCost {
		t.Errorf("estimated cost: got %s, want %s", sum.Cost.Total(), wantCost)
	}
	if c := s.runWorker("seg", 30*time.Second, "--rate", "200"); c.Sent != int64(len(texts)+1) {
		t.Fatalf("sent %d, want %d", c.Sent, len(texts)+1)
	}

	st := s.statusJSON("seg")
	if st.SMSSegments != int64(wantSegments) || st.SMSCost != wantCost {
		t.Errorf("status: got %d segments, cost %s; want %d, %s", st.SMSSegments, st.SMSCost, wantSegments, wantCost)
	}
	text := s.mustOps("status", "seg")
	if want := "sms          " + strconv.Itoa(wantSegments) + " segments sent, estimated cost 0.36"; !strings.Contains(text, want) {
		t.Errorf("status text lacks %q:\n%s", want, text)
	}

	recs, err := csv.NewReader(strings.NewReader(s.mustOps("report", "seg"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	total := 0
	encodings := map[string]int{}
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[col["segments"]])
		if err != nil {
			t.Fatalf("report row %v: segments %q", r, r[col["segments"]])
		}
		total += n
		encodings[r[col["encoding"]]]++
	}
	if total != int(st.SMSSegments) {
		t.Errorf("report segments add up to %d, status says %d", total, st.SMSSegments)
	}
	if encodings["GSM-7"] != 4 || encodings["UCS-2"] != 2 {
		t.Errorf("report encodings: got %v, want 4 GSM-7 and 2 UCS-2", encodings)
	}
}

package enqueuecli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// corpusEntry is one text of internal/sms's corpus with its expected count.
type corpusEntry struct {
	Name     string `json:"name"`
	Text     string `json:"text"`
	Encoding string `json:"encoding"`
	Segments int    `json:"segments"`
}

// corpusCSV writes the SMS corpus as a recipients CSV (one row per
// non-empty text: an empty message is rejected by the template) and returns
// its path and the entries in row order.
func corpusCSV(t *testing.T) (string, []corpusEntry) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sms", "testdata", "corpus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all []corpusEntry
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var kept []corpusEntry
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"phone", "msg"})
	for i, e := range all {
		if strings.TrimSpace(e.Text) == "" {
			continue
		}
		kept = append(kept, e)
		w.Write([]string{fmt.Sprintf("+336120%05d", i), e.Text})
	}
	w.Flush()
	path := filepath.Join(t.TempDir(), "corpus.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(kept) < 40 {
		t.Fatalf("corpus has %d texts, want at least 40", len(kept))
	}
	return path, kept
}

func runEnqueue(t *testing.T, args ...string) (enqueue.Summary, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	var sum enqueue.Summary
	if err == nil && slices.Contains(args, "--json") {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); jerr != nil {
			t.Fatalf("summary: %v\n%s", jerr, out.String())
		}
	}
	return sum, out.String() + errOut.String(), err
}

// The corpus through the real command: the totals add up the corpus's
// expected counts, the preview has each row's, and --max-segments 2 rejects
// exactly the texts above 2 segments.
func TestDryRunPreviewAndMaxSegmentsOnTheCorpus(t *testing.T) {
	csvPath, corpus := corpusCSV(t)
	previewPath := filepath.Join(t.TempDir(), "p.csv")
	sum, out, err := runEnqueue(t, "--campaign", "corpus", "--csv", csvPath, "--text", "{{.msg}}",
		"--dry-run", "--json", "--preview", previewPath)
	if err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	var segs, gsm, ucs, maxSeg int
	for _, e := range corpus {
		segs += e.Segments
		maxSeg = max(maxSeg, e.Segments)
		if e.Encoding == "GSM-7" {
			gsm++
		} else {
			ucs++
		}
	}
	if sum.Rejected != 0 || sum.SMS == nil {
		t.Fatalf("summary: got %+v, want no rejects and SMS totals", sum)
	}
	if got := *sum.SMS; got.Messages != len(corpus) || got.GSM7 != gsm || got.UCS2 != ucs || got.Segments != segs || got.MaxSegments != maxSeg {
		t.Errorf("sms totals: got %+v, want %d messages (%d GSM-7, %d UCS-2), %d segments, max %d",
			got, len(corpus), gsm, ucs, segs, maxSeg)
	}
	f, err := os.Open(previewPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(corpus)+1 || strings.Join(recs[0], ",") != strings.Join(enqueue.PreviewHeader, ",") {
		t.Fatalf("preview: got %d lines starting %q, want %d and the header", len(recs), recs[0], len(corpus)+1)
	}
	var rowsAbove2 []int
	for i, e := range corpus {
		rec := recs[i+1]
		if rec[3] != e.Encoding || rec[4] != strconv.Itoa(e.Segments) {
			t.Errorf("preview of %q: got %s, %s segments; want %s, %d", e.Name, rec[3], rec[4], e.Encoding, e.Segments)
		}
		if e.Segments > 2 {
			row, _ := strconv.Atoi(rec[0])
			rowsAbove2 = append(rowsAbove2, row)
		}
	}
	if len(rowsAbove2) == 0 {
		t.Fatal("the corpus has no text above 2 segments")
	}

	rejectsPath := filepath.Join(t.TempDir(), "rejects.csv")
	sum, out, err = runEnqueue(t, "--campaign", "corpus", "--csv", csvPath, "--text", "{{.msg}}",
		"--dry-run", "--json", "--max-segments", "2", "--rejects", rejectsPath)
	if err != nil {
		t.Fatalf("enqueue --max-segments 2: %v\n%s", err, out)
	}
	rf, _ := os.ReadFile(rejectsPath)
	rejects, err := csv.NewReader(bytes.NewReader(rf)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range rejects[1:] {
		n, _ := strconv.Atoi(r[0])
		got = append(got, n)
		if !strings.Contains(r[2], "--max-segments 2") {
			t.Errorf("reject reason %q does not name --max-segments 2", r[2])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(rowsAbove2) {
		t.Errorf("--max-segments 2 rejected rows %v, want exactly %v", got, rowsAbove2)
	}
	if sum.Enqueued != int64(len(corpus)-len(rowsAbove2)) || sum.SMS.MaxSegments > 2 {
		t.Errorf("good rows: got %d (max %d segments), want %d (max 2)", sum.Enqueued, sum.SMS.MaxSegments, len(corpus)-len(rowsAbove2))
	}
}

// Bad SMS settings fail at startup naming the flag (and the prices file's
// line), before the CSV is read.
func TestBadSMSSettingsFailNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "r.csv")
	os.WriteFile(csvPath, []byte("phone\n+33612345678\n"), 0o600)
	prices := filepath.Join(dir, "prices.csv")
	os.WriteFile(prices, []byte("country,price\nFR,0.05\nUS,abc\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-segments", "0"}, "--max-segments must be at least 1"},
		{[]string{"--max-segments", "-3"}, "--max-segments must be at least 1"},
		{[]string{"--price-per-segment", "-0.01"}, "--price-per-segment"},
		{[]string{"--price-per-segment", "cheap"}, "--price-per-segment"},
		{[]string{"--prices", prices}, "--prices: prices.csv: prices line 3"},
		{[]string{"--prices", filepath.Join(dir, "missing.csv")}, "--prices"},
	} {
		args := append([]string{"--campaign", "c", "--csv", csvPath, "--text", "hi", "--dry-run"}, tc.args...)
		_, out, err := runEnqueue(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

// The text summary says the SMS totals and the cost estimate.
func TestTextSummaryShowsSMSAndCost(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "r.csv")
	os.WriteFile(csvPath, []byte("phone,msg\n+33612345678,It’s here\n+12025550143,plain\n"), 0o600)
	_, out, err := runEnqueue(t, "--campaign", "c", "--csv", csvPath, "--text", "{{.msg}}", "--dry-run",
		"--price-per-segment", "0.01")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sms: 2 messages: 1 GSM-7, 1 UCS-2; 2 segments (max 1); UCS-2 forced by ’", "cost: estimated cost 0.02 (FR 0.01, US 0.01) from your prices, not Sinch billing"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

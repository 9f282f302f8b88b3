package sms

import (
	"encoding/json"
	"os"
	"testing"
)

// TestCorpus measures the texts of testdata/corpus.json, whose expected
// values were cross-checked against Twilio's segment calculator (see
// testdata/README.md).
func TestCorpus(t *testing.T) {
	b, err := os.ReadFile("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus []struct {
		Name     string   `json:"name"`
		Text     string   `json:"text"`
		Encoding Encoding `json:"encoding"`
		Segments int      `json:"segments"`
		Units    int      `json:"units"`
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 40 {
		t.Fatalf("corpus has %d texts, want at least 40", len(corpus))
	}
	for _, c := range corpus {
		got := Measure(c.Text)
		if got.Encoding != c.Encoding || got.Segments != c.Segments || got.Units != c.Units {
			t.Errorf("%s: got %s %d segments %d units, want %s %d segments %d units",
				c.Name, got.Encoding, got.Segments, got.Units, c.Encoding, c.Segments, c.Units)
		}
	}
}

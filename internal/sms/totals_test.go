package sms

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTotals(t *testing.T) {
	texts := []string{
		"Hello",                        // GSM-7, 1
		strings.Repeat("a", 161),       // GSM-7, 2
		"We’re open",                   // ’
		"We’re open 😀",                 // ’ 😀
		"Don’t miss it ’’’",            // ’ counted once per message
		"10\u00a0€ 😀",                  // U+00A0 😀
		strings.Repeat("ж", 135) + "’", // ж ’, 3 segments
	}
	var all Totals
	for _, s := range texts {
		all.Add(Measure(s))
	}
	got, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	// ’ is in 4 messages, 😀 in 2; U+00A0 and ж tie at 1 and go by code point.
	want := `{"messages":7,"gsm7":2,"ucs2":5,"segments":10,"max_segments":3,"ucs2_chars":["’","😀","` + "\u00a0" + `","ж"]}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	wantText := "7 messages: 2 GSM-7, 5 UCS-2; 10 segments (max 3); UCS-2 forced by ’ U+2019 (4), 😀 U+1F600 (2), U+00A0 (1), ж U+0436 (1)"
	if s := all.String(); s != wantText {
		t.Errorf("got %q, want %q", s, wantText)
	}

	// Workers that split the texts between them must merge to the same.
	var w1, w2, merged Totals
	for i, s := range texts {
		if i%2 == 0 {
			w1.Add(Measure(s))
		} else {
			w2.Add(Measure(s))
		}
	}
	merged.Merge(w1)
	merged.Merge(w2)
	if got, _ := json.Marshal(merged); string(got) != want {
		t.Errorf("merged: got %s, want %s", got, want)
	}
}

func TestTotalsEmptyAndTopTen(t *testing.T) {
	var empty Totals
	if got, _ := json.Marshal(empty); string(got) != `{"messages":0,"gsm7":0,"ucs2":0,"segments":0,"max_segments":0,"ucs2_chars":[]}` {
		t.Errorf("empty: got %s", got)
	}
	if got, want := empty.String(), "0 messages: 0 GSM-7, 0 UCS-2; 0 segments (max 0)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// 12 Cyrillic letters, the first one in 3 messages: the top ten is it
	// then nine more in code point order.
	var tot Totals
	tot.Add(Measure("абвгдежзийкл"))
	tot.Add(Measure("а"))
	tot.Add(Measure("а"))
	top := tot.TopUCS2Chars()
	var got []rune
	for _, c := range top {
		got = append(got, c.Char)
	}
	if want := []rune("абвгдежзий"); string(got) != string(want) || top[0].Messages != 3 || top[1].Messages != 1 {
		t.Errorf("got %q %+v, want %q with а in 3 messages", string(got), top, string(want))
	}
}

func TestTotalsAndCostSurviveAJSONRoundTrip(t *testing.T) {
	var tot Totals
	for _, s := range []string{"It’s", "“Hi”", "’", "plain", "😀 ’"} {
		tot.Add(Measure(s))
	}
	b, err := json.Marshal(tot)
	if err != nil {
		t.Fatal(err)
	}
	var back Totals
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("totals round trip: got %s, want %s", b2, b)
	}

	p, err := ParsePrices(strings.NewReader("FR,0.05\nUS,0.0075\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCost(p)
	c.Add("FR", 3)
	c.Add("US", 2)
	c.Add("DE", 4)
	b, _ = json.Marshal(c)
	var cb Cost
	if err := json.Unmarshal(b, &cb); err != nil {
		t.Fatal(err)
	}
	b2, _ = json.Marshal(&cb)
	if string(b) != string(b2) || cb.Total() != c.Total() {
		t.Errorf("cost round trip: got %s (total %s), want %s (total %s)", b2, cb.Total(), b, c.Total())
	}
	if err := json.Unmarshal([]byte(`{"ucs2_chars":["ab"]}`), &back); err == nil {
		t.Error("ucs2_chars of two characters: got nil, want an error")
	}
}

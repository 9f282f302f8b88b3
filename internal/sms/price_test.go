package sms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParsePrice(t *testing.T) {
	good := []struct {
		in   string
		want Price
		str  string
	}{
		{"0.0075", 7500, "0.0075"},
		{"1", 1_000_000, "1"},
		{"0", 0, "0"},
		{" 0.05 ", 50_000, "0.05"},
		{"12.000001", 12_000_001, "12.000001"},
	}
	for _, tt := range good {
		got, err := ParsePrice(tt.in)
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParsePrice(%q) = %d (%s), %v; want %d (%s), nil", tt.in, got, got, err, tt.want, tt.str)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{"-0.01", ErrNegativePrice},
		{"", ErrBadPrice},
		{"abc", ErrBadPrice},
		{"$0.01", ErrBadPrice},
		{"1e-3", ErrBadPrice},
		{"1.", ErrBadPrice},
		{".5", ErrBadPrice},
		{"+1", ErrBadPrice},
		{"0,01", ErrBadPrice},
		{"99999999999999999999", ErrBadPrice},
		{"0.0000001", ErrPricePrecision},
	}
	for _, tt := range bad {
		if _, err := ParsePrice(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("ParsePrice(%q): got error %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestParsePrices(t *testing.T) {
	p, err := ParsePrices(strings.NewReader("\ufeffcountry,price\n\nUS,0.0075\ngb, 0.04\n\ndefault,0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		region string
		want   Price
	}{{"US", 7500}, {"GB", 40_000}, {"gb", 40_000}, {"FR", 100_000}, {"ZZ", 100_000}} {
		if got, ok := p.Lookup(tt.region); !ok || got != tt.want {
			t.Errorf("Lookup(%s) = %s, %v; want %s, true", tt.region, got, ok, tt.want)
		}
	}
}

func TestParsePricesErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		want error
	}{
		{"one column", "US,0.01\nGB\n", 2, ErrPriceColumns},
		{"three columns", "US,0.01,USD\n", 1, ErrPriceColumns},
		{"bad price", "country,price\nUS,cheap\n", 2, ErrBadPrice},
		{"negative price", "US,0.01\n\nGB,-0.02\n", 3, ErrNegativePrice},
		{"duplicate country", "US,0.01\nGB,0.02\nus,0.03\n", 3, ErrDuplicateCountry},
		{"duplicate default", "default,0.01\nDEFAULT,0.02\n", 2, ErrDuplicateCountry},
		{"unknown region", "US,0.01\nUK,0.02\n", 2, ErrUnknownRegion},
		{"header only first", "US,0.01\ncountry,price\n", 2, ErrBadPrice},
		{"too precise", "US,0.00000001\n", 1, ErrPricePrecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrices(strings.NewReader(tt.in))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want line %d: %v", err, tt.line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "prices line ") {
				t.Errorf("got %q, want it to name the line", err)
			}
		})
	}
	// A CSV syntax error also names its line.
	_, err := ParsePrices(strings.NewReader("US,0.01\n\"GB,0.02\n"))
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("unterminated quote: got %v, want a line 2 error", err)
	}
}

func TestPriceFallback(t *testing.T) {
	file, err := ParsePrices(strings.NewReader("US,0.01\n"))
	if err != nil {
		t.Fatal(err)
	}
	withDefault, err := ParsePrices(strings.NewReader("US,0.01\ndefault,0.02\n"))
	if err != nil {
		t.Fatal(err)
	}
	flat := Price(30_000)
	tests := []struct {
		name   string
		prices Prices
		region string
		want   Price
		ok     bool
	}{
		{"no prices at all", Prices{}, "US", 0, false},
		{"flat only", Prices{}.WithFlat(flat), "US", flat, true},
		{"country beats flat", file.WithFlat(flat), "US", 10_000, true},
		{"flat fills a country the file lacks", file.WithFlat(flat), "GB", flat, true},
		{"file without default or flat", file, "GB", 0, false},
		{"default beats flat", withDefault.WithFlat(flat), "GB", 20_000, true},
		{"country beats default", withDefault.WithFlat(flat), "US", 10_000, true},
		{"a zero flat price is a price", Prices{}.WithFlat(0), "GB", 0, true},
	}
	for _, tt := range tests {
		if got, ok := tt.prices.Lookup(tt.region); got != tt.want || ok != tt.ok {
			t.Errorf("%s: Lookup(%s) = %s, %v; want %s, %v", tt.name, tt.region, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCost(t *testing.T) {
	prices, err := ParsePrices(strings.NewReader("US,0.0075\nGB,0.04\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCost(prices)
	c.Add("US", 2)
	c.Add("GB", 1)
	c.Add("FR", 3)
	c.Add("", 1)
	got, _ := json.Marshal(c)
	want := `{"total":0.055,"by_country":{"GB":0.04,"US":0.015},"unpriced_segments":4,"unpriced_countries":["FR","ZZ"]}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	wantText := "estimated cost 0.055 (GB 0.04, US 0.015) from your prices, not Sinch billing; 4 segments unpriced (FR, ZZ)"
	if s := c.String(); s != wantText {
		t.Errorf("got %q, want %q", s, wantText)
	}

	// Ten million single segments at 0.0075, split over two workers,
	// sum exactly: no float drift.
	w1, w2 := NewCost(prices), NewCost(prices)
	for range 5_000_000 {
		w1.Add("US", 1)
	}
	w2.Add("US", 5_000_000)
	w1.Merge(w2)
	if got, want := w1.Total().String(), "75000"; got != want {
		t.Errorf("10M × 0.0075: got %s, want %s", got, want)
	}
	if got, _ := json.Marshal(w1); string(got) != `{"total":75000,"by_country":{"US":75000}}` {
		t.Errorf("got %s, want zero fields omitted", got)
	}
	var zero Cost
	zero.Add("us", 2)
	if got, _ := json.Marshal(&zero); string(got) != `{"total":0,"unpriced_segments":2,"unpriced_countries":["US"]}` {
		t.Errorf("zero Cost: got %s, want 2 unpriced US segments", got)
	}
	if got, _ := json.Marshal(NewCost(Prices{})); string(got) != `{"total":0}` {
		t.Errorf("empty: got %s, want {\"total\":0}", got)
	}
}

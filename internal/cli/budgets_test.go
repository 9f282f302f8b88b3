package cli

import (
	"strings"
	"testing"
)

func TestParseAppRates(t *testing.T) {
	t.Parallel()
	got, err := ParseAppRates(" a1=20, a2=100.5 ", "")
	if err != nil || len(got) != 2 || got["a1"] != 20 || got["a2"] != 100.5 {
		t.Fatalf("got %v, %v; want a1=20 a2=100.5", got, err)
	}
	if got, err := ParseAppRates("", ""); err != nil || len(got) != 0 {
		t.Fatalf("empty: got %v, %v; want none", got, err)
	}
	// A bare rate is the configured app's.
	got, err = ParseAppRates("35, other=100", "main-app")
	if err != nil || len(got) != 2 || got["main-app"] != 35 || got["other"] != 100 {
		t.Fatalf("bare rate: got %v, %v; want main-app=35 other=100", got, err)
	}
	if _, err := ParseAppRates("fast", "main-app"); err == nil || !strings.Contains(err.Error(), "--app-rate: the rate of app main-app must be a number above 0") {
		t.Errorf("bare non-number: got %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{"a1", "--app-rate must look like APP=RATE"},
		{"a1=20,", "--app-rate must look like APP=RATE"},
		{"=20", "--app-rate: app ID must not be empty"},
		{"a b=20", "--app-rate: app ID \"a b\" may contain only"},
		{"a1=0", "--app-rate: the rate of app a1 must be a number above 0"},
		{"a1=-3", "--app-rate: the rate of app a1 must be a number above 0"},
		{"a1=fast", "--app-rate: the rate of app a1 must be a number above 0"},
		{"a1=NaN", "--app-rate: the rate of app a1 must be a number above 0"},
		{"a1=+Inf", "--app-rate: the rate of app a1 must be a number above 0"},
		{"a1=20,a1=30", "--app-rate: app a1 is given twice"},
	} {
		if _, err := ParseAppRates(tc.in, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

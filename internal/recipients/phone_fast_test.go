package recipients

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// parseE164 is what NormalizePhone does for "+digits" input without the
// fast path: Parse, IsValidNumber, format.
func parseE164(s string) (string, bool) {
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	e164, err := formatE164(num)
	return e164, err == nil
}

// TestFastE164AgreesWithParse: whenever fastE164 answers, Parse gives the
// same number, over every region's example numbers of every type, the same
// with a national prefix or a trunk digit after the country code, mutated
// and random digit strings. It also checks the fast path is taken for
// ordinary mobile numbers, so the test is not vacuous.
func TestFastE164AgreesWithParse(t *testing.T) {
	inputs := e164Inputs()
	fast := 0
	for _, s := range inputs {
		got, ok := fastE164(s)
		if !ok {
			continue
		}
		fast++
		want, valid := parseE164(s)
		if !valid || got != want {
			t.Errorf("%s: fast path gives %q, Parse gives %q (valid %v)", s, got, want, valid)
		}
	}
	t.Logf("%d inputs, %d took the fast path", len(inputs), fast)
	for _, s := range []string{"+33612345678", "+447400123456", "+12015550123", "+4915123456789", "+5511961234567"} {
		if _, ok := fastE164(s); !ok {
			t.Errorf("%s: fast path not taken for an ordinary mobile number", s)
		}
	}
}

// e164Inputs are "+digits" strings around every region's example numbers of
// every type: as is, with a national prefix or a trunk digit after the
// country code, mutated, plus random digit strings and a few odd ones.
func e164Inputs() []string {
	var inputs []string
	rng := rand.New(rand.NewPCG(1, 2))
	add := func(s string) { inputs = append(inputs, s) }
	for region := range phonenumbers.GetSupportedRegions() {
		cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
		for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.VOICEMAIL; typ++ {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			add("+" + cc + nsn)
			if p := phonenumbers.GetNddPrefixForRegion(region, true); p != "" {
				add("+" + cc + p + nsn)
			}
			for _, d := range "0123456789" {
				add("+" + cc + string(d) + nsn)
				add("+" + cc + nsn[:len(nsn)-1] + string(d))
				add("+" + cc + nsn + string(d))
			}
			if len(nsn) > 3 {
				add("+" + cc + nsn[:len(nsn)-1])
			}
		}
		for range 20 {
			add(fmt.Sprintf("+%s%d", cc, rng.Uint64N(1e12)))
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		add(fmt.Sprintf("+%d%d", cc, rng.Uint64N(1e9)))
	}
	add("+0612345678")
	add("+12")
	add("+3361234567890123456789")

	return inputs
}

// TestValidE164AgreesWithLibrary: validE164 answers as IsValidNumber does,
// both ways, including for country codes shared by several regions (+1, +7,
// +44), over the same inputs, and finds both valid and invalid numbers.
func TestValidE164AgreesWithLibrary(t *testing.T) {
	valid, invalid := 0, 0
	for _, s := range e164Inputs() {
		digits := s[1:]
		for n := 1; n <= 3 && n < len(digits); n++ {
			cc, _ := strconv.Atoi(digits[:n])
			nsn := digits[n:]
			v, err := strconv.ParseUint(nsn, 10, 64)
			if phonenumbers.GetRegionCodeForCountryCode(cc) == "ZZ" || nsn[0] == '0' || err != nil {
				continue
			}
			want := phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &[]int32{int32(cc)}[0], NationalNumber: &v})
			if got := validE164(cc, nsn); got != want {
				t.Errorf("+%d %s: validE164 %v, IsValidNumber %v", cc, nsn, got, want)
			}
			if want {
				valid++
			} else {
				invalid++
			}
		}
	}
	if valid < 1000 || invalid < 1000 {
		t.Errorf("only %d valid and %d invalid numbers compared", valid, invalid)
	}
	t.Logf("%d valid, %d invalid", valid, invalid)
}

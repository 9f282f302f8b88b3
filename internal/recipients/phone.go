package recipients

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// maxPhoneBytes bounds the input handed to libphonenumber. Its own limit is 250
// characters; no real number with formatting comes close to 64.
const maxPhoneBytes = 64

// NormalizePhone returns raw as an E.164 number ("+33612345678").
//
// raw may be international ("+33 6 12 34 56 78", "0033 6 12 34 56 78",
// "011 33 6 …" from the US) or, when region is set, national
// ("06 12 34 56 78" with region "FR", "(201) 555-0123" with "US"), with any
// spaces, dashes, dots and parentheses. region is an ISO 3166-1 alpha-2 code,
// or "" to accept international numbers only.
//
// The number must be valid, not merely possible, per libphonenumber's
// metadata, and at most 15 digits long. Numbers with an extension are
// rejected (a message cannot be sent to one), and so are numbers with letters
// (vanity numbers such as "1-800-FLOWERS" are not mobile recipients; letters
// are far more likely a typo).
//
// The error says why the number is rejected and never contains the number.
func NormalizePhone(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("phone number is empty")
	}
	if len(s) > maxPhoneBytes {
		return "", fmt.Errorf("too long to be a phone number (more than %d bytes)", maxPhoneBytes)
	}
	region = strings.ToUpper(region)
	if !strings.ContainsFunc(s, unicode.IsDigit) {
		return "", errors.New("not a phone number")
	}

	if e164, ok := fastE164(s); ok {
		return e164, nil
	}

	// "00" is the international prefix in most of the world but not in
	// North America, so "0033 6…" read with region US would be a national
	// number. Try it as "+33 6…" first.
	rest, has00 := strings.CutPrefix(s, "00")

	// libphonenumber drops stray letters and reads vanity numbers
	// ("1-800-FLOWERS"); in a recipient list letters mean a typo, so they
	// are rejected, except in a "tel:" prefix or an extension.
	if strings.ContainsFunc(strings.TrimPrefix(strings.ToLower(s), "tel:"), unicode.IsLetter) {
		for _, c := range []string{s, "+" + rest} {
			if num, err := phonenumbers.Parse(c, region); err == nil && num.GetExtension() != "" {
				return "", errors.New("phone number has an extension")
			}
		}
		return "", errors.New("phone number contains letters")
	}
	if has00 {
		if num, err := phonenumbers.Parse("+"+rest, region); err == nil && phonenumbers.IsValidNumber(num) {
			return formatE164(num)
		}
	}

	num, err := phonenumbers.Parse(s, region)
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		if region == "" && !strings.HasPrefix(s, "+") {
			return "", errors.New("phone number has no country code (+…) and no default region is set")
		}
		return "", errors.New("phone number has an unknown country calling code")
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "", errors.New("not a phone number")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "", errors.New("too short to be a phone number")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "", errors.New("too long to be a phone number")
	case err != nil:
		return "", errors.New("not a phone number")
	}
	if !phonenumbers.IsValidNumber(num) {
		r := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
		if r == "" || r == "ZZ" || r == "001" {
			return "", fmt.Errorf("not a valid phone number for country code +%d", num.GetCountryCode())
		}
		return "", fmt.Errorf("not a valid phone number for region %s", r)
	}
	return formatE164(num)
}

// fastE164 validates a number already written in E.164 ("+" and digits
// only, as most recipient lists are) without phonenumbers.Parse, whose
// regular expressions (extension, punctuation) are most of the cost of a row
// and cannot match such input. It builds the PhoneNumber that Parse would:
// the country code is the first 1–3 digits naming one (country codes are a
// prefix code); the rest is the national number, unchanged, unless the
// country's national prefix could be stripped from it, which Parse might do
// (then, and for anything unusual, ok is false and the caller parses).
// validE164 is then IsValidNumber's check on the same number. ok is false too
// when the number is not valid, so that the caller produces the reason.
// TestFastE164AgreesWithParse holds it to that.
func fastE164(s string) (string, bool) {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) <= 2 || len(digits) > 3+17 || digits[0] == '0' ||
		strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", false
	}
	for n := 1; n <= 3; n++ {
		cc, _ := strconv.Atoi(digits[:n])
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		if region == "ZZ" {
			continue
		}
		nsn := digits[n:]
		if region == "001" || len(nsn) < 2 || len(nsn) > 17 || nsn[0] == '0' || nationalPrefixMayStrip(region, nsn) {
			return "", false // non-geographic, odd length, Italian leading zero, national prefix
		}
		if len(digits) > maxE164Digits || !validE164(cc, nsn) {
			return "", false
		}
		// What formatE164 would build from this number: "+", the country
		// code and the national number, none with a leading zero.
		return s, true
	}
	return "", false
}

// nationalPrefixes holds, per region, the pattern Parse tries to strip from
// the start of a national number (national_prefix_for_parsing), anchored.
var nationalPrefixes = sync.OnceValue(func() map[string]*regexp.Regexp {
	out := map[string]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return out
	}
	for _, md := range coll.GetMetadata() {
		if p := md.GetNationalPrefixForParsing(); p != "" {
			re, err := regexp.Compile("^(?:" + p + ")")
			if err != nil {
				re = nil // unusable here: treated as matching
			}
			out[md.GetId()] = re
		}
	}
	return out
})

// nationalPrefixMayStrip reports whether Parse could take a national prefix
// off nsn: its pattern matches the start. Unknown metadata counts as yes.
func nationalPrefixMayStrip(region, nsn string) bool {
	m := nationalPrefixes()
	if len(m) == 0 {
		return true
	}
	re, ok := m[region]
	return ok && (re == nil || re.MatchString(nsn))
}

// maxE164Digits is the longest number E.164 allows, country code included.
const maxE164Digits = 15

func formatE164(num *phonenumbers.PhoneNumber) (string, error) {
	if num.GetExtension() != "" {
		return "", errors.New("phone number has an extension")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164)-1 > maxE164Digits {
		return "", fmt.Errorf("too long to be a phone number (more than %d digits)", maxE164Digits)
	}
	return e164, nil
}

// NormalizeIdentity returns raw as the identity a recipient of channel ch is
// known by, the same wherever it comes from (the recipient CSV, suppression
// lists, the operator, Sinch's listings): for a phone-based channel the
// E.164 number (see NormalizePhone; region is for national numbers), for
// the others the identity without surrounding space, which must not be
// empty or hold control characters. The error never contains the identity.
func NormalizeIdentity(ch sinch.Channel, raw, region string) (string, error) {
	id := strings.TrimSpace(raw)
	switch {
	case ch.PhoneBased():
		return NormalizePhone(id, region)
	case id == "":
		return "", fmt.Errorf("recipient is empty (a %s identity is required)", ch)
	case strings.ContainsFunc(id, unicode.IsControl):
		return "", errors.New("recipient contains control characters")
	}
	return id, nil
}

// ParseChannel reads a channel name case-insensitively ("whatsapp" is
// WHATSAPP). The error names the accepted values, not the input.
func ParseChannel(s string) (sinch.Channel, error) {
	c := sinch.Channel(strings.ToUpper(strings.TrimSpace(s)))
	if !c.Valid() {
		return "", fmt.Errorf("unknown channel (want one of %s)", strings.Join(sinch.ChannelNames(), ", "))
	}
	return c, nil
}

// RegionOf returns the ISO 3166-1 region of an E.164 number ("FR" for
// "+33…"), as phonenumbers.GetRegionCodeForNumber does, or "" when it
// cannot tell (not a number). A calling code used by one region only is
// answered from a table without parsing the number.
func RegionOf(e164 string) string {
	if len(e164) < 2 || e164[0] != '+' {
		return ""
	}
	for n := 1; n <= 3 && n < len(e164); n++ {
		cc, err := strconv.Atoi(e164[1 : 1+n])
		if err != nil {
			return ""
		}
		if regions := phonenumbers.GetRegionCodesForCountryCode(cc); len(regions) == 1 {
			return regions[0]
		} else if len(regions) > 1 {
			break
		}
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

package recipients

import (
	"errors"
	"fmt"
	"strings"
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

// ParseChannel reads a channel name case-insensitively ("whatsapp" is
// WHATSAPP). The error names the accepted values, not the input.
func ParseChannel(s string) (sinch.Channel, error) {
	c := sinch.Channel(strings.ToUpper(strings.TrimSpace(s)))
	if !c.Valid() {
		return "", fmt.Errorf("unknown channel (want one of %s)", channelList())
	}
	return c, nil
}

func channelList() string {
	names := make([]string, len(sinch.Channels))
	for i, c := range sinch.Channels {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

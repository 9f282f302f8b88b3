package recipients

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// validE164 reports what phonenumbers.IsValidNumber reports for the number
// with country code cc and national significant number nsn (no leading
// zero), without its per-call costs: for every number-type pattern it tests,
// IsValidNumber builds the anchored pattern string twice, looks it up twice
// in a mutex-guarded cache and runs the regexp twice. Here each region's
// patterns are compiled once, from the same metadata, and each runs at most
// once. The logic is the library's (GetRegionCodeForNumber, then
// getNumberTypeHelper != UNKNOWN); TestFastE164AgreesWithParse and
// TestValidE164AgreesWithLibrary hold it to the library's answers.
func validE164(cc int, nsn string) bool {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	if len(regions) == 1 {
		v := validatorFor(metadataKey(regions[0], cc))
		return v != nil && v.valid(nsn)
	}
	// Several regions share cc: the number belongs to the first whose leading
	// digits match or, for a region without them, that it is valid in.
	for _, r := range regions {
		v := validatorFor(metadataKey(r, cc))
		if v == nil {
			return false // unknown metadata: the library would find none either
		}
		if v.leading != nil {
			if v.leading.MatchString(nsn) {
				return v.valid(nsn)
			}
		} else if v.valid(nsn) {
			return true
		}
	}
	return false
}

// numberDesc is a compiled phonenumbers.PhoneNumberDesc.
type numberDesc struct {
	lengths []int32
	re      *regexp.Regexp
}

// matches is the library's isNumberMatchingDesc.
func (d *numberDesc) matches(nsn string) bool {
	if len(d.lengths) > 0 {
		found := false
		for _, l := range d.lengths {
			if int32(len(nsn)) == l {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return d.re.MatchString(nsn)
}

// regionValidator holds one region's compiled patterns.
type regionValidator struct {
	general, fixed, mobile numberDesc
	others                 []numberDesc // premium rate … voicemail: any match is valid
	sameMobileAndFixed     bool
	leading                *regexp.Regexp // leading_digits, nil when absent
}

// valid is the library's getNumberTypeHelper(nsn) != UNKNOWN. The order of
// its tests only decides which type it returns, not whether it finds one.
func (v *regionValidator) valid(nsn string) bool {
	if !v.general.matches(nsn) {
		return false
	}
	if v.fixed.matches(nsn) || (!v.sameMobileAndFixed && v.mobile.matches(nsn)) {
		return true
	}
	for i := range v.others {
		if v.others[i].matches(nsn) {
			return true
		}
	}
	return false
}

var (
	regionMetadata = sync.OnceValue(func() map[string]*phonenumbers.PhoneMetadata {
		out := map[string]*phonenumbers.PhoneMetadata{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return out
		}
		for _, md := range coll.GetMetadata() {
			out[metadataKey(md.GetId(), int(md.GetCountryCode()))] = md
		}
		return out
	})
	validators sync.Map // region → *regionValidator
)

// metadataKey names a region's metadata: its region code, or for the
// non-geographic entities (region "001", one per country code) the code too.
func metadataKey(region string, cc int) string {
	if region == "001" {
		return region + "/" + strconv.Itoa(cc)
	}
	return region
}

// validatorFor compiles a region's patterns on first use; nil when the
// region has no metadata. key is a metadataKey.
func validatorFor(key string) *regionValidator {
	if v, ok := validators.Load(key); ok {
		return v.(*regionValidator)
	}
	md := regionMetadata()[key]
	if md == nil {
		return nil
	}
	desc := func(d *phonenumbers.PhoneNumberDesc) numberDesc {
		// The same anchoring as the library's, so the same matches.
		return numberDesc{lengths: d.GetPossibleLength(), re: regexp.MustCompile("^(?:" + d.GetNationalNumberPattern() + ")$")}
	}
	v := &regionValidator{
		general: desc(md.GetGeneralDesc()), fixed: desc(md.GetFixedLine()), mobile: desc(md.GetMobile()),
		sameMobileAndFixed: md.GetSameMobileAndFixedLinePattern(),
	}
	for _, d := range []*phonenumbers.PhoneNumberDesc{md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(),
		md.GetVoip(), md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail()} {
		v.others = append(v.others, desc(d))
	}
	if ld := md.GetLeadingDigits(); ld != "" {
		v.leading = regexp.MustCompile("^(?:" + ld + ")")
	}
	actual, _ := validators.LoadOrStore(key, v)
	return actual.(*regionValidator)
}

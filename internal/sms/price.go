package sms

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Price is a price per segment in millionths of the currency unit, so
// that summing millions of 0.0075s stays exact.
type Price int64

// priceScale is the number of Price units in one currency unit.
const (
	priceScale    = 1_000_000
	priceDecimals = 6
)

// Errors wrapped by ParsePrice and ParsePrices; branch with errors.Is.
var (
	ErrBadPrice         = errors.New("price must be a decimal number like 0.0075")
	ErrNegativePrice    = errors.New("price must not be negative")
	ErrPricePrecision   = errors.New("price has more than 6 decimal places")
	ErrPriceColumns     = errors.New("want 2 columns: country,price")
	ErrDuplicateCountry = errors.New("country listed twice")
	ErrUnknownRegion    = errors.New("unknown region code (want an ISO 3166 code such as US or GB, or default)")
)

// ParsePrice parses a non-negative decimal price such as "0.0075" (at most
// 6 decimal places; no sign, exponent or currency symbol).
func ParsePrice(s string) (Price, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q: %w", s, ErrNegativePrice)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || !allDigits(frac) || strings.HasSuffix(s, ".") {
		return 0, fmt.Errorf("%q: %w", s, ErrBadPrice)
	}
	if len(frac) > priceDecimals {
		return 0, fmt.Errorf("%q: %w", s, ErrPricePrecision)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<62)/priceScale {
		return 0, fmt.Errorf("%q: %w", s, ErrBadPrice)
	}
	f, _ := strconv.ParseInt(frac+strings.Repeat("0", priceDecimals-len(frac)), 10, 64)
	return Price(w*priceScale + f), nil
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats p as a plain decimal without trailing zeros: "0.0075".
func (p Price) String() string {
	return formatMicros(int64(p))
}

func formatMicros(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := fmt.Sprintf("%s%d.%06d", sign, n/priceScale, n%priceScale)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// Prices holds per-segment prices by region. The zero value has no prices.
type Prices struct {
	byRegion   map[string]Price
	def        Price
	hasDefault bool
	flat       Price
	hasFlat    bool
}

// defaultRow is the country column value of the catch-all row.
const defaultRow = "default"

// LineError is a bad line of a price file.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("prices line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ParsePrices reads a CSV of "country,price" rows: the country is an ISO
// 3166 region code as phonenumbers.GetRegionCodeForNumber returns it (US,
// GB; case is ignored) or "default" for every region without its own row.
// A first line "country,price" is a header and skipped; blank lines are
// ignored. The first bad line is returned as a *LineError.
func ParsePrices(r io.Reader) (Prices, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	p := Prices{byRegion: make(map[string]Price)}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Prices{}, &LineError{pe.Line, pe.Err}
			}
			return Prices{}, fmt.Errorf("prices: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 2 {
			return Prices{}, &LineError{line, fmt.Errorf("%w, got %d", ErrPriceColumns, len(rec))}
		}
		country, price := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if first {
			country = strings.TrimPrefix(country, "\ufeff") // spreadsheet exports start with a BOM
		}
		if first && strings.EqualFold(country, "country") && strings.EqualFold(price, "price") {
			continue
		}
		if err := p.add(country, price); err != nil {
			return Prices{}, &LineError{line, err}
		}
	}
}

func (p *Prices) add(country, price string) error {
	v, err := ParsePrice(price)
	if err != nil {
		return err
	}
	if strings.EqualFold(country, defaultRow) {
		if p.hasDefault {
			return fmt.Errorf("%s: %w", defaultRow, ErrDuplicateCountry)
		}
		p.def, p.hasDefault = v, true
		return nil
	}
	region := strings.ToUpper(country)
	if !phonenumbers.GetSupportedRegions()[region] {
		return fmt.Errorf("%q: %w", country, ErrUnknownRegion)
	}
	if _, dup := p.byRegion[region]; dup {
		return fmt.Errorf("%s: %w", region, ErrDuplicateCountry)
	}
	p.byRegion[region] = v
	return nil
}

// WithFlat returns p with a flat per-segment price (the --price-per-segment
// flag) used for regions that have neither their own row nor a default.
func (p Prices) WithFlat(flat Price) Prices {
	p.flat, p.hasFlat = flat, true
	return p
}

// Lookup returns the per-segment price for region: the region's own row,
// else the file's default row, else the flat price. ok is false when no
// price applies.
func (p Prices) Lookup(region string) (price Price, ok bool) {
	if v, ok := p.byRegion[strings.ToUpper(region)]; ok {
		return v, true
	}
	if p.hasDefault {
		return p.def, true
	}
	return p.flat, p.hasFlat
}

// MarshalJSON writes p as an exact decimal number: 0.0075.
func (p Price) MarshalJSON() ([]byte, error) { return []byte(formatMicros(int64(p))), nil }

// UnmarshalJSON reads a decimal number (or a string holding one).
func (p *Price) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	neg := strings.HasPrefix(s, "-")
	v, err := ParsePrice(strings.TrimPrefix(s, "-"))
	if err != nil {
		return err
	}
	if neg {
		v = -v
	}
	*p = v
	return nil
}

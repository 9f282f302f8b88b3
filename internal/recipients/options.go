package recipients

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Defaults for [Options].
const (
	DefaultDelimiter     = ','
	DefaultChannel       = sinch.ChannelSMS
	DefaultMaxFieldBytes = 64 << 10 // 64 KiB
	DefaultMaxColumns    = 1000
	DefaultMaxRowBytes   = 1 << 20 // 1 MiB
	DefaultMaxBytes      = 2 << 30 // 2 GiB
)

// Options configures a [Reader]. The zero value is usable: every zero field
// takes its default. Invalid values make [NewReader] fail; they are never
// silently clamped.
type Options struct {
	// Delimiter separates fields. It must be a single-byte ASCII character
	// other than '"', '\r' and '\n' (for example ',', ';', '\t' or '|').
	// Defaults to DefaultDelimiter (',').
	Delimiter rune

	// StrictQuotes rejects a row with a '"' inside a value that is not
	// quoted, such as the inch mark of 27" or 37°36'37.8"N. Without it such
	// a '"' is part of the value, as spreadsheets read it. Either way a value
	// that starts with '"' is a quoted field, and a '"' inside it must be
	// doubled or end the field. Defaults to false.
	StrictQuotes bool

	// Encoding names the file's text encoding when it is not UTF-8: a name
	// ParseEncoding knows, such as "windows-1252", "iso-8859-1" or
	// "shift_jis". A file that starts with a byte order mark is read in the
	// encoding the mark gives (UTF-8, or UTF-16 as Excel's "Unicode text"
	// is) whatever Encoding says. In a decoded file, a value holding U+FFFD,
	// which decoders put for bytes their encoding does not define, is
	// rejected. The byte limits below count bytes of the text converted to
	// UTF-8, except MaxBytes, which counts the file's own.
	// Defaults to "" (UTF-8).
	Encoding string

	// DefaultRegion is the ISO 3166-1 alpha-2 code ("US", "FR") of the country
	// whose national format is assumed for numbers written without a "+"
	// country code, such as "(201) 555-0123" or "06 12 34 56 78". It is
	// matched case-insensitively and must be a region libphonenumber knows.
	// Defaults to "", which rejects numbers without a country code.
	DefaultRegion string

	// DefaultChannel is the channel of rows that have no channel column or
	// leave it empty. It must be a value of sinch.Channels.
	// Defaults to DefaultChannel (SMS).
	DefaultChannel sinch.Channel

	// Channels, when it lists two or more channels, sends every row on
	// them in this order (channel fallback, see ParseChannels): the row's
	// phone number on the phone-based ones, its IdentityColumn on the
	// others; DefaultChannel and a channel column do not apply. At least one
	// must be phone-based. Defaults to nil (one channel per row).
	Channels []sinch.Channel

	// MaxFieldBytes is the longest accepted cell, in bytes; a row with a
	// longer cell is rejected. Defaults to DefaultMaxFieldBytes (64 KiB).
	MaxFieldBytes int

	// MaxColumns is the most columns a header may have. Defaults to
	// DefaultMaxColumns (1000).
	MaxColumns int

	// MaxRowBytes is the longest accepted record, in bytes (without its
	// final line break). A longer data row is rejected and the
	// rest of it skipped without being buffered; a longer header is fatal.
	// Defaults to DefaultMaxRowBytes (1 MiB).
	MaxRowBytes int

	// MaxBytes is the largest accepted file, in bytes (after a byte order
	// mark). Reading stops with a FatalError wrapping ErrTooLarge when the
	// file passes it; the rows that end within the limit have been
	// returned by then.
	// Callers that can stat the file should check its size first, so a
	// too-large file is refused before any row. Defaults to DefaultMaxBytes
	// (2 GiB).
	MaxBytes int64

	// Template, if set, is checked against the header: NewReader fails with
	// ErrUnknownVariable if the template uses a variable the file has no
	// column for. Defaults to nil (no check).
	Template *Template
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	o.Delimiter = cmp.Or(o.Delimiter, DefaultDelimiter)
	o.DefaultRegion = strings.ToUpper(strings.TrimSpace(o.DefaultRegion))
	o.DefaultChannel = cmp.Or(o.DefaultChannel, DefaultChannel)
	o.MaxFieldBytes = cmp.Or(o.MaxFieldBytes, DefaultMaxFieldBytes)
	o.MaxColumns = cmp.Or(o.MaxColumns, DefaultMaxColumns)
	o.MaxRowBytes = cmp.Or(o.MaxRowBytes, DefaultMaxRowBytes)
	o.MaxBytes = cmp.Or(o.MaxBytes, DefaultMaxBytes)
	return o
}

// validDelimiter reports whether d can separate fields.
func validDelimiter(d rune) bool {
	return d > 0 && d <= 0x7f && d != '"' && d != '\r' && d != '\n'
}

// ParseDelimiter reads a delimiter as a person writes it on a command line
// or in a file: one ASCII character other than a quote or a line break, or
// `\t` for a tab.
func ParseDelimiter(s string) (rune, error) {
	if s == `\t` {
		return '\t', nil
	}
	if len(s) != 1 || !validDelimiter(rune(s[0])) {
		return 0, fmt.Errorf("must be one character (ASCII, not a quote or line break; \\t for tab), got %q", s)
	}
	return rune(s[0]), nil
}

// ParseRegion normalises a default region ("fr" becomes "FR") and checks
// that libphonenumber knows it; "" is no region.
func ParseRegion(s string) (string, error) {
	r := strings.ToUpper(strings.TrimSpace(s))
	if r != "" && !phonenumbers.GetSupportedRegions()[r] {
		return "", fmt.Errorf("%q is not a country code (ISO 3166-1 alpha-2, such as US or FR)", s)
	}
	return r, nil
}

// validate checks options that have been through WithDefaults.
func (o Options) validate() error {
	if d := o.Delimiter; !validDelimiter(d) {
		return fmt.Errorf("recipients: Options.Delimiter %q must be a single-byte ASCII character other than '\"', '\\r' and '\\n'", d)
	}
	if _, err := ParseEncoding(o.Encoding); err != nil {
		return fmt.Errorf("recipients: Options.Encoding: %w", err)
	}
	if _, err := ParseRegion(o.DefaultRegion); err != nil {
		return fmt.Errorf("recipients: Options.DefaultRegion %q is not a known ISO 3166-1 alpha-2 region code", o.DefaultRegion)
	}
	if !o.DefaultChannel.Valid() {
		return fmt.Errorf("recipients: Options.DefaultChannel %q is not a Sinch channel (want one of %s)", o.DefaultChannel, strings.Join(sinch.ChannelNames(), ", "))
	}
	if o.Channels != nil {
		if err := checkChannels(o.Channels); err != nil {
			return fmt.Errorf("recipients: Options.Channels %w", err)
		}
	}
	if o.MaxFieldBytes < 1 {
		return fmt.Errorf("recipients: Options.MaxFieldBytes must be at least 1, got %d", o.MaxFieldBytes)
	}
	if o.MaxColumns < 1 {
		return fmt.Errorf("recipients: Options.MaxColumns must be at least 1, got %d", o.MaxColumns)
	}
	if o.MaxRowBytes < 1 {
		return fmt.Errorf("recipients: Options.MaxRowBytes must be at least 1, got %d", o.MaxRowBytes)
	}
	if o.MaxBytes < 1 {
		return fmt.Errorf("recipients: Options.MaxBytes must be at least 1, got %d", o.MaxBytes)
	}
	return nil
}

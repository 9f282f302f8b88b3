package enqueuecli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
)

// limitOpts are enqueue's input limits: --max-bytes, --max-row-bytes,
// --max-field-bytes, --max-columns and --max-message-chars. Each bounds the
// memory or cost of one hostile or mistaken upload; the defaults are
// recipients' and fit any real campaign.
type limitOpts struct {
	maxBytes, maxRowBytes, maxFieldBytes sizeFlag
	maxColumns, maxMessageChars          *int
}

func limitFlags(fs *flag.FlagSet) *limitOpts {
	l := &limitOpts{
		maxBytes:      sizeFlag(recipients.DefaultMaxBytes),
		maxRowBytes:   sizeFlag(recipients.DefaultMaxRowBytes),
		maxFieldBytes: sizeFlag(recipients.DefaultMaxFieldBytes),
	}
	fs.Var(&l.maxBytes, "max-bytes", "refuse a CSV larger than this (e.g. 2GiB, 500MiB, 10MB)")
	fs.Var(&l.maxRowBytes, "max-row-bytes", "reject a CSV row longer than this")
	fs.Var(&l.maxFieldBytes, "max-field-bytes", "reject a CSV row with a cell longer than this")
	l.maxColumns = fs.Int("max-columns", recipients.DefaultMaxColumns, "refuse a CSV whose header has more columns than this")
	l.maxMessageChars = fs.Int("max-message-chars", recipients.DefaultMaxTextRunes,
		"reject a row whose rendered --text message is longer than this many characters")
	return l
}

func (l *limitOpts) validate() error {
	switch {
	case l.maxBytes < 1:
		return errors.New("--max-bytes must be at least 1")
	case l.maxRowBytes < 1:
		return errors.New("--max-row-bytes must be at least 1")
	case l.maxFieldBytes < 1:
		return errors.New("--max-field-bytes must be at least 1")
	case int64(l.maxFieldBytes) > int64(l.maxRowBytes):
		return fmt.Errorf("--max-field-bytes (%s) must not exceed --max-row-bytes (%s)", l.maxFieldBytes, l.maxRowBytes)
	case *l.maxColumns < 1:
		return errors.New("--max-columns must be at least 1")
	case *l.maxMessageChars < 1:
		return errors.New("--max-message-chars must be at least 1")
	}
	return nil
}

// apply copies the CSV limits into the upload's options.
func (l *limitOpts) apply(o *enqueue.Options) {
	o.MaxBytes = int64(l.maxBytes)
	o.MaxRowBytes, o.MaxFieldBytes, o.MaxColumns = int(l.maxRowBytes), int(l.maxFieldBytes), *l.maxColumns
}

// template returns the limits on a --text message.
func (l *limitOpts) template() recipients.TemplateOptions {
	return recipients.TemplateOptions{MaxTextRunes: *l.maxMessageChars}
}

// checkSize refuses a regular file over --max-bytes before any row is read,
// so nothing of it is enqueued. Pipes are stopped by the reader instead.
func (l *limitOpts) checkSize(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= int64(l.maxBytes) {
		return nil
	}
	return fmt.Errorf("--csv: %s is %s, larger than --max-bytes %s; split it or raise --max-bytes",
		fi.Name(), sizeFlag(fi.Size()), l.maxBytes)
}

// sizeFlag is a byte count written as 1048576, 64KiB, 1MiB, 2GiB (powers of
// 1024) or 10KB, 10MB, 2GB (powers of 1000).
type sizeFlag int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (s *sizeFlag) Set(v string) error {
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size such as 1048576, 64KiB, 1MiB or 2GiB, got %q", v)
	}
	*s = sizeFlag(n * mult)
	return nil
}

// String writes the size in the largest binary unit that divides it, or in
// bytes ("1500B"); Set reads it back.
func (s sizeFlag) String() string {
	n := int64(s)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

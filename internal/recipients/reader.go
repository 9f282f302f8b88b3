package recipients

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gocarina/gocsv"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Row is one valid recipient.
type Row struct {
	// Line is the 1-based line of the file on which the row starts.
	Line int
	// Channel is the row's channel column, or Options.DefaultChannel.
	Channel sinch.Channel
	// Identity is the recipient: an E.164 number for phone-based channels
	// (SMS, MMS, WHATSAPP, RCS, VIBERBM), else the cell trimmed of spaces.
	Identity string
	// Identities, in a fallback campaign (Options.Channels lists several
	// channels), is the row's identity on each listed channel, in the
	// order given; Channel and Identity are its first. Nil otherwise.
	Identities []sinch.ChannelIdentity
	// Vars holds the template variables: every column other than the phone,
	// channel and channel identity columns, keyed by header name, with the
	// cell's value as written. An empty cell is an empty string, not a
	// missing variable.
	Vars map[string]string
}

// Recognised header names, compared after trimming and lower-casing.
const (
	colPhone    = "phone"
	colIdentity = "identity"
	colChannel  = "channel"
)

// Reader reads recipients from a CSV file, one row per call to Next. It is
// not safe for concurrent use.
type Reader struct {
	opts Options
	recs *records

	header     []string // trimmed names, in file order
	headerLine int
	phoneIdx   int
	channelIdx int // -1 if there is no channel column
	// identityIdx is the identity column of each of Options.Channels in a
	// fallback campaign (the phone column for phone-based ones); nil
	// otherwise.
	identityIdx []int
	varIdx      []int
	err         error // sticky: io.EOF or a fatal error
}

// records is the CSV layer of a Reader: the file's text as UTF-8 (see
// openText) read through the guard by encoding/csv, one record at a time,
// with what the guard knows about each. This layer decides what is a
// record and what a quote means; the Reader above it turns the guard's
// verdicts into messages and checks the cells.
//
// encoding/csv is driven through gocsv's CSVReader plumbing
// (gocsv.NewSimpleDecoderFromCSVReader) over an encoding/csv.Reader of our
// own: gocsv's Unmarshal* and *ToCallback APIs decode into structs, which a
// file whose columns are template variables cannot have; CSVToMaps reads
// the whole file into memory and CSVToChanMaps stops at the first bad
// record; LazyCSVReader turns on TrimLeadingSpace, which changes cell
// values, and LazyQuotes on its own, which reads `"a"b,c` as one quoted
// field running on past the quote, into the following rows; and
// SetCSVReader is process-wide state. Pulling one record at a time from a
// decoder we configured keeps memory flat, keeps the delimiter per Reader,
// and lets us carry on after a bad record. LazyQuotes is on here only
// because the guard never passes on the quotes it would misread (see
// guard.go): what is left of it is reading a '"' inside an unquoted value
// as part of the value.
type records struct {
	g        *guard
	csv      *csv.Reader
	dec      gocsv.SimpleDecoder
	text     textInfo
	maxBytes int64 // for the ErrTooLarge message
}

func newRecords(r io.Reader, opts Options) (*records, error) {
	enc, err := ParseEncoding(opts.Encoding)
	if err != nil {
		return nil, fmt.Errorf("recipients: Options.Encoding: %w", err)
	}
	src, text := openText(r, enc, opts.Encoding, opts.MaxBytes)
	rs := csvRecords(src, opts)
	rs.text = text
	return rs, nil
}

// csvRecords reads the records of text, which is UTF-8.
func csvRecords(text io.Reader, opts Options) *records {
	g := newGuard(text, byte(opts.Delimiter), opts.MaxRowBytes, opts.MaxColumns, opts.StrictQuotes)
	cr := csv.NewReader(g)
	cr.Comma = opts.Delimiter
	cr.LazyQuotes = true    // see above: the guard applies the quoting rules
	cr.FieldsPerRecord = -1 // checked against the header by us, with a better message
	cr.ReuseRecord = true   // each record's cells still get a fresh string
	return &records{g: g, csv: cr, dec: gocsv.NewSimpleDecoderFromCSVReader(cr), maxBytes: opts.MaxBytes}
}

// NewReader reads and checks the header of the CSV in r.
//
// A problem with the file as a whole is returned as a [*FatalError] wrapping
// one of the Err* sentinels; invalid options and read errors are returned as
// plain errors.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	recs, err := newRecords(r, opts)
	if err != nil {
		return nil, err
	}
	rd := &Reader{opts: opts, recs: recs, channelIdx: -1}
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	if opts.Template != nil {
		if err := opts.Template.CheckColumns(rd.Columns()); err != nil {
			var fe *FatalError
			if errors.As(err, &fe) {
				fe.Line = rd.headerLine
			}
			return nil, err
		}
	}
	return rd, nil
}

// Columns returns the names of the template-variable columns, in file order.
func (r *Reader) Columns() []string {
	cols := make([]string, len(r.varIdx))
	for i, j := range r.varIdx {
		cols[i] = r.header[j]
	}
	return cols
}

// PhoneColumn returns the header name of the recipient column as written in
// the file ("phone", "Phone", "identity", …).
func (r *Reader) PhoneColumn() string { return r.header[r.phoneIdx] }

// ChannelColumn returns the header name of the channel column, or "".
func (r *Reader) ChannelColumn() string {
	if r.channelIdx < 0 {
		return ""
	}
	return r.header[r.channelIdx]
}

// read returns the next record from encoding/csv with what the guard knows
// about it. err is nil, io.EOF, or a fatal error.
func (rs *records) read() (rec []string, info recordInfo, err error) {
	rec, err = rs.dec.GetCSVRow()
	if err != nil {
		var perr *csv.ParseError
		switch {
		case err == io.EOF:
			return nil, recordInfo{}, io.EOF
		case errors.Is(err, errTooLarge):
			return nil, recordInfo{}, &FatalError{Err: ErrTooLarge, Line: rs.g.line,
				Detail: fmt.Sprintf("the file is larger than %d bytes (--max-bytes); split it or raise --max-bytes", rs.maxBytes)}
		case errors.As(err, &perr):
			// With LazyQuotes and FieldsPerRecord -1, encoding/csv reports
			// nothing the guard should not have stopped.
			return nil, recordInfo{}, fmt.Errorf("recipients: internal error: line %d: encoding/csv: %w", rs.g.line, err)
		}
		return nil, recordInfo{}, fmt.Errorf("recipients: reading line %d: %w", rs.g.line, err)
	}
	info, ok := rs.g.pop()
	if !ok {
		return nil, info, errors.New("recipients: internal error: a CSV record has no line information")
	}
	if len(rec) > 0 {
		if line, _ := rs.csv.FieldPos(0); line != info.emittedLine {
			return nil, info, fmt.Errorf("recipients: internal error: line %d: record boundaries out of step with encoding/csv", info.line)
		}
	}
	return rec, info, nil
}

func (r *Reader) readHeader() error {
	rec, info, err := r.recs.read()
	fatal := func(sentinel error, format string, args ...any) error {
		return &FatalError{Err: sentinel, Line: info.line, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case err == io.EOF && r.recs.g.dataBytes == 0:
		return &FatalError{Err: ErrEmpty}
	case err == io.EOF:
		return &FatalError{Err: ErrNoHeader, Detail: "the file has only blank lines"}
	case err != nil:
		return err
	case info.unterminated:
		return fatal(ErrMalformedHeader, "a quoted column name is never closed")
	case info.cut == cutFields || len(rec) > r.opts.MaxColumns:
		return fatal(ErrTooManyColumns, "the header has more than %d columns (--max-columns)", r.opts.MaxColumns)
	case info.cut == cutBytes:
		return fatal(ErrMalformedHeader, "the header is longer than %d bytes (--max-row-bytes)", r.opts.MaxRowBytes)
	case info.cut == cutBareQuote || info.cut == cutStrayQuote:
		return fatal(ErrMalformedHeader, "column %d: %s", info.quoteErrField+1, quoteReason(info.cut))
	}

	r.headerLine = info.line
	r.header = make([]string, len(rec))
	seen := make(map[string]int, len(rec)) // lower-cased name -> column index
	var dups []string
	for i, raw := range rec {
		switch {
		case !r.recs.text.valid(raw):
			return fatal(ErrEncoding, "column %d: the name %s", i+1, r.recs.text.invalid())
		case strings.IndexByte(raw, 0) >= 0:
			return fatal(ErrMalformedHeader, "column %d: the name contains a NUL byte (is the file UTF-16 without a byte order mark? name it with --encoding utf-16le or utf-16be)", i+1)
		case len(raw) > r.opts.MaxFieldBytes:
			return fatal(ErrMalformedHeader, "column %d: the name is longer than %d bytes (--max-field-bytes)", i+1, r.opts.MaxFieldBytes)
		}
		name := strings.TrimSpace(raw)
		if name == "" {
			return fatal(ErrEmptyColumnName, "column %d has no name", i+1)
		}
		r.header[i] = name
		key := strings.ToLower(name)
		if key == colIdentity {
			key = colPhone // two recipient columns are ambiguous too
		}
		if j, ok := seen[key]; ok {
			dups = append(dups, fmt.Sprintf("%s (column %d) and %s (column %d)", quoteName(r.header[j]), j+1, quoteName(name), i+1))
			continue
		}
		seen[key] = i
	}
	if len(dups) > 0 {
		return fatal(ErrDuplicateColumn, "%s", strings.Join(dups, ", "))
	}

	phone, ok := seen[colPhone]
	if !ok {
		hint := ""
		if len(rec) == 1 {
			for _, d := range ";\t|," {
				if d != r.opts.Delimiter && strings.ContainsRune(rec[0], d) {
					hint = fmt.Sprintf("; the header has a single column containing %q: is the delimiter %q?", d, d)
					if d == '\t' && r.recs.text.name == utf16Name {
						hint += ` (Excel's "Unicode text" is tab-separated)`
					}
					break
				}
			}
		}
		return fatal(ErrNoPhoneColumn, "want a column named %q or %q, and the first line must be the header%s", colPhone, colIdentity, hint)
	}
	r.phoneIdx = phone
	if r.opts.fallback() {
		if err := r.fallbackHeader(seen, info.line); err != nil { // fallback.go
			return err
		}
	} else if ch, ok := seen[colChannel]; ok {
		r.channelIdx = ch
	}
	for i := range r.header {
		if i != r.phoneIdx && i != r.channelIdx && !r.identityColumn(i) {
			r.varIdx = append(r.varIdx, i)
		}
	}
	return nil
}

// Next returns the next row.
//
// It returns io.EOF after the last row. A row that cannot be used is returned
// as a [*RowError] (with a zero Row): record it and call Next again. Any other
// error is fatal and Next keeps returning it.
func (r *Reader) Next() (Row, error) {
	rec, line, err := r.next()
	if err != nil {
		return Row{}, err
	}
	return r.row(rec, line)
}

// Record is a CSV record read by NextRecord whose channel and recipient are
// not yet validated.
type Record struct {
	r    *Reader
	rec  []string
	line int
}

// NextRecord is Next without the validation of the channel and recipient,
// which Record.Row does. That validation (phone numbers) is the costly part
// of reading a row, and Row may run on other goroutines while one reads.
// Errors are as for Next, for what it checks: well-formed CSV, one field per
// column, field sizes and encoding.
func (r *Reader) NextRecord() (Record, error) {
	rec, line, err := r.next()
	if err != nil {
		return Record{}, err
	}
	return Record{r: r, rec: slices.Clone(rec), line: line}, nil // rec is reused by the next read
}

// Row validates the record's channel and recipient and returns the row, or a
// [*RowError], as Next would have. It is safe for concurrent use, also with
// the Reader's NextRecord.
func (rc Record) Row() (Row, error) { return rc.r.row(rc.rec, rc.line) }

// next reads one record and checks it is well-formed CSV.
func (r *Reader) next() ([]string, int, error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	rec, info, err := r.recs.read()
	if err != nil {
		r.err = err
		return nil, 0, err
	}
	if rerr := r.check(rec, info); rerr != nil {
		return nil, 0, rerr
	}
	return rec, info.line, nil
}

// check rejects records that are malformed as CSV.
func (r *Reader) check(rec []string, info recordInfo) *RowError {
	reject := func(col int, format string, args ...any) *RowError {
		return &RowError{Line: info.line, Column: r.columnName(col), Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case info.unterminated:
		return reject(-1, "a quoted field starting on this row is never closed, so the rest of the file could not be read")
	case info.cut == cutBytes:
		return reject(-1, "row is longer than %d bytes (--max-row-bytes)", r.opts.MaxRowBytes)
	case info.cut == cutFields:
		return reject(-1, "row has more than %d fields, want %d (one per header column)", r.opts.MaxColumns, len(r.header))
	case info.cut == cutBareQuote || info.cut == cutStrayQuote:
		return reject(info.quoteErrField, "%s", quoteReason(info.cut))
	case len(rec) != len(r.header):
		return reject(-1, "row has %s, want %d (one per header column)", plural(len(rec), "field"), len(r.header))
	}
	for i, v := range rec {
		switch {
		case len(v) > r.opts.MaxFieldBytes:
			return reject(i, "value is longer than %d bytes (--max-field-bytes)", r.opts.MaxFieldBytes)
		case !r.recs.text.valid(v):
			return reject(i, "value %s", r.recs.text.invalid())
		case strings.IndexByte(v, 0) >= 0:
			return reject(i, "value contains a NUL byte")
		}
	}
	return nil
}

// row validates the channel and recipient of a well-formed record.
func (r *Reader) row(rec []string, line int) (Row, error) {
	if r.opts.fallback() {
		return r.fallbackRow(rec, line) // fallback.go
	}
	reject := func(col int, reason string) (Row, error) {
		return Row{}, &RowError{Line: line, Column: r.header[col], Reason: reason}
	}
	ch := r.opts.DefaultChannel
	if r.channelIdx >= 0 {
		if v := strings.TrimSpace(rec[r.channelIdx]); v != "" {
			c, err := ParseChannel(v)
			if err != nil {
				return reject(r.channelIdx, err.Error())
			}
			ch = c
		}
	}

	id, err := NormalizeIdentity(ch, rec[r.phoneIdx], r.opts.DefaultRegion)
	if err != nil {
		return reject(r.phoneIdx, err.Error())
	}

	return Row{Line: line, Channel: ch, Identity: id, Vars: r.vars(rec)}, nil
}

// vars are the template variables of a record.
func (r *Reader) vars(rec []string) map[string]string {
	vars := make(map[string]string, len(r.varIdx))
	for _, i := range r.varIdx {
		vars[r.header[i]] = rec[i]
	}
	return vars
}

func (r *Reader) columnName(i int) string {
	if i < 0 || i >= len(r.header) {
		return ""
	}
	return r.header[i]
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func quoteReason(c cut) string {
	if c == cutBareQuote {
		return `bare " in a non-quoted value (--strict-quotes is set: quote the whole value and double the " inside it)`
	}
	return `stray " in a quoted value (a " inside quotes must be doubled)`
}

// quoteName quotes a header name for an error message, cutting long ones.
func quoteName(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// compile-time check that the csv.Reader is what gocsv expects.
var _ gocsv.CSVReader = (*csv.Reader)(nil)

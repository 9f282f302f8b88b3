package recipients

import (
	"bytes"
	"errors"
	"io"
)

// guard sits between the file's text and encoding/csv. encoding/csv buffers a
// whole record before returning it, so one 10 MB cell, or a stray quote that
// turns the rest of a million-line file into a single quoted field, would be
// held in memory in full. The guard passes bytes through while following the
// record boundaries exactly as encoding/csv (no comments, no leading-space
// trimming) will see them, and:
//
//   - cuts a record that grows past maxRowBytes, or past maxFields fields: it
//     ends the record early with a line break (closing an open quoted field
//     first) and then skips the rest of the record without passing it on;
//   - decides the quoting rules: a '"' inside a quoted field that neither
//     doubles it nor closes the field (`"a"b`) is an error, and so, with
//     strictQuotes, is a '"' inside an unquoted field (`a"b`). Such a record
//     is cut at the quote, as encoding/csv without LazyQuotes would end it,
//     and the rest of its line skipped. encoding/csv runs with LazyQuotes so
//     that a '"' inside an unquoted field is kept as written; LazyQuotes'
//     other rule, reading `"a"b` as a quoted field going on past the quote,
//     never applies because the guard never passes such a quote on;
//   - notes, for every record, the file line it starts on and what went wrong
//     with it (cut short, why, unterminated quote), in a FIFO that the Reader
//     pops once per record encoding/csv returns.
//
// Line numbers are counted by the guard, in the original file, because a cut
// record hides some line breaks from encoding/csv. The guard also counts the
// line breaks it passes on (emittedLine) so the Reader can check that its
// records and encoding/csv's stay in step.
type guard struct {
	src    io.Reader
	buf    []byte
	r, w   int
	srcErr error // first error from src; io.EOF at the end
	done   bool  // srcErr seen and the last record finished

	delim        byte
	maxRowBytes  int
	maxFields    int
	strictQuotes bool // a '"' inside an unquoted field is an error

	state       scanState
	inRecord    bool
	skipping    bool // the current record was cut: consume it without passing it on
	crStart     bool // the current record's first byte is a '\r'
	recBytes    int  // bytes of the current record passed on so far
	fields      int  // fields started in the current record
	line        int  // current line of the file, 1-based
	emittedLine int  // current line of the stream passed to encoding/csv, 1-based

	pending    [2]byte // terminator of a cut record, held back until the record is skipped
	nPending   int
	pendingOff int

	records []recordInfo // FIFO; records[head:] are not yet popped
	head    int

	dataBytes int64 // bytes read
}

// scanState mirrors where encoding/csv's readRecord is within a record.
type scanState uint8

const (
	stLineStart     scanState = iota // between records, at the start of a line
	stLineStartCR                    // between records, after a '\r' that starts a line
	stFieldStart                     // in a record, at the start of a field
	stUnquoted                       // in a field that does not start with '"'
	stQuoted                         // in a quoted field
	stQuotedQuote                    // in a quoted field, just after a '"'
	stQuotedQuoteCR                  // after `"` and '\r': a line break if '\n' follows
	stSkipLine                       // after a quote error: the rest of the line is dropped
)

type cut uint8

const (
	notCut        cut = iota
	cutBytes          // longer than maxRowBytes
	cutFields         // more than maxFields fields
	cutBareQuote      // a '"' inside an unquoted field, with strictQuotes
	cutStrayQuote     // a '"' inside a quoted field that neither doubles it nor ends the field
)

// recordInfo is what the guard knows about one record.
type recordInfo struct {
	line          int  // file line the record starts on
	emittedLine   int  // the same line as encoding/csv counts it
	cut           cut  // the record was cut short
	unterminated  bool // the file ends inside a quoted field of this record
	quoteErrField int  // 0-based field of the quote error (cutBareQuote, cutStrayQuote), or -1
}

// guardBufSize is the guard's read buffer; the FIFO holds at most about
// (guardBufSize + encoding/csv's 4 KiB buffer) / 2 records.
const guardBufSize = 32 << 10

func newGuard(src io.Reader, delim byte, maxRowBytes, maxFields int, strictQuotes bool) *guard {
	return &guard{
		src:          src,
		buf:          make([]byte, guardBufSize),
		delim:        delim,
		maxRowBytes:  maxRowBytes,
		maxFields:    maxFields,
		strictQuotes: strictQuotes,
		line:         1,
		emittedLine:  1,
	}
}

func (g *guard) fill() {
	n, err := g.src.Read(g.buf)
	g.r, g.w = 0, n
	if err != nil {
		g.srcErr = err
	}
	g.dataBytes += int64(n)
}

// Read implements io.Reader for encoding/csv.
func (g *guard) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.nPending > 0 && !g.skipping {
			c := copy(p[n:], g.pending[g.pendingOff:g.nPending])
			g.emittedLine += bytes.Count(p[n:n+c], []byte{'\n'})
			n += c
			g.pendingOff += c
			if g.pendingOff == g.nPending {
				g.nPending, g.pendingOff = 0, 0
			}
			continue
		}
		if g.r == g.w {
			if g.srcErr != nil {
				if errors.Is(g.srcErr, io.EOF) && !g.done {
					g.finish()
					continue // a cut record's terminator may now be released
				}
				break
			}
			if n > 0 && !g.skipping {
				break // hand over what we have rather than block on src
			}
			g.fill()
			continue
		}
		if k := g.plainRun(len(p) - n); k > 0 {
			// Fast path: bytes that change nothing but the record's size.
			if !g.skipping {
				copy(p[n:], g.buf[g.r:g.r+k])
				n += k
				g.recBytes += k
			}
			g.r += k
			continue
		}
		c := g.buf[g.r]
		g.r++
		if g.step(c) {
			p[n] = c
			n++
			if c == '\n' {
				g.emittedLine++
			}
		}
		if c == '\n' {
			g.line++
		}
	}
	if n == 0 && g.srcErr != nil {
		return 0, g.srcErr
	}
	return n, nil
}

// plainRun returns how many of the buffered bytes, at most room, step would
// pass through without any change but recBytes: content bytes of a field
// that are not a quote, a line break or (outside quotes) the delimiter, and
// that stay within maxRowBytes.
func (g *guard) plainRun(room int) int {
	if !g.inRecord {
		return 0
	}
	chunk := g.buf[g.r:g.w]
	if !g.skipping {
		chunk = chunk[:min(len(chunk), room, g.maxRowBytes-g.recBytes)]
	}
	k := 0
	switch g.state {
	case stQuoted:
		for k < len(chunk) && chunk[k] != '"' && chunk[k] != '\n' {
			k++
		}
	case stUnquoted:
		for k < len(chunk) && chunk[k] != g.delim && chunk[k] != '"' && chunk[k] != '\n' {
			k++
		}
	case stSkipLine:
		for k < len(chunk) && chunk[k] != '\n' {
			k++
		}
	}
	return k
}

// finish ends the last record at end of file.
func (g *guard) finish() {
	g.done = true
	if !g.inRecord {
		return
	}
	if g.state == stQuoted {
		g.records[len(g.records)-1].unterminated = true
	}
	g.inRecord, g.skipping = false, false
	g.state = stLineStart
}

// step consumes one byte and reports whether to pass it on.
func (g *guard) step(c byte) bool {
	switch g.state {
	case stLineStart:
		switch c {
		case '\n':
			return true // blank line: encoding/csv skips it too
		case '\r':
			g.state = stLineStartCR
			return true
		}
		g.beginRecord()
	case stLineStartCR:
		if c == '\n' {
			g.state = stLineStart
			return true // "\r\n" blank line
		}
		// The '\r' was the first byte of the record's first field.
		g.beginRecord()
		g.recBytes = 1
		g.crStart = true
		g.state = stUnquoted
	}
	return g.recordStep(c)
}

func (g *guard) beginRecord() {
	g.records = append(g.records, recordInfo{line: g.line, emittedLine: g.emittedLine, quoteErrField: -1})
	g.inRecord = true
	g.skipping = false
	g.crStart = false
	g.recBytes = 0
	g.fields = 1
	g.state = stFieldStart
}

type event uint8

const (
	evData       event = iota // the byte is content of the record
	evDelim                   // the byte separates two fields
	evEnd                     // the byte is the '\n' that ends the record
	evBareQuote               // the byte is a '"' inside an unquoted field, with strictQuotes
	evStrayQuote              // the byte follows a '"' that neither doubles it nor ends the quoted field
)

// transition is encoding/csv's readRecord as a byte-at-a-time state machine,
// with the quoting rules of the guard: where it returns a quote error event,
// encoding/csv without LazyQuotes would report ErrBareQuote or ErrQuote.
func (g *guard) transition(c byte) (scanState, event) {
	d := g.delim
	switch g.state {
	case stFieldStart:
		switch c {
		case '"':
			return stQuoted, evData
		case d:
			return stFieldStart, evDelim
		case '\n':
			return stLineStart, evEnd
		}
		return stUnquoted, evData
	case stUnquoted:
		switch c {
		case d:
			return stFieldStart, evDelim
		case '\n':
			return stLineStart, evEnd
		case '"':
			if g.strictQuotes {
				return stSkipLine, evBareQuote // ErrBareQuote
			}
		}
		return stUnquoted, evData // a '"' here is part of the value
	case stQuoted:
		if c == '"' {
			return stQuotedQuote, evData
		}
		return stQuoted, evData
	case stQuotedQuote:
		switch c {
		case '"':
			return stQuoted, evData // "" is an escaped quote
		case d:
			return stFieldStart, evDelim
		case '\n':
			return stLineStart, evEnd
		case '\r':
			return stQuotedQuoteCR, evData
		}
		return stSkipLine, evStrayQuote // ErrQuote: `"x`
	case stQuotedQuoteCR:
		if c == '\n' {
			return stLineStart, evEnd
		}
		return stSkipLine, evStrayQuote // ErrQuote: `"\rx`
	case stSkipLine:
		if c == '\n' {
			return stLineStart, evEnd
		}
		return stSkipLine, evData
	}
	panic("recipients: guard in a state outside a record")
}

func (g *guard) recordStep(c byte) bool {
	next, ev := g.transition(c)
	if ev == evEnd {
		emit := !g.skipping
		g.state = next
		g.inRecord, g.skipping = false, false
		return emit
	}
	if g.skipping {
		g.state = next
		return false
	}
	switch {
	case ev == evDelim && g.fields > g.maxFields:
		g.cut(cutFields)
	case g.recBytes >= g.maxRowBytes:
		g.cut(cutBytes)
	case ev == evBareQuote || ev == evStrayQuote:
		why := cutStrayQuote
		if ev == evBareQuote {
			why = cutBareQuote
		}
		g.records[len(g.records)-1].quoteErrField = g.fields - 1
		g.cut(why)
	default:
		g.recBytes++
		if ev == evDelim {
			g.fields++
		}
		g.state = next
		return true
	}
	g.state = next
	return false
}

// cut ends the current record early: what has been passed on becomes a
// complete record once the terminator is appended, and the rest of the
// record is skipped. The terminator is held back until the record has been
// skipped, so its recordInfo is final before encoding/csv returns it.
func (g *guard) cut(why cut) {
	g.records[len(g.records)-1].cut = why
	g.skipping = true
	switch {
	case g.recBytes == 1 && g.crStart:
		// "\r" + "\n" would read as a blank line and the record would vanish;
		// with a '"' (part of the value, as encoding/csv reads it lazily) it
		// stays a record, which the Reader rejects for the cut.
		g.pending = [2]byte{'"', '\n'}
		g.nPending = 2
	case g.state == stQuoted:
		g.pending = [2]byte{'"', '\n'} // close the quoted field, then end the record
		g.nPending = 2
	default:
		g.pending = [2]byte{'\n'}
		g.nPending = 1
	}
	g.pendingOff = 0
}

// pop returns the oldest record not yet popped.
func (g *guard) pop() (recordInfo, bool) {
	if g.head >= len(g.records) {
		return recordInfo{}, false
	}
	rec := g.records[g.head]
	g.head++
	if g.head == len(g.records) && !g.inRecord {
		g.records, g.head = g.records[:0], 0
	} else if g.head > 1024 && g.head*2 > len(g.records) {
		n := copy(g.records, g.records[g.head:])
		g.records, g.head = g.records[:n], 0
	}
	return rec, true
}

package recipients

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// ErrUnknownEncoding means an encoding name is not one ParseEncoding knows.
var ErrUnknownEncoding = errors.New("unknown encoding")

// ParseEncoding returns the text encoding called name, for Options.Encoding:
// a WHATWG label as browsers know them ("windows-1252", "latin1",
// "shift_jis", "gbk", "utf-16le"), else an IANA name ("IBM437"), matched
// case-insensitively. WHATWG labels come first, so "iso-8859-1" and
// "latin1" are windows-1252, a superset that spreadsheets write under
// those names (its 0x80-0x9F are € and curly quotes rather than control
// characters). "" and every UTF-8 label give unicode.UTF8.
//
// The error wraps ErrUnknownEncoding and names the value but not the
// option, so that a caller can put its flag's name in front of it.
func ParseEncoding(name string) (encoding.Encoding, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return unicode.UTF8, nil
	}
	e, err := htmlindex.Get(n)
	if err != nil {
		e, err = ianaindex.IANA.Encoding(n)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w %q: want a WHATWG or IANA name such as utf-8, windows-1252, iso-8859-1 or shift_jis", ErrUnknownEncoding, n)
	case e == nil, e == encoding.Replacement:
		// ianaindex knows names it has no decoder for; WHATWG maps a few
		// unsafe encodings to "replacement", which decodes any file as one
		// U+FFFD.
		return nil, fmt.Errorf("%w %q: the name is known but the encoding cannot be decoded", ErrUnknownEncoding, n)
	}
	return e, nil
}

// errTooLarge is the read error once the file passes MaxBytes; the Reader
// turns it into a FatalError wrapping ErrTooLarge.
var errTooLarge = errors.New("file larger than MaxBytes")

var (
	utf8BOM    = []byte{0xEF, 0xBB, 0xBF}
	utf16LEBOM = []byte{0xFF, 0xFE}
	utf16BEBOM = []byte{0xFE, 0xFF}
)

// utf16Name is textInfo.name for a file with a UTF-16 byte order mark.
const utf16Name = "UTF-16"

// textInfo says how a file's bytes were turned into UTF-8.
type textInfo struct {
	// decoded is set when a decoder turned the file into UTF-8. Decoders
	// replace bytes that are invalid in their encoding with U+FFFD, so a
	// U+FFFD in a decoded value means the bytes were not what the encoding
	// says, not that the file held one.
	decoded bool
	// name is the encoding decoded from, for messages.
	name string
	// guessed is set when the encoding came from Options.Encoding rather
	// than from a byte order mark, so it may be the wrong guess.
	guessed bool
}

// valid reports whether s is valid text in the file's encoding.
func (t textInfo) valid(s string) bool {
	return utf8.ValidString(s) && !(t.decoded && strings.ContainsRune(s, utf8.RuneError))
}

// invalid says that a value or name is not valid text in the file's
// encoding, and what to do about it.
func (t textInfo) invalid() string {
	switch {
	case !t.decoded:
		return `is not valid UTF-8 (save the file as "CSV UTF-8", or name its encoding with --encoding)`
	case t.guessed:
		return fmt.Sprintf("is not valid %s (is --encoding right?)", t.name)
	}
	return fmt.Sprintf("is not valid %s", t.name)
}

// openText returns the file's text as UTF-8, as a stream:
//
//   - a UTF-8 byte order mark is dropped;
//   - a UTF-16 byte order mark (Excel's "Unicode text") selects a UTF-16
//     decoder, whatever enc says: the mark is what the file says it is;
//   - otherwise enc, unless it is UTF-8, decodes the file;
//   - the file's own bytes after the byte order mark are counted, and past
//     maxBytes the stream ends with errTooLarge, so that the limit agrees
//     with the file's size on disk whatever the encoding.
func openText(src io.Reader, enc encoding.Encoding, encName string, maxBytes int64) (io.Reader, textInfo) {
	var head [3]byte
	n, err := io.ReadFull(src, head[:])
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	var info textInfo
	var dec *encoding.Decoder
	skip := 0
	switch b := head[:n]; {
	case bytes.HasPrefix(b, utf8BOM):
		skip = len(utf8BOM)
	case bytes.HasPrefix(b, utf16LEBOM):
		skip, info.name = len(utf16LEBOM), utf16Name
		dec = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case bytes.HasPrefix(b, utf16BEBOM):
		skip, info.name = len(utf16BEBOM), utf16Name
		dec = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	case enc != nil && enc != unicode.UTF8:
		info.name, info.guessed = strings.TrimSpace(encName), true
		dec = enc.NewDecoder()
	}
	rest := src
	if err != nil {
		rest = errReader{err}
	}
	var r io.Reader = &sizeLimit{r: io.MultiReader(bytes.NewReader(head[skip:n]), rest), left: maxBytes}
	if dec != nil {
		info.decoded = true
		r = dec.Reader(r)
	}
	return r, info
}

// errReader returns err for every read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// sizeLimit passes through the first left bytes of r; if r has more, it
// ends with errTooLarge instead of io.EOF. So a file is refused however it
// was delivered (a pipe has no size to check up front), while the records
// wholly within the limit still come through.
type sizeLimit struct {
	r    io.Reader
	left int64
	err  error // errTooLarge once passed
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells whether there is more
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, err = int(l.left), errTooLarge
		l.err = err
	}
	l.left -= int64(n)
	return n, err
}

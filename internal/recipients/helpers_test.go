package recipients

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// testdata is the repository's testdata directory.
var testdata = filepath.Join("..", "..", "testdata")

// outcome is what Next produced for one record: an accepted row (Reason "")
// or a rejection.
type outcome struct {
	Line     int
	Channel  sinch.Channel // accepted rows
	Identity string        // accepted rows
	Column   string        // rejections
	Reason   string        // rejections: a substring of RowError.Reason
}

func (o outcome) String() string {
	if o.Reason == "" {
		return fmt.Sprintf("line %d ok %s %s", o.Line, o.Channel, o.Identity)
	}
	return fmt.Sprintf("line %d rejected column %q: %s", o.Line, o.Column, o.Reason)
}

func ok(line int, ch sinch.Channel, id string) outcome {
	return outcome{Line: line, Channel: ch, Identity: id}
}

func rejected(line int, col, reason string) outcome {
	return outcome{Line: line, Column: col, Reason: reason}
}

// readAll reads every row of r, failing the test on a fatal error.
func readAll(t testing.TB, r *Reader) ([]outcome, []Row) {
	t.Helper()
	var outs []outcome
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return outs, rows
		}
		var re *RowError
		switch {
		case errors.As(err, &re):
			if re.Reason == "" {
				t.Errorf("line %d: got a RowError with an empty reason", re.Line)
			}
			outs = append(outs, rejected(re.Line, re.Column, re.Reason))
		case err != nil:
			t.Fatalf("Next: got fatal error %v, want rows, RowErrors and io.EOF", err)
		default:
			outs = append(outs, ok(row.Line, row.Channel, row.Identity))
			rows = append(rows, row)
		}
		if len(outs) > 1_000_000 {
			t.Fatal("Next never returned io.EOF")
		}
	}
}

// readString reads a CSV held in a string.
func readString(t testing.TB, csv string, opts Options) ([]outcome, []Row) {
	t.Helper()
	r, err := NewReader(strings.NewReader(csv), opts)
	if err != nil {
		t.Fatalf("NewReader: got error %v, want nil", err)
	}
	return readAll(t, r)
}

// readFile reads a file under testdata.
func readFile(t testing.TB, name string, opts Options) ([]outcome, []Row) {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f, opts)
	if err != nil {
		t.Fatalf("NewReader(%s): got error %v, want nil", name, err)
	}
	return readAll(t, r)
}

// compareOutcomes reports every difference between got and want. Reasons
// match if want's is a substring of got's.
func compareOutcomes(t testing.TB, got, want []outcome) {
	t.Helper()
	diffOutcomes(t, got, want, func(g, w outcome) bool {
		return g.Line == w.Line && g.Channel == w.Channel && g.Identity == w.Identity && g.Column == w.Column &&
			(w.Reason == "") == (g.Reason == "") && strings.Contains(g.Reason, w.Reason)
	})
}

// compareExact reports every difference between got and want; reasons must
// match exactly.
func compareExact(t testing.TB, got, want []outcome) {
	t.Helper()
	diffOutcomes(t, got, want, func(g, w outcome) bool { return g == w })
}

func diffOutcomes(t testing.TB, got, want []outcome, match func(g, w outcome) bool) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("outcome %d: got nothing, want %v", i, want[i])
		case i >= len(want):
			t.Errorf("outcome %d: got %v, want nothing", i, got[i])
		case !match(got[i], want[i]):
			t.Errorf("outcome %d:\n\tgot  %v\n\twant %v", i, got[i], want[i])
		}
	}
}

// repeatReader yields n copies of a pattern without holding them in memory.
type repeatReader struct {
	pat string
	off int // next byte of pat
	n   int64
}

func newRepeatReader(pat string, n int64) *repeatReader {
	return &repeatReader{pat: pat, n: n}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.pat[r.off:])
		k += c
		r.off += c
		if r.off == len(r.pat) {
			r.off = 0
			r.n--
		}
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

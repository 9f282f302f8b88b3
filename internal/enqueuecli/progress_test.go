package enqueuecli

import (
	"io"
	"strings"
	"testing"
)

// The progress bar's last draw ends its line, so the summary that follows
// starts on a line of its own instead of being glued to "… rows".
func TestProgressBarEndsItsLine(t *testing.T) {
	var w strings.Builder
	p := newProgress(&w, 100, strings.NewReader(strings.Repeat("x", 100)))
	io.Copy(io.Discard, p)
	p.done(300000)
	if got, want := w.String(), "\r[==============================] 100% 300000 rows\n"; got != want {
		t.Errorf("bar: got %q, want %q", got, want)
	}
}

// The bar passes Seek through, so enqueue can count a file's rows before
// reading it on a terminal too; the bar counts from where the file is put
// back.
func TestProgressBarSeeks(t *testing.T) {
	var w strings.Builder
	p := newProgress(&w, 10, strings.NewReader("0123456789"))
	io.Copy(io.Discard, p)
	if pos, err := p.Seek(0, io.SeekStart); err != nil || pos != 0 || p.read.Load() != 0 {
		t.Fatalf("Seek: %d, %v, read %d", pos, err, p.read.Load())
	}
	if b, _ := io.ReadAll(p); string(b) != "0123456789" {
		t.Errorf("after Seek: read %q", b)
	}
	if _, err := newProgress(&w, 0, io.MultiReader()).Seek(0, io.SeekCurrent); err == nil {
		t.Error("a stream under the bar seeks")
	}
}

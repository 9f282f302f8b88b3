package enqueuecli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// progress counts bytes read from the CSV and draws a bar on a terminal.
type progress struct {
	r     io.Reader
	w     io.Writer
	total int64
	read  atomic.Int64
	last  time.Time
}

func newProgress(w io.Writer, total int64, r io.Reader) *progress {
	return &progress{r: r, w: w, total: total}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read.Add(int64(n))
	return n, err
}

// Seek rewinds the file under the bar (--strict-ttl counts the rows
// first) and the bar with it.
func (p *progress) Seek(offset int64, whence int) (int64, error) {
	s, ok := p.r.(io.Seeker)
	if !ok {
		return 0, errors.New("the CSV cannot be rewound")
	}
	n, err := s.Seek(offset, whence)
	if err == nil {
		p.read.Store(n)
	}
	return n, err
}

// rows redraws the bar at most ten times a second.
func (p *progress) rows(n int64) {
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw(n)
}

func (p *progress) draw(rows int64) {
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(p.read.Load())/float64(p.total))
	}
	const width = 30
	full := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d rows", strings.Repeat("=", full), strings.Repeat(" ", width-full), frac*100, rows)
}

// done draws the bar a last time with the rows read and ends its line, so
// what is printed next starts on a line of its own.
func (p *progress) done(rows int64) {
	p.draw(rows)
	fmt.Fprintln(p.w)
}

package recipients

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes allocated while running f.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Generated inputs far larger than the limits. Each must fail clearly while
// allocating a bounded amount: a few times MaxRowBytes, not the file's size.
func TestLargeInputs(t *testing.T) {
	const tenMB = 10 << 20
	const maxAlloc = 16 << 20 // reading the files whole would allocate well over 2×10 MB
	if testing.Short() {
		t.Skip("generates 10 MB inputs")
	}
	tests := []struct {
		name string
		in   func() io.Reader
		want []outcome // for readable files
		err  error     // for fatal ones
	}{
		{
			name: "10 MB field in a row",
			in: func() io.Reader {
				return io.MultiReader(strings.NewReader("phone,note\n+33612345678,"),
					newRepeatReader('a', tenMB), strings.NewReader("\n+33612345678,ok\n"))
			},
			want: []outcome{
				rejected(2, "", "row is longer than 1048576 bytes (MaxRowBytes)"),
				ok(3, sms, "+33612345678"),
			},
		},
		{
			name: "10 MB quoted field of line breaks",
			in: func() io.Reader {
				return io.MultiReader(strings.NewReader("phone,note\n+33612345678,\""),
					newRepeatReader('\n', tenMB), strings.NewReader("\"\n+33612345678,ok\n"))
			},
			want: []outcome{
				rejected(2, "", "row is longer than 1048576 bytes"),
				ok(3+tenMB, sms, "+33612345678"),
			},
		},
		{
			name: "10 MB header name",
			in: func() io.Reader {
				return io.MultiReader(strings.NewReader("phone,"), newRepeatReader('a', tenMB), strings.NewReader("\n+33612345678,ok\n"))
			},
			err: ErrMalformedHeader,
		},
		{
			name: "1,000,000 header columns",
			in: func() io.Reader {
				var b strings.Builder
				b.WriteString("phone")
				for i := range 1_000_000 {
					fmt.Fprintf(&b, ",c%d", i)
				}
				b.WriteString("\n+33612345678\n")
				return strings.NewReader(b.String())
			},
			err: ErrTooManyColumns,
		},
		{
			name: "1,000,000 fields in a row",
			in: func() io.Reader {
				return io.MultiReader(strings.NewReader("phone,note\n+33612345678"),
					newRepeatReader(',', 1_000_000), strings.NewReader("\n+33612345678,ok\n"))
			},
			want: []outcome{
				rejected(2, "", "row has more than 1000 fields, want 2"),
				ok(3, sms, "+33612345678"),
			},
		},
		{
			name: "unterminated quote before 300,000 rows",
			in: func() io.Reader {
				rows := strings.Repeat("+33612345678,ok\n", 300_000)
				return strings.NewReader("phone,note\n+33612345678,ok\n+33612345678,\"oops\n" + rows)
			},
			want: []outcome{
				ok(2, sms, "+33612345678"),
				rejected(3, "", "never closed"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in() // built before measuring
			var got []outcome
			var err error
			n := allocated(func() {
				var r *Reader
				r, err = NewReader(in, Options{})
				if err == nil {
					got, _ = readAll(t, r)
				}
			})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got error %v, want %v", err, tt.err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				compareOutcomes(t, got, tt.want)
			}
			if n > maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", n, maxAlloc)
			}
			t.Logf("allocated %d KiB", n>>10)
		})
	}
}

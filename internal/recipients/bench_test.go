package recipients

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchCSV returns a campaign file of n rows in a mix of formats.
func benchCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("phone,first_name,last_name,channel,code\n")
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "+33 6 12 %02d %02d %02d,Camille,Durand,,C%d\n", i/10000%100, i/100%100, i%100, i)
		case 1:
			fmt.Fprintf(&b, "(201) 555-%04d,Alex,Johnson,sms,C%d\n", i%10000, i)
		case 2:
			fmt.Fprintf(&b, "+4915123%06d,\"Schmidt, Lena\",Schmidt,whatsapp,C%d\n", i%1000000, i)
		default:
			fmt.Fprintf(&b, "psid-%d,Noah,Miller,MESSENGER,C%d\n", i, i)
		}
	}
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	const rows = 100_000
	data := benchCSV(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), Options{DefaultRegion: "US"})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("got %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGuard measures the CSV layer alone, without phone parsing.
func BenchmarkGuard(b *testing.B) {
	data := benchCSV(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	buf := make([]byte, 4096)
	for b.Loop() {
		g := newGuard(bytes.NewReader(data), ',', DefaultMaxRowBytes, DefaultMaxColumns, false)
		for {
			if _, err := g.Read(buf); err != nil {
				break
			}
			for {
				if _, ok := g.pop(); !ok {
					break
				}
			}
		}
	}
}

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

// benchRows is the number of rows of the benchmark files.
const benchRows = 100_000

func BenchmarkReader(b *testing.B) {
	benchRead(b, benchCSV(benchRows), Options{DefaultRegion: "US"}, func(r *Reader) error {
		_, err := r.Next()
		return err
	})
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchRead reads data to the end with next, which must return nil for
// each of its benchRows rows.
func benchRead(b *testing.B, data []byte, opts Options, next func(*Reader) error) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), opts)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			err := next(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("got %d rows, want %d", n, benchRows)
		}
	}
}

// BenchmarkGuard measures the CSV layer alone, without phone parsing.
func BenchmarkGuard(b *testing.B) {
	data := benchCSV(benchRows)
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

// BenchmarkNextRecord measures reading a UTF-8 file without phone
// validation: the CSV layer and the cell checks, as NextRecord does them.
func BenchmarkNextRecord(b *testing.B) {
	benchRead(b, benchCSV(benchRows), Options{}, nextRecord)
}

// BenchmarkNextRecordDecoded is BenchmarkNextRecord on the same rows saved
// as Excel's UTF-16 "Unicode text" or in a legacy encoding.
func BenchmarkNextRecordDecoded(b *testing.B) {
	data := benchCSV(benchRows)
	b.Run("utf-16", func(b *testing.B) { benchRead(b, []byte(utf16LE(string(data))), Options{}, nextRecord) })
	b.Run("windows-1252", func(b *testing.B) { benchRead(b, data, Options{Encoding: "windows-1252"}, nextRecord) })
}

func nextRecord(r *Reader) error {
	_, err := r.NextRecord()
	return err
}

package recipients

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// TestNextRecordThenRowIsNext validates records on other goroutines, in
// reverse order and after the reader has moved on, and expects exactly what
// Next returns for the same file.
func TestNextRecordThenRowIsNext(t *testing.T) {
	const csv = "phone,channel,name\n" +
		"+33612345678,,Ann\n" +
		"0612345679,sms,Bob\n" +
		"not a number,,Cy\n" +
		"+33612345680,telegram,Di\n" +
		"\"bad\"quote,,Ed\n" +
		"+33612345681,,Fay,extra\n" +
		"user-42,MESSENGER,Gus\n" +
		",MESSENGER,Hal\n"
	opts := Options{DefaultRegion: "FR", DefaultChannel: sinch.ChannelSMS}
	type result struct {
		row Row
		err string
	}
	var want []result
	r, err := NewReader(strings.NewReader(csv), opts)
	if err != nil {
		t.Fatal(err)
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		res := result{row: row}
		if err != nil {
			res.err = err.Error()
		}
		want = append(want, res)
	}

	r, err = NewReader(strings.NewReader(csv), opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []result
	var recs []Record
	var slots []int // index in got of each record
	for {
		rc, err := r.NextRecord()
		if err == io.EOF {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			got = append(got, result{err: err.Error()})
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rc)
		slots = append(slots, len(got))
		got = append(got, result{})
	}
	var wg sync.WaitGroup
	for i := len(recs) - 1; i >= 0; i-- {
		wg.Go(func() {
			row, err := recs[i].Row()
			res := result{row: row}
			if err != nil {
				res.err = err.Error()
			}
			got[slots[i]] = res
		})
	}
	wg.Wait()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("NextRecord + Row:\n got %+v\nwant %+v", got, want)
	}
	if len(want) != 8 {
		t.Fatalf("read %d rows, want 8", len(want))
	}
}

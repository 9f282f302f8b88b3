package recipients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spectrumDir holds the csv-spectrum corpus (see its README.md).
var spectrumDir = filepath.Join("testdata", "csv-spectrum")

// spectrumDifference is a value where the reader deliberately disagrees
// with the corpus's JSON.
type spectrumDifference struct {
	row    int // 0-based data row
	column string
	got    string // what the reader reads, which is what the CSV holds
	why    string
}

var spectrumDifferences = map[string]spectrumDifference{
	"location_coordinates": {row: 0, column: "Contact Phone Number", got: "2095257564",
		why: "the corpus's JSON has 1234567890 where its CSV has 2095257564 (csv-spectrum issue #20)"},
	"newlines_crlf": {row: 1, column: "a", got: "Once upon \na time",
		why: "encoding/csv reads a CRLF inside a quoted value as LF, so a value's line breaks do not depend on the program that saved the file"},
}

// spectrumStrictRejects are the cases StrictQuotes rejects, by design: a
// '"' inside an unquoted value.
var spectrumStrictRejects = map[string]bool{"location_coordinates": true}

// TestCSVSpectrum reads every csv-spectrum case through the CSV layer of
// the Reader (decoding, guard, encoding/csv: what decides quoting and
// record boundaries) and compares the records with the corpus's JSON.
func TestCSVSpectrum(t *testing.T) {
	csvs, err := filepath.Glob(filepath.Join(spectrumDir, "csvs", "*.csv"))
	if err != nil || len(csvs) == 0 {
		t.Fatalf("got %d csv-spectrum files (%v), want some", len(csvs), err)
	}
	for _, path := range csvs {
		name := strings.TrimSuffix(filepath.Base(path), ".csv")
		t.Run(name, func(t *testing.T) {
			want := readSpectrumJSON(t, name)
			diff, hasDiff := spectrumDifferences[name]
			if hasDiff {
				if got := want[diff.row][diff.column]; got == diff.got {
					t.Fatalf("the JSON now agrees (%q): drop the listed difference (%s)", got, diff.why)
				}
				want[diff.row][diff.column] = diff.got
			}

			got, cut := readSpectrumCSV(t, path, false)
			if cut != "" {
				t.Fatalf("got %s, want every record read", cut)
			}
			compareSpectrum(t, got, want)

			got, cut = readSpectrumCSV(t, path, true)
			switch {
			case spectrumStrictRejects[name] && cut == "":
				t.Errorf("StrictQuotes: got every record read, want a bare quote rejected")
			case !spectrumStrictRejects[name] && cut != "":
				t.Errorf("StrictQuotes: got %s, want every record read", cut)
			case cut == "":
				compareSpectrum(t, got, want)
			}
		})
	}
	for name := range spectrumDifferences {
		if _, err := os.Stat(filepath.Join(spectrumDir, "csvs", name+".csv")); err != nil {
			t.Errorf("difference listed for %s, which is not in the corpus", name)
		}
	}
}

// readSpectrumJSON returns a case's expected records. The JSON is an array
// of objects, or, in location_coordinates.json, a single object.
func readSpectrumJSON(t *testing.T, name string) []map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(spectrumDir, "json", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		var row map[string]string
		err = json.Unmarshal(data, &row)
		rows = append(rows, row)
	} else {
		err = json.Unmarshal(data, &rows)
	}
	if err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return rows
}

// readSpectrumCSV reads a file's header and records into maps keyed by the
// header. cut says why the first record that did not read whole did not
// ("" if all did).
func readSpectrumCSV(t *testing.T, path string, strictQuotes bool) (rows []map[string]string, cut string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := newRecords(f, Options{StrictQuotes: strictQuotes}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for {
		rec, info, err := rs.read()
		switch {
		case err == io.EOF:
			return rows, ""
		case err != nil:
			t.Fatalf("got error %v, want records", err)
		case info.cut != notCut || info.unterminated:
			return rows, fmt.Sprintf("the record on line %d cut short (%s)", info.line, cutReason(info))
		case header == nil:
			header = append([]string(nil), rec...)
			continue
		case len(rec) != len(header):
			t.Fatalf("line %d: got %d fields %q, want %d", info.line, len(rec), rec, len(header))
		}
		row := make(map[string]string, len(rec))
		for i, v := range rec {
			row[header[i]] = v
		}
		rows = append(rows, row)
	}
}

func cutReason(info recordInfo) string {
	switch info.cut {
	case cutBareQuote, cutStrayQuote:
		return quoteReason(info.cut)
	case notCut:
		return "a quoted field never closed"
	}
	return "a size limit"
}

func compareSpectrum(t *testing.T, got, want []map[string]string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("row %d: got nothing, want %q", i, want[i])
		case i >= len(want):
			t.Errorf("row %d: got %q, want nothing", i, got[i])
		case !maps.Equal(got[i], want[i]):
			t.Errorf("row %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

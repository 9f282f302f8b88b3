package enqueuecli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The enqueue command reads files as spreadsheets save them: inch marks,
// Excel's UTF-16 "Unicode text", and a legacy encoding named by --encoding.
func TestEnqueueReadsSpreadsheetExports(t *testing.T) {
	bad := filepath.Join("..", "..", "testdata", "bad")
	preview := filepath.Join(t.TempDir(), "p.csv")
	for _, tc := range []struct {
		name     string
		args     []string
		rejected int64
		want     string // in the preview
	}{
		{"inch marks are literal", []string{"--csv", filepath.Join(bad, "inch-marks.csv"), "--text", "{{.item}}"}, 1, `27"" screen`}, // row 6 is a stray quote after a quoted value
		{"--strict-quotes rejects them", []string{"--csv", filepath.Join(bad, "inch-marks.csv"), "--text", "{{.item}}", "--strict-quotes"}, 3, ""},
		{"UTF-16 LE with a BOM", []string{"--csv", filepath.Join(bad, "unicode-text-utf16le.csv"), "--text", "hi", "--delimiter", `\t`}, 0, "hi"},
		{"--encoding windows-1252", []string{"--csv", filepath.Join(bad, "windows-1252.csv"), "--text", "{{.first_name}}", "--encoding", "windows-1252"}, -1, "Amélie"},
	} {
		args := append([]string{"--campaign", "c", "--dry-run", "--json", "--preview", preview}, tc.args...)
		sum, out, err := runEnqueue(t, args...)
		if err != nil {
			t.Errorf("%s: %v\n%s", tc.name, err, out)
			continue
		}
		if tc.rejected >= 0 && sum.Rejected != tc.rejected {
			t.Errorf("%s: got %d rejected %+v, want %d", tc.name, sum.Rejected, sum.FirstRejects, tc.rejected)
		}
		if tc.name == "--strict-quotes rejects them" && (len(sum.FirstRejects) == 0 || !strings.Contains(sum.FirstRejects[0].Reason, "--strict-quotes")) {
			t.Errorf("%s: reasons %+v do not name --strict-quotes", tc.name, sum.FirstRejects)
		}
		p, _ := os.ReadFile(preview)
		if !strings.Contains(string(p), tc.want) {
			t.Errorf("%s: preview lacks %q:\n%s", tc.name, tc.want, p)
		}
	}
	_, out, err := runEnqueue(t, "--campaign", "c", "--dry-run", "--csv", filepath.Join(bad, "windows-1252.csv"), "--text", "hi", "--encoding", "klingon")
	if err == nil || !strings.Contains(err.Error(), "--encoding") {
		t.Errorf("--encoding klingon: got %v, want an error naming --encoding\n%s", err, out)
	}
}

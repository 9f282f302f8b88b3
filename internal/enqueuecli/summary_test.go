package enqueuecli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// The text summary lists the rejected rows it has, says when there are more,
// and never lets a header name drive the terminal.
func TestPrintSummaryListsFirstRejects(t *testing.T) {
	var many []enqueue.RejectedRow
	for i := range enqueue.SummaryRejects {
		many = append(many, enqueue.RejectedRow{Row: i + 2, Column: "phone", Reason: "not a phone number"})
	}
	tests := []struct {
		name    string
		sum     enqueue.Summary
		rejects string
		want    []string
		notWant []string
	}{
		{
			name: "all listed",
			sum: enqueue.Summary{CampaignID: "c", Rows: 3, Enqueued: 1, Rejected: 2, FirstRejects: []enqueue.RejectedRow{
				{Row: 2, Column: "phone", Reason: "not a phone number"},
				{Row: 3, Reason: "row has 3 fields, want 2"},
			}},
			want:    []string{"rejected rows (all 2):", "  row 2, column phone: not a phone number", "  row 3: row has 3 fields, want 2"},
			notWant: []string{"--rejects"},
		},
		{
			name:    "more than listed",
			sum:     enqueue.Summary{CampaignID: "c", Rows: 40, Rejected: 37, FirstRejects: many},
			want:    []string{fmt.Sprintf("rejected rows (first %d of 37):", enqueue.SummaryRejects), "  row 11, column phone:", "pass --rejects FILE to list every rejected row"},
			notWant: []string{"row 12,"},
		},
		{
			name:    "rejects file named",
			sum:     enqueue.Summary{CampaignID: "c", Rows: 40, Rejected: 37, FirstRejects: many},
			rejects: "out/rejects.csv",
			want:    []string{"every rejected row is listed in out/rejects.csv"},
			notWant: []string{"pass --rejects"},
		},
		{
			name: "control characters in a header name are quoted",
			sum: enqueue.Summary{CampaignID: "c", Rows: 1, Rejected: 1, FirstRejects: []enqueue.RejectedRow{
				{Row: 2, Column: "na\x1b[2Jme", Reason: "value is longer than 10 bytes (--max-field-bytes)"},
			}},
			want:    []string{`row 2, column "na\x1b[2Jme": value is longer`},
			notWant: []string{"\x1b"},
		},
		{
			name:    "no rejects, no list",
			sum:     enqueue.Summary{CampaignID: "c", Rows: 1, Enqueued: 1},
			notWant: []string{"rejected rows", "--rejects"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printSummary(&out, tt.sum, false, tt.rejects); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

package harness

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// passing is a clean run of 100 recipients.
func passing() Result {
	return Result{ID: 3, Name: "Sinch faults", Recipients: 100, Sent: 100, SimAccepted: 100, ActiveLeft: -1, Time: 1500 * time.Millisecond}
}

func TestCleanRunHasNoViolations(t *testing.T) {
	if v := passing().Violations(); len(v) != 0 {
		t.Fatalf("got %q, want none", v)
	}
}

func TestEachBrokenInvariantIsAViolation(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(*Result)
		want  string
	}{
		{"recipient never finished", func(r *Result) { r.Sent, r.SimAccepted = 99, 99 }, "1 recipients lost"},
		{"recorded sent but never accepted", func(r *Result) { r.SimAccepted = 98 }, "2 recipients lost"},
		{"duplicate without a lost response", func(r *Result) { r.SimAccepted, r.Duplicates = 101, 1 }, "1 duplicates, at most 0"},
		{"more duplicates than lost responses", func(r *Result) { r.SimAccepted, r.Duplicates, r.MaxDuplicates = 103, 3, 2 }, "3 duplicates, at most 2"},
		{"archived without a reason", func(r *Result) { r.Archived, r.ArchivedNoReason = 2, 1 }, "1 archived tasks without a reason"},
		{"failed without a reason", func(r *Result) { r.Sent, r.SimAccepted, r.Failed, r.FailedNoReason = 99, 99, 1, 1 }, "1 failed recipients without a reason"},
		{"active left over", func(r *Result) { r.ActiveLeft = 4 }, "4 tasks left in asynq's active state"},
		{"poison retried", func(r *Result) { r.Poison = &PoisonCheck{Archived: true, Retried: 2, LastErr: "x"} }, "archived after 2 retries"},
		{"poison not archived", func(r *Result) { r.Poison = &PoisonCheck{} }, "poison task not archived"},
		{"poison without reason", func(r *Result) { r.Poison = &PoisonCheck{Archived: true} }, "poison task archived without a reason"},
		{"scenario error", func(r *Result) { r.Err = errors.New("worker exited") }, "worker exited"},
		{"nothing tested", func(r *Result) { *r = Result{ActiveLeft: -1} }, "no recipients"},
	}
	for _, c := range cases {
		r := passing()
		c.spoil(&r)
		v := r.Violations()
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%s: got %q, want one violation containing %q", c.name, v, c.want)
		}
	}
}

func TestDuplicatesExplainedByLostResponsesPass(t *testing.T) {
	r := passing()
	r.SimAccepted, r.Duplicates, r.MaxDuplicates = 102, 2, 2
	if v := r.Violations(); len(v) != 0 {
		t.Fatalf("got %q, want none", v)
	}
	r.ActiveLeft = 0 // checked and empty
	r.Poison = &PoisonCheck{Archived: true, LastErr: "decode send payload"}
	if v := r.Violations(); len(v) != 0 {
		t.Fatalf("got %q, want none", v)
	}
}

func TestTableHasOneRowPerScenarioAndFlagsFailures(t *testing.T) {
	bad := passing()
	bad.ID, bad.Name, bad.Sent, bad.SimAccepted = 1, "SIGKILL 1 of 3 workers", 97, 97
	bad.Notes = []string{"recovered in 95s"}
	var b bytes.Buffer
	WriteTable(&b, []Result{passing(), bad})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want header, 2 rows, a note and a failure:\n%s", len(lines), b.String())
	}
	for i, cols := range [][]string{
		{"scenario", "recipients", "accepted", "duplicates", "lost", "archived", "time", "result"},
		{"3", "Sinch", "faults", "100", "100", "0", "0", "0", "1.5s", "ok"},
		{"1", "SIGKILL", "1", "of", "3", "workers", "100", "97", "0", "3", "0", "1.5s", "FAIL"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(cols, " ") {
			t.Errorf("line %d: got %q, want fields %q", i, lines[i], cols)
		}
	}
	// Columns line up: every row's "recipients" figure starts where the header's does.
	col := strings.Index(lines[0], "recipients")
	for _, l := range lines[1:3] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q is not aligned on column %d", l, col)
		}
	}
	if lines[3] != "  1: recovered in 95s" || lines[4] != "  1: FAIL: 3 recipients lost" {
		t.Errorf("got notes %q, want the note then the failure", lines[3:])
	}
}

func TestDurationsAreRoundedForReading(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond:  "1.5s",
		59940 * time.Millisecond: "59.9s",
		95400 * time.Millisecond: "1m35s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%s: got %q, want %q", d, got, want)
		}
	}
}

func TestScenarioListIsChecked(t *testing.T) {
	if ids, err := parseScenarios(" 3, 5 "); err != nil || len(ids) != 2 || ids[0] != 3 || ids[1] != 5 {
		t.Fatalf("got %v %v, want [3 5]", ids, err)
	}
	if ids, err := parseScenarios(""); err != nil || ids != nil {
		t.Fatalf("empty: got %v %v, want the default (nil)", ids, err)
	}
	for _, bad := range []string{"0", "9", "x", "3;4"} {
		if _, err := parseScenarios(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: got %v, want a usage error", bad, err)
		}
	}
}

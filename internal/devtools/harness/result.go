package harness

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one scenario observed. The figures come from the
// campaign store (recipients, sent, failed), the simulator's /_sim/stats
// (what reached "Sinch") and asynq's Inspector (archived and active tasks).
type Result struct {
	ID   int
	Name string

	Recipients int64 // valid recipients of the campaign
	Sent       int64 // recorded as accepted by Sinch
	Failed     int64 // recorded as failed (their tasks archived)
	// SimAccepted counts messages:send calls the simulator accepted,
	// repeats included; Duplicates the repeats of a correlation_id.
	SimAccepted, Duplicates int64
	// MaxDuplicates is how many duplicates the scenario can explain (the
	// responses the simulator lost after accepting); more is a violation.
	MaxDuplicates   int64
	LostAfterAccept int64 // the simulator's count of that fault

	Archived         int64 // archived tasks, in every queue
	ArchivedNoReason int64 // of those, without a LastErr
	FailedNoReason   int64 // failed recipients without a recorded error
	// ActiveLeft is the tasks left in asynq's active state when it was
	// checked (-1: not checked by this scenario).
	ActiveLeft int64
	// Poison is set by the poison scenario: whether the undecodable task
	// was archived on its first run with a reason.
	Poison *PoisonCheck

	Time  time.Duration // workers started to campaign done
	Notes []string      // figures worth reporting, e.g. recovery time
	Err   error         // the scenario could not run to the end
}

// PoisonCheck is what became of the poison task.
type PoisonCheck struct {
	Archived bool
	Retried  int
	LastErr  string
}

// Lost counts recipients without a final outcome, plus any recorded as
// sent that the simulator never accepted.
func (r Result) Lost() int64 {
	lost := max(0, r.Recipients-r.Sent-r.Failed)
	if unique := r.SimAccepted - r.Duplicates; r.Sent > unique {
		lost += r.Sent - unique
	}
	return lost
}

// Violations lists every broken invariant; none means the scenario passed.
func (r Result) Violations() []string {
	var v []string
	if r.Err != nil {
		v = append(v, r.Err.Error())
	}
	if r.Recipients == 0 && r.Err == nil {
		v = append(v, "no recipients: nothing was tested")
	}
	if n := r.Lost(); n > 0 {
		v = append(v, fmt.Sprintf("%d recipients lost", n))
	}
	if r.Duplicates > r.MaxDuplicates {
		v = append(v, fmt.Sprintf("%d duplicates, at most %d explained by responses lost after acceptance", r.Duplicates, r.MaxDuplicates))
	}
	if r.ArchivedNoReason > 0 {
		v = append(v, fmt.Sprintf("%d archived tasks without a reason", r.ArchivedNoReason))
	}
	if r.FailedNoReason > 0 {
		v = append(v, fmt.Sprintf("%d failed recipients without a reason", r.FailedNoReason))
	}
	if r.ActiveLeft > 0 {
		v = append(v, fmt.Sprintf("%d tasks left in asynq's active state", r.ActiveLeft))
	}
	if p := r.Poison; p != nil {
		switch {
		case !p.Archived:
			v = append(v, "poison task not archived")
		case p.Retried > 0:
			v = append(v, fmt.Sprintf("poison task archived after %d retries, not at once", p.Retried))
		case p.LastErr == "":
			v = append(v, "poison task archived without a reason")
		}
	}
	return v
}

// WriteTable prints one row per result, then each result's notes and
// violations.
func WriteTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trecipients\taccepted\tduplicates\tlost\tarchived\ttime\tresult")
	for _, r := range results {
		result := "ok"
		if len(r.Violations()) > 0 {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%d %s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Name, r.Recipients, r.Sent,
			r.Duplicates, r.Lost(), r.Archived, formatDuration(r.Time), result)
	}
	tw.Flush()
	for _, r := range results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %d: %s\n", r.ID, n)
		}
		for _, v := range r.Violations() {
			fmt.Fprintf(w, "  %d: FAIL: %s\n", r.ID, strings.ReplaceAll(v, "\n", "\n     "))
		}
	}
}

// formatDuration rounds to what a reader compares: 0.1 s under a minute.
func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

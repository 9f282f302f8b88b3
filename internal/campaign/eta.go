package campaign

import (
	"fmt"
	"strings"
	"time"
)

// Finish is when work that goes on only while the window is open ends,
// started at start: the open hours are filled one after another. A nil
// window is always open.
func (w *Window) Finish(start time.Time, work time.Duration) time.Time {
	t := start
	if w == nil {
		return t.Add(work)
	}
	for work > 0 {
		t = t.Add(w.Until(t))
		open := w.closes(t).Sub(t)
		if open >= work {
			return t.Add(work)
		}
		work -= open
		t = t.Add(open)
	}
	return t
}

// closes is when the window, open at t, next closes.
func (w *Window) closes(t time.Time) time.Time {
	lt := t.In(w.loc)
	y, mo, d := lt.Date()
	for i := -1; i < 3; i++ {
		c := time.Date(y, mo, d+i, 0, 0, w.end, 0, w.loc)
		if c.After(t) {
			return c
		}
	}
	return t.Add(24 * time.Hour) // unreachable: tomorrow's closing is after t
}

// Opens reports whether t, to the second, is an opening of the window:
// a send deferred to its next opening is due exactly then.
func (w *Window) Opens(t time.Time) bool {
	return w.Open(t) && w.Until(t.Add(-time.Second)) == time.Second
}

// SetAppRate gives the summary the app's outbound rate and, while the
// campaign runs or waits for its start, the ETA of its pending recipients
// at that rate: sending from now (or its start time) through the open hours
// of its send window. A paused campaign has no ETA until it is resumed.
func (s *Summary) SetAppRate(rate float64, now time.Time) {
	if rate <= 0 {
		return
	}
	s.AppRate = rate
	if s.Pending == 0 || (s.State != StateRunning && s.State != StateScheduled) {
		return
	}
	start := now
	if s.ScheduledAt.After(now) {
		start = s.ScheduledAt
	}
	work := time.Duration(float64(s.Pending) / rate * float64(time.Second))
	s.AppETA = s.Window.Finish(start, work).UTC().Truncate(time.Second)
	secs := max(0, s.AppETA.Sub(now).Seconds())
	s.AppETASeconds = &secs
}

// WaitingFor says what the waiting sends wait for: the send window (and
// when it opens), the resume; "" when none waits.
func (s Summary) WaitingFor() string {
	var parts []string
	if s.WaitingWindow > 0 || !s.WindowOpens.IsZero() {
		p := fmt.Sprintf("%d for the send window %s", s.WaitingWindow, s.Window)
		if !s.WindowOpens.IsZero() {
			p += ", which opens " + s.WindowOpens.Format("2006-01-02 15:04:05 MST")
		}
		parts = append(parts, p)
	}
	if s.WaitingResume > 0 {
		parts = append(parts, fmt.Sprintf("%d for the campaign to be resumed", s.WaitingResume))
	}
	return strings.Join(parts, "; ")
}

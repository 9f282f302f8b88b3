package campaign

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseWindowRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"", "09:00-20:00"},
		{"9-20", "HH:MM"},
		{"09:00", "09:00-20:00"},
		{"25:00-08:00", "not a time of day"},
		{"09:60-10:00", "not a time of day"},
		{"24:00-08:00", "not a time of day"}, // 24:00 only closes a window
		{"09:00-09:00", "same time"},
		{"00:00-24:00", "same time"},
		{"9:0-10:00", "HH:MM"},
	} {
		_, err := ParseWindow(tc.spec, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseWindow(%q): got %v, want an error mentioning %q", tc.spec, err, tc.want)
		}
	}
	if _, err := LoadLocation("Mars/Olympus"); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("LoadLocation(Mars/Olympus): got %v, want an error naming it", err)
	}
}

func TestWindowOpenAndUntil(t *testing.T) {
	t.Parallel()
	paris := mustLoc(t, "Europe/Paris")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	day, night := "09:00-20:00", "20:00-08:00"
	for _, tc := range []struct {
		window, now string
		want        time.Duration // 0: open
	}{
		{day, "2026-11-23 09:00:00", 0},
		{day, "2026-11-23 19:59:59", 0},
		{day, "2026-11-23 08:30:00", 30 * time.Minute},
		{day, "2026-11-23 20:00:00", 13 * time.Hour}, // the end is exclusive
		{day, "2026-11-23 23:15:30", 9*time.Hour + 44*time.Minute + 30*time.Second},
		{night, "2026-11-23 22:00:00", 0},
		{night, "2026-11-23 07:59:00", 0},
		{night, "2026-11-23 08:00:00", 12 * time.Hour},
		{night, "2026-11-23 19:00:00", time.Hour},
		{"09:00-24:00", "2026-11-23 23:59:59", 0},
		{"09:00-24:00", "2026-11-24 00:00:00", 9 * time.Hour},
		// Paris springs forward on 2026-03-29 at 02:00: 23:00 to 09:00 is 9 real hours.
		{day, "2026-03-28 23:00:00", 9 * time.Hour},
		// And falls back on 2026-10-25 at 03:00: 23:00 to 09:00 is 11 real hours.
		{day, "2026-10-24 23:00:00", 11 * time.Hour},
	} {
		w, err := ParseWindow(tc.window, paris)
		if err != nil {
			t.Fatal(err)
		}
		now := at(tc.now)
		if got := w.Until(now); got != tc.want {
			t.Errorf("%s at %s: got Until %s, want %s", tc.window, tc.now, got, tc.want)
		}
		if open := w.Open(now); open != (tc.want == 0) {
			t.Errorf("%s at %s: got Open %v, want %v", tc.window, tc.now, open, tc.want == 0)
		}
		if tc.want > 0 && !w.Open(now.Add(tc.want)) {
			t.Errorf("%s at %s: closed at the opening it computed", tc.window, tc.now)
		}
	}
	// The same instant in another zone: 08:30 in Paris is 07:30 UTC.
	w, _ := ParseWindow(day, paris)
	if got := w.Until(time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC)); got != 30*time.Minute {
		t.Errorf("got %s, want 30m: the window is in Paris time whatever the clock's zone", got)
	}
}

func TestWindowJSONRoundTrip(t *testing.T) {
	t.Parallel()
	w, _ := ParseWindow("20:00-08:00", mustLoc(t, "America/New_York"))
	def := Definition{ID: "c", Window: w}
	b, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"window":{"hours":"20:00-08:00","tz":"America/New_York"}`) {
		t.Fatalf("got %s, want the window as hours and tz", b)
	}
	var back Definition
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Window.Equal(w) || back.Window.String() != "20:00-08:00 America/New_York" {
		t.Fatalf("got window %v, want %v", back.Window, w)
	}
	if b, _ := json.Marshal(Definition{ID: "c"}); strings.Contains(string(b), "window") {
		t.Fatalf("got %s, want no window key when there is none", b)
	}
}

func TestDeriveStateIsScheduledUntilDue(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	def := Definition{ID: "c", ScheduledAt: due}
	pending := Counters{Pending: 10}
	for _, tc := range []struct {
		name string
		def  Definition
		c    Counters
		now  time.Time
		want State
	}{
		{"before due", def, pending, due.Add(-time.Hour), StateScheduled},
		{"a second before due", def, pending, due.Add(-time.Second), StateScheduled},
		{"at due", def, pending, due, StateRunning},
		{"after due", def, pending, due.Add(time.Minute), StateRunning},
		{"after due, all sent", def, Counters{Sent: 10}, due.Add(time.Minute), StateDone},
		{"not scheduled", Definition{ID: "c"}, pending, due, StateRunning},
	} {
		if got := DeriveState(tc.def, tc.c, false, false, tc.now); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

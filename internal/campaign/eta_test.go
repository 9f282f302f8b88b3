package campaign

import (
	"testing"
	"time"
)

func TestWindowFinishFillsOnlyTheOpenHours(t *testing.T) {
	t.Parallel()
	paris, err := LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWindow("09:00-20:00", paris)
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, paris) }
	for _, tc := range []struct {
		name  string
		start time.Time
		work  time.Duration
		want  time.Time
	}{
		{"inside the window", at(2, 10, 0), 2 * time.Hour, at(2, 12, 0)},
		{"before it opens", at(2, 6, 0), time.Hour, at(2, 10, 0)},
		{"past closing", at(2, 19, 0), 2 * time.Hour, at(3, 10, 0)},
		{"after closing", at(2, 21, 0), 30 * time.Minute, at(3, 9, 30)},
		{"several days", at(2, 9, 0), 30 * time.Hour, at(4, 17, 0)},
		{"no work", at(2, 21, 0), 0, at(2, 21, 0)},
	} {
		if got := w.Finish(tc.start, tc.work); !got.Equal(tc.want) {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	var none *Window
	if got := none.Finish(at(2, 21, 0), time.Hour); !got.Equal(at(2, 22, 0)) {
		t.Errorf("no window: got %s", got)
	}
	night, _ := ParseWindow("22:00-06:00", time.UTC)
	if got := night.Finish(time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC), 2*time.Hour); !got.Equal(time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("across midnight: got %s", got)
	}
	if !w.Opens(at(3, 9, 0)) || w.Opens(at(3, 9, 1)) || w.Opens(at(3, 8, 59)) {
		t.Error("Opens is true exactly at an opening")
	}
}

func TestSetAppRateGivesTheETAOfRunningCampaignsOnly(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := Summary{State: StateRunning, Pending: 1_000_000}
	s.SetAppRate(20, now)
	if s.AppRate != 20 || s.AppETASeconds == nil || *s.AppETASeconds != 50000 || !s.AppETA.Equal(now.Add(50000*time.Second)) {
		t.Fatalf("running: rate %g, ETA %s (%v)", s.AppRate, s.AppETA, s.AppETASeconds)
	}
	later := now.Add(time.Hour)
	s = Summary{State: StateScheduled, Pending: 100, ScheduledAt: later}
	s.SetAppRate(10, now)
	if !s.AppETA.Equal(later.Add(10 * time.Second)) {
		t.Errorf("scheduled: ETA %s, want 10s after the start", s.AppETA)
	}
	s = Summary{State: StatePaused, Pending: 100}
	s.SetAppRate(10, now)
	if s.AppRate != 10 || s.AppETASeconds != nil {
		t.Errorf("paused: rate %g, ETA %v; want the rate and no ETA", s.AppRate, s.AppETASeconds)
	}
	s = Summary{State: StateRunning, Pending: 100}
	s.SetAppRate(0, now)
	if s.AppRate != 0 || s.AppETASeconds != nil {
		t.Error("no rate, no ETA")
	}
}

package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	// Time zones must resolve on a machine or image without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Window is a daily send window ("quiet hours" are the rest of the day) in a
// time zone: sends due outside it wait for the next opening. Start is
// inclusive, End exclusive; a window whose End is before its Start crosses
// midnight ("20:00-08:00"). The zero Window is not valid: use a nil *Window
// for "any time".
type Window struct {
	start, end int // seconds after local midnight; end may be 24h
	loc        *time.Location
}

const day = 24 * 60 * 60

// ParseWindow reads "HH:MM-HH:MM" (24-hour clock; the end may be "24:00")
// in the time zone loc.
func ParseWindow(spec string, loc *time.Location) (*Window, error) {
	if loc == nil {
		return nil, errors.New("window needs a time zone")
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, fmt.Errorf("window must look like 09:00-20:00, got %q", spec)
	}
	start, err := clock(a, false)
	if err != nil {
		return nil, fmt.Errorf("window start: %w", err)
	}
	end, err := clock(b, true)
	if err != nil {
		return nil, fmt.Errorf("window end: %w", err)
	}
	if start == end%day {
		return nil, fmt.Errorf("window %q opens and closes at the same time; leave the window out to send at any hour", spec)
	}
	return &Window{start: start, end: end, loc: loc}, nil
}

// clock reads "HH:MM" as seconds after midnight; "24:00" only when allowEnd.
func clock(s string, allowEnd bool) (int, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || err1 != nil || err2 != nil:
		return 0, fmt.Errorf("want HH:MM, got %q", s)
	case hh == 24 && mm == 0 && allowEnd:
		return day, nil
	case hh < 0 || hh > 23 || mm < 0 || mm > 59:
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return hh*3600 + mm*60, nil
}

var locations sync.Map // name -> *time.Location

// LoadLocation is time.LoadLocation with a cache: the send handler decodes a
// window per task, and time.LoadLocation reads the zone database each call.
// "" and "UTC" are UTC.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris, or UTC)", name)
	}
	locations.Store(name, l)
	return l, nil
}

// Hours returns the window as written: "09:00-20:00".
func (w *Window) Hours() string {
	f := func(s int) string { return fmt.Sprintf("%02d:%02d", s/3600, s%3600/60) }
	return f(w.start) + "-" + f(w.end)
}

// Location is the window's time zone.
func (w *Window) Location() *time.Location { return w.loc }

// String is "09:00-20:00 Europe/Paris".
func (w *Window) String() string { return w.Hours() + " " + w.loc.String() }

// Open reports whether t falls inside the window, by the wall clock of its
// time zone.
func (w *Window) Open(t time.Time) bool {
	h, m, s := t.In(w.loc).Clock()
	sec := h*3600 + m*60 + s
	if w.start < w.end {
		return sec >= w.start && sec < w.end
	}
	return sec >= w.start || sec < w.end // crosses midnight
}

// Until returns how long after t the window next opens: 0 when it is open.
func (w *Window) Until(t time.Time) time.Duration {
	if w.Open(t) {
		return 0
	}
	lt := t.In(w.loc)
	y, mo, d := lt.Date()
	// Closed means before today's opening, or after today's closing (then
	// the next opening is tomorrow's). time.Date moves an opening that falls
	// in a daylight-saving gap to just after it.
	for i := range 3 {
		open := time.Date(y, mo, d+i, w.start/3600, w.start%3600/60, 0, 0, w.loc)
		if open.After(t) {
			return open.Sub(t)
		}
	}
	return 24 * time.Hour // unreachable: tomorrow's opening is after t
}

// windowJSON is the stored form, in campaign definitions and task payloads.
type windowJSON struct {
	Hours string `json:"hours"`
	TZ    string `json:"tz"`
}

func (w *Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowJSON{Hours: w.Hours(), TZ: w.loc.String()})
}

func (w *Window) UnmarshalJSON(b []byte) error {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	loc, err := LoadLocation(j.TZ)
	if err != nil {
		return err
	}
	parsed, err := ParseWindow(j.Hours, loc)
	if err != nil {
		return err
	}
	*w = *parsed
	return nil
}

// Equal reports whether two windows (either may be nil) are the same.
func (w *Window) Equal(o *Window) bool {
	if w == nil || o == nil {
		return w == o
	}
	return w.start == o.start && w.end == o.end && w.loc.String() == o.loc.String()
}

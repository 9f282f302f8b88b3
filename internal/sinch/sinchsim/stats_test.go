package sinchsim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestMaxAcceptedPerSecond(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now})
	sendN := func(n int) {
		for i := range n {
			s.send(t, sendBody(phone(i)))
		}
	}
	sendN(5) // t=0: 5
	clock.Advance(500 * time.Millisecond)
	sendN(3) // t=0.5: window (−0.5, 0.5] holds 8
	clock.Advance(600 * time.Millisecond)
	sendN(2) // t=1.1: window (0.1, 1.1] holds 3+2=5
	clock.Advance(500 * time.Millisecond)
	sendN(6) // t=1.6: window (0.6, 1.6] holds 2+6=8
	clock.Advance(time.Second)
	sendN(1) // t=2.6: window (1.6, 2.6] holds 1: a message exactly 1s old is out
	if got := s.Stats().MaxAcceptedPerSecond; got != 8 {
		t.Errorf("got max_accepted_per_second %d, want 8", got)
	}
	sendN(8) // t=2.6: 9 in the window
	if got := s.Stats().MaxAcceptedPerSecond; got != 9 {
		t.Errorf("got max_accepted_per_second %d, want 9", got)
	}
}

func TestWindowCompaction(t *testing.T) {
	// Long runs must not grow the window beyond one second of accepts.
	st := newStats()
	t0 := time.Unix(0, 0)
	for i := range 100000 {
		st.recordAccept(t0.Add(time.Duration(i)*time.Millisecond), "", "")
	}
	if st.maxPerSec != 1000 {
		t.Errorf("got max %d at 1000/s, want 1000", st.maxPerSec)
	}
	if n := len(st.window); n > 4096 {
		t.Errorf("got a window slice of %d, want it compacted", n)
	}
}

func TestDuplicates(t *testing.T) {
	s := newSim(t, Config{})
	for _, cid := range []string{"c1", "c2", "c1", "", "", "c1", "c3"} {
		s.send(t, sendBody(phone(1), `"correlation_id":"`+cid+`"`))
	}
	if got := s.Stats().Duplicates; got != 2 {
		t.Errorf("got %d duplicates, want 2 (c1 twice more; empty IDs don't count)", got)
	}
	// A rejected send is not a duplicate.
	s.mustDo(t, http.MethodPost, sendPath, sendBody(phone(1), `"correlation_id":"c1"`, `"queue":"x"`), basicAuth)
	if got := s.Stats().Duplicates; got != 2 {
		t.Errorf("after a 400: got %d duplicates, want 2", got)
	}
}

func TestStatsEndpointAndReset(t *testing.T) {
	s := newSim(t, Config{})
	s.send(t, sendBody(phone(1)))
	s.mustDo(t, http.MethodPost, sendPath, `{}`, basicAuth)
	s.mustDo(t, http.MethodGet, appPath, "", nil)

	r := s.mustDo(t, http.MethodGet, "/_sim/stats", "", nil) // no credentials needed
	var st Stats
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if st.Requests != 3 || st.Accepted != 1 || st.ByStatus[200] != 1 || st.ByStatus[400] != 1 || st.ByStatus[401] != 1 || st.StoredDispatch != 1 {
		t.Errorf("got %+v, want 3 requests (200, 400, 401), 1 accepted and stored", st)
	}
	var raw map[string]any
	_ = json.Unmarshal(r.body, &raw)
	for _, k := range []string{"requests", "token_requests", "accepted", "by_status", "rate_limited", "faults",
		"max_accepted_per_second", "duplicates", "callbacks_sent", "callbacks_failed", "callbacks_dropped"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stats JSON lacks %q: %s", k, r.body)
		}
	}

	if r := s.mustDo(t, http.MethodPost, "/_sim/reset", "", nil); r.status != 200 {
		t.Fatalf("reset: got status %d, want 200", r.status)
	}
	if st := s.Stats(); st.Requests != 0 || st.Accepted != 0 || len(st.ByStatus) != 0 || st.StoredDispatch != 0 {
		t.Errorf("after reset: got %+v, want zeros", st)
	}
}

package sinchsim

import (
	"net/http"
	"testing"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantStatus   int    // 0: the client sees a connection error
		wantGRPC     string // error.status of the envelope
		wantAccepted int64
		wantFaults   FaultStats
	}{
		{"500", Config{FaultRate500: 1}, 500, "INTERNAL", 0, FaultStats{HTTP500: 1}},
		{"503", Config{FaultRate503: 1}, 503, "UNAVAILABLE", 0, FaultStats{HTTP503: 1}},
		{"reset before accept", Config{FaultResetBeforeAccept: 1}, 0, "", 0, FaultStats{ResetBeforeAccept: 1}},
		{"lost after accept", Config{FaultLostAfterAccept: 1}, 0, "", 1, FaultStats{LostAfterAccept: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, tt.cfg)
			r, err := s.do(t, http.MethodPost, sendPath, sendBody(phone(1)), basicAuth)
			switch {
			case tt.wantStatus == 0 && err == nil:
				t.Fatalf("got status %d (%s), want a connection error", r.status, r.body)
			case tt.wantStatus != 0 && err != nil:
				t.Fatalf("got error %v, want status %d", err, tt.wantStatus)
			case tt.wantStatus != 0:
				e := r.envelope(t).Error
				if r.status != tt.wantStatus || e.Code != tt.wantStatus || e.Status != tt.wantGRPC {
					t.Errorf("got %d %+v, want %d %s", r.status, e, tt.wantStatus, tt.wantGRPC)
				}
			}
			st := s.Stats()
			if st.Accepted != tt.wantAccepted || st.Faults != tt.wantFaults {
				t.Errorf("got accepted %d faults %+v, want %d %+v", st.Accepted, st.Faults, tt.wantAccepted, tt.wantFaults)
			}
			stored := len(s.list(t, query("messages_source", "DISPATCH_SOURCE")).Messages)
			if int64(stored) != tt.wantAccepted {
				t.Errorf("got %d stored messages, want %d", stored, tt.wantAccepted)
			}
			// Dropped connections have no status; the list call above has 200.
			var answered int64
			for _, n := range st.ByStatus {
				answered += n
			}
			if want := int64(map[bool]int{true: 0, false: 1}[tt.wantStatus == 0]); answered != want {
				t.Errorf("got by_status %v, want %d answered sends", st.ByStatus, want)
			}
		})
	}
}

func TestFaultsSkipInvalidRequests(t *testing.T) {
	s := newSim(t, Config{FaultRate500: 1})
	r := s.mustDo(t, http.MethodPost, sendPath, `{}`, basicAuth)
	if r.status != 400 || s.Stats().Faults.HTTP500 != 0 {
		t.Errorf("got status %d and %d faults, want 400 and none", r.status, s.Stats().Faults.HTTP500)
	}
}

func TestFaultDrawsAreSeededAndExclusive(t *testing.T) {
	cfg := Config{Seed: 42, FaultRate500: 0.1, FaultRate503: 0.2, FaultResetBeforeAccept: 0.3, FaultLostAfterAccept: 0.1}
	a, b := newFaultSource(cfg), newFaultSource(cfg)
	const n = 20000
	counts := map[fault]int{}
	for i := range n {
		fa, fb := a.draw(), b.draw()
		if fa != fb {
			t.Fatalf("draw %d: got %v and %v from the same seed, want equal", i, fa, fb)
		}
		counts[fa]++
	}
	want := map[fault]float64{faultNone: 0.3, fault500: 0.1, fault503: 0.2, faultReset: 0.3, faultLost: 0.1}
	for f, p := range want {
		if got := float64(counts[f]) / n; got < p-0.02 || got > p+0.02 {
			t.Errorf("fault %d: got rate %.3f, want %.2f±0.02", f, got, p)
		}
	}
}

func TestFaultConfigValidation(t *testing.T) {
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{FaultRate500: -0.1}, "FaultRate500"},
		{Config{FaultRate503: 1.5}, "FaultRate503"},
		{Config{FaultResetBeforeAccept: 2}, "FaultResetBeforeAccept"},
		{Config{FaultLostAfterAccept: -1}, "FaultLostAfterAccept"},
		{Config{FaultRate500: 0.6, FaultLostAfterAccept: 0.6}, "FaultRate500"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != tt.field {
			t.Errorf("New(%+v): got %v, want a FieldError for %s", tt.cfg, err, tt.field)
		}
	}
}

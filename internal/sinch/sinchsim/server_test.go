package sinchsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGetApp(t *testing.T) {
	s := newSim(t, Config{OutboundRate: 35, DispatchRetentionDays: 3, ProcessingMode: ModeDispatch})
	r := s.mustDo(t, http.MethodGet, appPath, "", basicAuth)
	if r.status != 200 {
		t.Fatalf("got status %d (%s), want 200", r.status, r.body)
	}
	app := r.json(t)
	rl := app["rate_limits"].(map[string]any)
	drp := app["dispatch_retention_policy"].(map[string]any)
	rp := app["retention_policy"].(map[string]any)
	switch {
	case app["id"] != DefaultAppID, app["processing_mode"] != "DISPATCH", app["display_name"] == "":
		t.Errorf("got id %v mode %v name %v", app["id"], app["processing_mode"], app["display_name"])
	case rl["outbound"] != 35.0 || rl["inbound"] == nil || rl["webhooks"] == nil:
		t.Errorf("got rate_limits %v, want outbound 35 and inbound, webhooks", rl)
	case drp["retention_type"] != "MESSAGE_EXPIRE_POLICY" || drp["ttl_days"] != 3.0:
		t.Errorf("got dispatch_retention_policy %v, want MESSAGE_EXPIRE_POLICY 3", drp)
	case rp["retention_type"] != "CONVERSATION_EXPIRE_POLICY":
		t.Errorf("got retention_policy %v", rp)
	}
	// The settings Sinch's recorded GET app (testdata/sinch) carries, at
	// the simulator's values.
	for key, want := range map[string]string{
		"persist_message_status":         `{"enabled":false}`,
		"callback_settings":              `{"secret_for_overridden_callback_urls":""}`,
		"delivery_report_based_fallback": `{"enabled":false,"delivery_report_waiting_time":0}`,
		"message_retry_settings":         `null`,
	} {
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(r.body, &raw)
		if got, ok := raw[key]; !ok || string(got) != want {
			t.Errorf("got %s %s (present %v), want %s", key, got, ok, want)
		}
	}
	s.SetRetentionDays(0)
	if drp := s.mustDo(t, http.MethodGet, appPath, "", basicAuth).json(t)["dispatch_retention_policy"].(map[string]any); drp["ttl_days"] != 0.0 {
		t.Errorf("after SetRetentionDays(0): got %v, want ttl_days 0", drp)
	}
	r = s.mustDo(t, http.MethodGet, "/v1/projects/"+DefaultProjectID+"/apps/other", "", basicAuth)
	if r.status != 404 || r.envelope(t).Error.Status != "NOT_FOUND" {
		t.Errorf("unknown app: got %d %s, want 404 NOT_FOUND", r.status, r.body)
	}
}

func TestRoutes(t *testing.T) {
	s := newSim(t, Config{})
	tests := []struct {
		method, path string
		want         int
		grpc         string
	}{
		{http.MethodGet, "/nope", 404, "NOT_FOUND"},
		{http.MethodGet, "/v1/projects/" + DefaultProjectID + "/contacts", 501, "UNIMPLEMENTED"},
		{http.MethodGet, sendPath, 405, "UNIMPLEMENTED"},
		{http.MethodPost, listPath, 405, "UNIMPLEMENTED"},
	}
	for _, tt := range tests {
		r := s.mustDo(t, tt.method, tt.path, "", basicAuth)
		if r.status != tt.want || r.envelope(t).Error.Status != tt.grpc {
			t.Errorf("%s %s: got %d %s, want %d %s", tt.method, tt.path, r.status, r.body, tt.want, tt.grpc)
		}
	}
}

func TestSendResponse(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now})
	id, accepted := s.send(t, sendBody(phone(1)))
	if len(id) != 26 {
		t.Errorf("got message_id %q, want 26 characters", id)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			t.Errorf("got message_id %q, want uppercase base32", id)
			break
		}
	}
	if want := "2024-02-22T07:40:46.000000Z"; accepted != want {
		t.Errorf("got accepted_time %q, want %q", accepted, want)
	}
	if _, err := time.Parse(time.RFC3339Nano, accepted); err != nil {
		t.Errorf("accepted_time is not RFC 3339: %v", err)
	}
}

func TestLatency(t *testing.T) {
	s := newSim(t, Config{Latency: 50 * time.Millisecond})
	start := time.Now()
	s.mustDo(t, http.MethodGet, appPath, "", basicAuth)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("got an answer after %v, want at least 50ms", d)
	}

	// A client that gives up is released at once, not after the latency;
	// otherwise closing the test server would wait for a minute.
	slow := newSim(t, Config{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, slow.URL+appPath, nil)
	if _, err := slow.client.Do(req); err == nil {
		t.Fatal("got an answer, want the client's timeout")
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{TokenTTL: time.Millisecond}, "TokenTTL"},
		{Config{ProcessingMode: "BATCH"}, "ProcessingMode"},
		{Config{DispatchRetentionDays: -2}, "DispatchRetentionDays"},
		{Config{Latency: -time.Second}, "Latency"},
		{Config{CallbackURL: "example.com/cb"}, "CallbackURL"},
		{Config{CallbackWorkers: -1}, "CallbackWorkers"},
		{Config{OutboundRate: -1}, "OutboundRate"},
		{Config{RateLimit: 10, RateBurst: -1}, "RateBurst"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != tt.field {
			t.Errorf("Validate(%+v): got %v, want a FieldError for %s", tt.cfg, err, tt.field)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: got %v, want valid", err)
	}
}

// TestConcurrentSends exercises every lock under -race.
func TestConcurrentSends(t *testing.T) {
	url, got := receiver(t)
	go func() {
		for range got { // drain
		}
	}()
	s := newSim(t, Config{CallbackURL: url, ReplySuffix: "9", FailSuffix: "3", RateLimit: 1e6})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				r, err := s.do(t, http.MethodPost, sendPath, sendBody(phone(g*100+i), `"correlation_id":"c"`), basicAuth)
				if err != nil || r.status != 200 {
					t.Errorf("send: got %v %d", err, r.status)
					return
				}
				s.do(t, http.MethodGet, listPath+"?messages_source=DISPATCH_SOURCE&page_size=5", "", basicAuth)
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Accepted != 200 || st.Duplicates != 199 {
		t.Errorf("got accepted %d duplicates %d, want 200 and 199", st.Accepted, st.Duplicates)
	}
}

func BenchmarkSend(b *testing.B) {
	srv, err := New(Config{RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	body := sendBody(phone(1), `"correlation_id":"c"`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := &discardWriter{header: http.Header{}}
			req, _ := http.NewRequest(http.MethodPost, sendPath, strings.NewReader(body))
			req.SetBasicAuth(DefaultKeyID, DefaultKeySecret)
			srv.ServeHTTP(w, req)
			if w.code != 200 {
				b.Errorf("got status %d, want 200", w.code)
				return
			}
		}
	})
}

type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

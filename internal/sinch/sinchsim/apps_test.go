package sinchsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// appBody is sendBody for another app.
func appBody(app, identity string, extra ...string) string {
	return strings.Replace(sendBody(identity, extra...), `"app_id":"`+DefaultAppID+`"`, `"app_id":"`+app+`"`, 1)
}

// sendStatus posts body and returns the answer's status and Retry-After.
func (s *sim) sendStatus(t *testing.T, body string) (int, string) {
	t.Helper()
	r := s.mustDo(t, http.MethodPost, sendPath, body, basicAuth)
	return r.status, r.header.Get("Retry-After")
}

// A full app queue answers 429 with Retry-After until a message has left
// it; another app's queue is its own, and the figures reach Stats.
func TestAppQueueFullAnswers429(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{ModelOutboundQueues: true, Clock: clock.Now, Apps: []App{
		{ID: "slow", OutboundRate: 2, QueueSize: 3},
		{ID: "other", OutboundRate: 2, QueueSize: 1},
	}})
	// Rate 2/s: two leave at once (the one-second burst), three wait.
	for i := range 5 {
		if code, _ := s.sendStatus(t, appBody("slow", phone(i))); code != http.StatusOK {
			t.Fatalf("send %d: got %d, want 200", i, code)
		}
	}
	code, retry := s.sendStatus(t, appBody("slow", phone(5)))
	if code != http.StatusTooManyRequests || retry != "1" {
		t.Fatalf("send to a full queue: got %d Retry-After %q, want 429 and 1", code, retry)
	}
	r := s.mustDo(t, http.MethodPost, sendPath, appBody("slow", phone(5)), basicAuth)
	if e := r.envelope(t); e.Error.Status != "RESOURCE_EXHAUSTED" || !strings.Contains(e.Error.Message, "queue is full") {
		t.Errorf("429 body: got %+v, want RESOURCE_EXHAUSTED naming the full queue", e.Error)
	}
	if code, _ := s.sendStatus(t, appBody("other", phone(9))); code != http.StatusOK {
		t.Errorf("send to another app: got %d, want 200 (its queue is its own)", code)
	}
	st := s.Stats()
	want := AppStats{Accepted: 5, QueueFull: 2, QueueDepth: 3, MaxQueueDepth: 3, OutboundRate: 2, QueueSize: 3}
	if got := st.Apps["slow"]; got != want {
		t.Errorf("stats of slow: got %+v, want %+v", got, want)
	}
	if st.RateLimited != 2 || st.RateLimitedBy != (RateLimitReasons{AppQueueFull: 2}) || st.Accepted != 6 {
		t.Errorf("stats: got %d rate limited %+v, %d accepted, want 2 (all queue full) and 6",
			st.RateLimited, st.RateLimitedBy, st.Accepted)
	}

	// One turn (half a second) later one message has left: one place.
	clock.Advance(500 * time.Millisecond)
	if got := s.Stats().Apps["slow"].QueueDepth; got != 2 {
		t.Errorf("depth after 0.5s: got %d, want 2", got)
	}
	if code, _ := s.sendStatus(t, appBody("slow", phone(6))); code != http.StatusOK {
		t.Errorf("send after a turn: got %d, want 200", code)
	}
	if code, _ := s.sendStatus(t, appBody("slow", phone(7))); code != http.StatusTooManyRequests {
		t.Errorf("send after refilling: got %d, want 429", code)
	}
	s.Reset()
	if got := s.Stats().Apps["slow"]; got.QueueDepth != 0 || got.Accepted != 0 || got.MaxQueueDepth != 0 {
		t.Errorf("after Reset: got %+v, want an empty queue and zero counters", got)
	}
}

// Without ModelOutboundQueues (the zero Config), messages reach their
// channel at once and a queue never fills, whatever the rate.
func TestQueuesNotModelledByDefault(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, PersistMessageStatus: true, OutboundRate: 1, OutboundQueueSize: 1})
	for i := range 5 {
		s.send(t, sendBody(phone(i), `"ttl":"3s"`))
	}
	for _, m := range s.list(t, query("messages_source", "DISPATCH_SOURCE")).Messages {
		if m.MessageStatus == nil || m.MessageStatus.Status != "DELIVERED" {
			t.Errorf("%s: got %+v, want DELIVERED at once", m.ChannelIdentity.Identity, m.MessageStatus)
		}
	}
	if got := s.Stats().Apps[DefaultAppID]; got.Accepted != 5 || got.QueueFull != 0 || got.MaxQueueDepth != 0 {
		t.Errorf("stats: got %+v, want 5 accepted and no queue", got)
	}
}

// Messages leave the queue at the app's outbound rate: their status (and
// receipts) follow their turn, and GET app reports the depth.
func TestAppQueueDrainsAtOutboundRate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{ModelOutboundQueues: true, Clock: clock.Now, PersistMessageStatus: true, OutboundRate: 4})
	var ids []string
	for i := range 8 {
		id, _ := s.send(t, sendBody(phone(i)))
		ids = append(ids, id)
	}
	// Burst of 4, then one every 250ms: turns at 0,0,0,0,.25,.5,.75,1s.
	delivered := func() int {
		n := 0
		for _, m := range s.list(t, query("messages_source", "DISPATCH_SOURCE", "page_size", "100")).Messages {
			if m.MessageStatus != nil && m.MessageStatus.Status == "DELIVERED" {
				n++
			}
		}
		return n
	}
	depth := func() float64 {
		r := s.mustDo(t, http.MethodGet, "/v1/projects/"+DefaultProjectID+"/apps/"+DefaultAppID, "", basicAuth)
		return r.json(t)["queue_stats"].(map[string]any)["outbound_size"].(float64)
	}
	for _, step := range []struct {
		at               time.Duration
		delivered, depth int
	}{{0, 4, 4}, {250 * time.Millisecond, 5, 3}, {600 * time.Millisecond, 6, 2}, {time.Second, 8, 0}} {
		clock.Advance(step.at - clock.Now().Sub(newFakeClock().Now()))
		if got := delivered(); got != step.delivered {
			t.Errorf("at %v: %d delivered, want %d", step.at, got, step.delivered)
		}
		if got := depth(); got != float64(step.depth) {
			t.Errorf("at %v: GET app outbound_size %v, want %d", step.at, got, step.depth)
		}
	}
	if got := s.Stats().Apps[DefaultAppID].MaxQueueDepth; got != 4 {
		t.Errorf("high-water mark: got %d, want 4", got)
	}
}

// A receipt comes after the message's turn in the queue, not at once.
func TestReceiptsFollowTheQueue(t *testing.T) {
	t.Parallel()
	url, got := receiver(t)
	s := newSim(t, Config{ModelOutboundQueues: true, CallbackURL: url, OutboundRate: 5})
	var first time.Time
	for i := range 6 {
		_, at := s.send(t, sendBody(phone(i)))
		if i == 0 {
			first, _ = time.Parse(time.RFC3339Nano, at)
		}
	}
	// After the burst of five, the 6th message's turn is one interval
	// (200ms) after the first acceptance, however fast the sends were.
	var queued time.Time
	for range 12 {
		var r receiptJSON
		if err := json.Unmarshal(next(t, got).body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Report.Status == "QUEUED_ON_CHANNEL" && r.Report.ChannelIdentity.Identity == phone(5) {
			queued, _ = time.Parse(time.RFC3339Nano, r.EventTime)
		}
	}
	if wait := queued.Sub(first); wait < 200*time.Millisecond-time.Microsecond {
		t.Errorf("6th message queued on channel %v after the first acceptance, want at least its turn (200ms)", wait)
	}
}

// A message whose ttl passes while it waits in the queue fails with
// MESSAGE_EXPIRED and never reaches a channel.
func TestTTLExpiresInQueue(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{ModelOutboundQueues: true, Clock: clock.Now, PersistMessageStatus: true, OutboundRate: 1})
	for i := range 5 {
		s.send(t, sendBody(phone(i), `"ttl":"3s"`))
	}
	// Turns at 0,1,2,3,4s: the last two would leave at or after 3s.
	clock.Advance(3 * time.Second)
	var expired []string
	for _, m := range s.list(t, query("messages_source", "DISPATCH_SOURCE")).Messages {
		if st := m.MessageStatus; st != nil && st.Status == "FAILED" && st.Reason == "MESSAGE_EXPIRED" {
			expired = append(expired, m.ChannelIdentity.Identity)
		}
	}
	if len(expired) != 2 || expired[0] != phone(4) || expired[1] != phone(3) {
		t.Errorf("expired: got %v, want %s and %s", expired, phone(4), phone(3))
	}
	if got := s.Stats().Apps[DefaultAppID].Expired; got != 2 {
		t.Errorf("stats expired: got %d, want 2", got)
	}
}

// The project's request rate comes before any app and is counted apart.
func TestProjectRateCountedApartFromQueues(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, RateLimit: 1, RateBurst: 1})
	s.send(t, sendBody(phone(1)))
	if code, _ := s.sendStatus(t, sendBody(phone(2))); code != http.StatusTooManyRequests {
		t.Fatalf("second send: got %d, want 429", code)
	}
	st := s.Stats()
	if st.RateLimitedBy != (RateLimitReasons{ProjectRate: 1}) || st.RateLimited != 1 || st.Apps[DefaultAppID].QueueFull != 0 {
		t.Errorf("got %d %+v, app %+v, want one project-rate 429", st.RateLimited, st.RateLimitedBy, st.Apps[DefaultAppID])
	}
}

// GET apps lists every app; GET app answers each with its own rate and
// channels, and 404 for an unknown one; sends to it are refused.
func TestListAndGetApps(t *testing.T) {
	t.Parallel()
	s := newSim(t, Config{Apps: []App{{ID: "a1"}, {ID: "a2", OutboundRate: 200, Channels: []string{"SMS", "WHATSAPP"}, QueueSize: 7}}})
	r := s.mustDo(t, http.MethodGet, "/v1/projects/"+DefaultProjectID+"/apps", "", basicAuth)
	var list struct {
		Apps []struct {
			ID         string `json:"id"`
			RateLimits struct {
				Outbound int `json:"outbound"`
			} `json:"rate_limits"`
			ChannelCredentials []struct {
				Channel string `json:"channel"`
			} `json:"channel_credentials"`
			QueueStats struct {
				OutboundLimit int `json:"outbound_limit"`
			} `json:"queue_stats"`
		} `json:"apps"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET apps: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Apps) != 2 || list.Apps[0].ID != "a1" || list.Apps[1].ID != "a2" {
		t.Fatalf("GET apps: got %s, want a1 and a2", r.body)
	}
	a1, a2 := list.Apps[0], list.Apps[1]
	if a1.RateLimits.Outbound != DefaultOutboundRate || len(a1.ChannelCredentials) != len(channels) ||
		a1.QueueStats.OutboundLimit != DefaultOutboundQueueSize {
		t.Errorf("a1: got %+v, want the defaults (rate 20, every channel, 500000)", a1)
	}
	if a2.RateLimits.Outbound != 200 || len(a2.ChannelCredentials) != 2 || a2.ChannelCredentials[1].Channel != "WHATSAPP" ||
		a2.QueueStats.OutboundLimit != 7 {
		t.Errorf("a2: got %+v, want rate 200, SMS and WHATSAPP, queue 7", a2)
	}
	for id, want := range map[string]int{"a1": 200, "a2": 200, "nope": 404, DefaultAppID: 404} {
		if r := s.mustDo(t, http.MethodGet, "/v1/projects/"+DefaultProjectID+"/apps/"+id, "", basicAuth); r.status != want {
			t.Errorf("GET app %s: got %d, want %d", id, r.status, want)
		}
	}
	if code, _ := s.sendStatus(t, appBody("nope", phone(1))); code != http.StatusBadRequest {
		t.Errorf("send to an unknown app: got %d, want 400", code)
	}
	if code, _ := s.sendStatus(t, appBody("a2", phone(1))); code != http.StatusOK {
		t.Errorf("send to a2: got %d, want 200", code)
	}
	if got := s.Stats().Apps; got["a2"].Accepted != 1 || got["a1"].Accepted != 0 {
		t.Errorf("per-app accepted: got %+v, want only a2's one", got)
	}
}

func TestAppsConfigRejected(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"duplicate":        {Apps: []App{{ID: "a"}, {ID: "a"}}},
		"no id":            {Apps: []App{{ID: "a"}, {}}},
		"negative rate":    {Apps: []App{{ID: "a", OutboundRate: -1}}},
		"negative queue":   {Apps: []App{{ID: "a", QueueSize: -1}}},
		"unknown channel":  {Apps: []App{{ID: "a", Channels: []string{"PIGEON"}}}},
		"AppID not first":  {AppID: "b", Apps: []App{{ID: "a"}, {ID: "b"}}},
		"negative default": {OutboundQueueSize: -1},
	} {
		var fe *FieldError
		if err := cfg.Validate(); !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a FieldError", name, err)
		}
	}
	if err := (Config{AppID: "a", Apps: []App{{ID: "a"}}}).Validate(); err != nil {
		t.Errorf("AppID equal to the first app: %v", err)
	}
}

func TestParseApps(t *testing.T) {
	t.Parallel()
	apps, err := ParseApps("sim-app=20, app2=200:sms+WHATSAPP,app3")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 3 || apps[0].ID != "sim-app" || apps[0].OutboundRate != 20 || apps[0].Channels != nil ||
		apps[1].ID != "app2" || apps[1].OutboundRate != 200 || strings.Join(apps[1].Channels, "+") != "SMS+WHATSAPP" ||
		apps[2].ID != "app3" || apps[2].OutboundRate != 0 || apps[2].Channels != nil {
		t.Errorf("got %+v", apps)
	}
	for _, bad := range []string{"", "a,,b", "=5", "a=0", "a=x", "a=5:PIGEON", "a:"} {
		if _, err := ParseApps(bad); err == nil || !strings.Contains(err.Error(), "entry") {
			t.Errorf("ParseApps(%q): got %v, want an error naming the entry", bad, err)
		}
	}
}

package sinchsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// callback is one request a receiver got.
type callback struct {
	header http.Header
	body   []byte
}

// receiver starts a webhook endpoint that hands each request to the test.
func receiver(t *testing.T) (url string, got <-chan callback) {
	t.Helper()
	ch := make(chan callback, 100)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- callback{header: r.Header.Clone(), body: b}
	}))
	t.Cleanup(ts.Close)
	return ts.URL, ch
}

func next(t *testing.T, got <-chan callback) callback {
	t.Helper()
	select {
	case cb := <-got:
		return cb
	case <-time.After(10 * time.Second):
		t.Fatal("no callback within 10s")
		return callback{}
	}
}

// receipt decodes a MESSAGE_DELIVERY callback as a receiver would.
type receiptJSON struct {
	AppID           string `json:"app_id"`
	AcceptedTime    string `json:"accepted_time"`
	EventTime       string `json:"event_time"`
	ProjectID       string `json:"project_id"`
	MessageMetadata string `json:"message_metadata"`
	CorrelationID   string `json:"correlation_id"`
	Report          struct {
		MessageID       string          `json:"message_id"`
		Status          string          `json:"status"`
		ChannelIdentity channelIdentity `json:"channel_identity"`
		Reason          *failureReason  `json:"reason"`
		Metadata        string          `json:"metadata"`
		ProcessingMode  string          `json:"processing_mode"`
	} `json:"message_delivery_report"`
}

// independentSignature recomputes the documented formula without Sign.
func independentSignature(secret string, cb callback) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(string(cb.body) + "." + cb.header.Get("x-sinch-webhook-signature-nonce") + "." +
		cb.header.Get("x-sinch-webhook-signature-timestamp")))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestDeliveryReceipts(t *testing.T) {
	const secret = "whsec-test"
	url, got := receiver(t)
	s := newSim(t, Config{OverrideCallbackSecret: secret, FailSuffix: "13"})

	tests := []struct {
		identity   string
		wantFinal  string
		wantReason string
	}{
		{phone(1), "DELIVERED", ""},
		{phone(13), "FAILED", "RECIPIENT_NOT_REACHABLE"},
	}
	for _, tt := range tests {
		id, accepted := s.send(t, sendBody(tt.identity, `"callback_url":"`+url+`"`,
			`"correlation_id":"corr-1"`, `"message_metadata":"meta-1"`))
		for _, wantStatus := range []string{"QUEUED_ON_CHANNEL", tt.wantFinal} {
			cb := next(t, got)
			if got, want := cb.header.Get("x-sinch-webhook-signature"), independentSignature(secret, cb); got != want {
				t.Errorf("got signature %q, want %q", got, want)
			}
			if got := cb.header.Get("x-sinch-webhook-signature-algorithm"); got != "HmacSHA256" {
				t.Errorf("got algorithm %q, want HmacSHA256", got)
			}
			ts, err := strconv.ParseInt(cb.header.Get("x-sinch-webhook-signature-timestamp"), 10, 64)
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Errorf("got timestamp %q, want the current Unix time", cb.header.Get("x-sinch-webhook-signature-timestamp"))
			}
			if cb.header.Get("x-sinch-webhook-signature-nonce") == "" {
				t.Error("got no nonce")
			}
			if !Verify(secret, cb.header, cb.body) {
				t.Error("Verify: got false for a genuine callback")
			}
			var r receiptJSON
			if err := json.Unmarshal(cb.body, &r); err != nil {
				t.Fatalf("decode %s: %v", cb.body, err)
			}
			rep := r.Report
			if r.AppID != DefaultAppID || r.ProjectID != DefaultProjectID || r.AcceptedTime != accepted ||
				r.CorrelationID != "corr-1" || r.MessageMetadata != "meta-1" || r.EventTime == "" ||
				rep.MessageID != id || rep.Status != wantStatus || rep.ProcessingMode != "DISPATCH" ||
				rep.Metadata != "meta-1" || rep.ChannelIdentity != (channelIdentity{Channel: "SMS", Identity: tt.identity}) {
				t.Errorf("got %s, want a %s receipt of %s", cb.body, wantStatus, id)
			}
			wantReason := ""
			if wantStatus == tt.wantFinal {
				wantReason = tt.wantReason
			}
			if gotReason := rep.Reason; (gotReason == nil) != (wantReason == "") || (gotReason != nil && gotReason.Code != wantReason) {
				t.Errorf("%s: got reason %+v, want %q", wantStatus, gotReason, wantReason)
			}
		}
	}
	// Tampering breaks the signature.
	cb := callback{header: http.Header{}, body: []byte(`{"a":1}`)}
	cb.header.Set(HeaderSignatureNonce, "n")
	cb.header.Set(HeaderSignatureTimestamp, "1")
	cb.header.Set(HeaderSignature, Sign(secret, []byte(`{"a":2}`), "n", "1"))
	if Verify(secret, cb.header, cb.body) {
		t.Error("Verify: got true for a tampered body")
	}
	testwait.For(t, 10*time.Second, "4 callbacks sent", func() bool { return s.Stats().CallbacksSent == 4 })
}

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '%s' 'body.nonce.1700000000' | openssl dgst -sha256 -hmac secret -binary | base64
	got := Sign("secret", []byte("body"), "nonce", "1700000000")
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("body.nonce.1700000000"))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDefaultCallbackURLAndInbound(t *testing.T) {
	url, got := receiver(t)
	s := newSim(t, Config{CallbackURL: url, ReplySuffix: "99", ReplyText: "STOP", CallbackDelay: 10 * time.Millisecond})
	id, _ := s.send(t, sendBody(phone(99), `"correlation_id":"c-9"`, `"conversation_metadata":{"campaign":"x"}`))
	var statuses []string
	for range 2 {
		var r receiptJSON
		cb := next(t, got)
		if cb.header.Get(HeaderSignature) != "" {
			t.Error("got a signature with no WebhookSecret, want none")
		}
		_ = json.Unmarshal(cb.body, &r)
		statuses = append(statuses, r.Report.Status)
	}
	if statuses[0] != "QUEUED_ON_CHANNEL" || statuses[1] != "DELIVERED" {
		t.Errorf("got statuses %v, want QUEUED_ON_CHANNEL then DELIVERED", statuses)
	}
	var in struct {
		Message struct {
			Direction      string      `json:"direction"`
			ContactMessage contactJSON `json:"contact_message"`
		} `json:"message"`
		MessageMetadata string `json:"message_metadata"`
		CorrelationID   string `json:"correlation_id"`
	}
	cb := next(t, got)
	if err := json.Unmarshal(cb.body, &in); err != nil {
		t.Fatal(err)
	}
	cm := in.Message.ContactMessage
	if in.Message.Direction != "TO_APP" || cm.TextMessage == nil || cm.TextMessage.Text != "STOP" ||
		cm.ReplyTo == nil || cm.ReplyTo.MessageID != id || in.CorrelationID != "c-9" || in.MessageMetadata != `{"campaign":"x"}` {
		t.Errorf("got inbound %s, want a STOP replying to %s with the correlation and conversation metadata", cb.body, id)
	}
}

func TestReplyStored(t *testing.T) {
	s := newSim(t, Config{ReplySuffix: "99"})
	asked, _ := s.send(t, sendBody(phone(99)))
	lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "direction", "TO_APP"))
	if len(lr.Messages) != 1 {
		t.Fatalf("got %d TO_APP messages, want 1", len(lr.Messages))
	}
	reply := lr.Messages[0]
	if c := reply.ContactMessage; c == nil || c.TextMessage == nil || c.TextMessage.Text != DefaultReplyText ||
		c.ReplyTo == nil || c.ReplyTo.MessageID != asked || reply.ChannelIdentity.Identity != phone(99) || reply.MessageStatus != nil {
		t.Errorf("got reply %+v, want STOP from %s replying to %s", reply, phone(99), asked)
	}
	// Sinch sets sender_id only where the channel has one: an inbound SMS
	// here has none, so the field is left out rather than sent empty.
	r := s.mustDo(t, http.MethodGet, listPath+"?messages_source=DISPATCH_SOURCE&direction=TO_APP", "", basicAuth)
	var raw struct {
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Messages) != 1 {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if v, ok := raw.Messages[0]["sender_id"]; ok {
		t.Errorf("got inbound sender_id %s, want it left out", v)
	}
}

// A failed delivery is reported by its FAILED receipt only: Sinch's
// fallback_message is an inbound message the channel could not map, not a
// delivery failure, so none is stored or posted.
func TestFailedDeliveryHasNoInboundMessage(t *testing.T) {
	url, got := receiver(t)
	s := newSim(t, Config{CallbackURL: url, FailSuffix: "13", CallbackWorkers: 1})
	failed, _ := s.send(t, sendBody(phone(13)))
	var statuses []string
	for range 2 {
		var r receiptJSON
		cb := next(t, got)
		if err := json.Unmarshal(cb.body, &r); err != nil {
			t.Fatalf("decode %s: %v", cb.body, err)
		}
		statuses = append(statuses, r.Report.Status)
		if r.Report.Status == "FAILED" && (r.Report.Reason == nil || r.Report.Reason.Code != "RECIPIENT_NOT_REACHABLE") {
			t.Errorf("got FAILED receipt %s, want reason RECIPIENT_NOT_REACHABLE", cb.body)
		}
	}
	if statuses[0] != "QUEUED_ON_CHANNEL" || statuses[1] != "FAILED" {
		t.Fatalf("got receipts %v, want QUEUED_ON_CHANNEL then FAILED", statuses)
	}
	if lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "direction", "TO_APP")); len(lr.Messages) != 0 {
		t.Errorf("got TO_APP messages %+v after a failed delivery of %s, want none", lr.Messages, failed)
	}
	// With one worker, an inbound message following the receipts would
	// come before this marker.
	testwait.For(t, 10*time.Second, "2 callbacks sent", func() bool { return s.Stats().CallbacksSent == 2 })
	if _, err := s.AddContactMessage(ContactMessage{Identity: phone(14), Text: "marker"}); err != nil {
		t.Fatal(err)
	}
	cb := next(t, got)
	if !strings.Contains(string(cb.body), `"text":"marker"`) || strings.Contains(string(cb.body), "fallback_message") {
		t.Errorf("got callback %s after the FAILED receipt, want the marker message", cb.body)
	}
}

// message_status is filled only for an app that persists it, in the SDK's
// shape {status, event_time, reason}; otherwise it is null, as in Sinch's
// recorded responses.
func TestMessageStatusOnlyWhenPersisted(t *testing.T) {
	for _, persist := range []bool{false, true} {
		s := newSim(t, Config{PersistMessageStatus: persist, FailSuffix: "13"})
		ok, _ := s.send(t, sendBody(phone(1)))
		failed, _ := s.send(t, sendBody(phone(13)))
		app := s.mustDo(t, http.MethodGet, appPath, "", basicAuth).json(t)
		if got := app["persist_message_status"].(map[string]any)["enabled"]; got != persist {
			t.Errorf("persist %v: got GET app persist_message_status.enabled %v", persist, got)
		}
		r := s.mustDo(t, http.MethodGet, listPath+"?messages_source=DISPATCH_SOURCE", "", basicAuth)
		var raw struct {
			Messages []map[string]json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ok: "null", failed: "null"}
		if persist {
			want[ok] = `{"status":"DELIVERED","event_time":"` + "%s" + `"}`
			want[failed] = `{"status":"FAILED","event_time":"%s","reason":"RECIPIENT_NOT_REACHABLE"}`
		}
		for _, m := range raw.Messages {
			var id, accepted string
			_ = json.Unmarshal(m["id"], &id)
			_ = json.Unmarshal(m["accept_time"], &accepted)
			st, present := m["message_status"]
			if w := strings.ReplaceAll(want[id], "%s", accepted); !present || string(st) != w {
				t.Errorf("persist %v, %s: got message_status %s (present %v), want %s", persist, id, st, present, w)
			}
		}
	}
}

func TestMessageStatusFollowsCallbackDelay(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, CallbackDelay: time.Minute, PersistMessageStatus: true})
	s.send(t, sendBody(phone(1)))
	status := func() *messageStatus {
		return s.list(t, query("messages_source", "DISPATCH_SOURCE")).Messages[0].MessageStatus
	}
	if st := status(); st != nil {
		t.Errorf("at once: got %+v, want null", st)
	}
	clock.Advance(time.Minute)
	if st := status(); st == nil || st.Status != "QUEUED_ON_CHANNEL" {
		t.Errorf("after 1m: got %+v, want QUEUED_ON_CHANNEL", st)
	}
	clock.Advance(time.Minute)
	if st := status(); st == nil || st.Status != "DELIVERED" {
		t.Errorf("after 2m: got %+v, want DELIVERED", st)
	}
}

// Receipts of a message with its own callback_url are signed with the
// app's secret for overridden callback URLs, the others with the webhook
// secret; without an override secret they are unsigned.
func TestOverriddenCallbackURLSignedWithOverrideSecret(t *testing.T) {
	const appSecret, overrideSecret = "whsec-app", "whsec-override"
	appURL, appGot := receiver(t)
	ownURL, ownGot := receiver(t)
	tests := []struct {
		name, override string
		callbackURL    string
		got            <-chan callback
		wantSecret     string // "": unsigned
	}{
		{"app webhook", overrideSecret, "", appGot, appSecret},
		{"own callback_url", overrideSecret, ownURL, ownGot, overrideSecret},
		{"own callback_url, no override secret", "", ownURL, ownGot, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{CallbackURL: appURL, WebhookSecret: appSecret, OverrideCallbackSecret: tt.override})
			app := s.mustDo(t, http.MethodGet, appPath, "", basicAuth).json(t)
			if got := app["callback_settings"].(map[string]any)["secret_for_overridden_callback_urls"]; got != tt.override {
				t.Errorf("got GET app secret_for_overridden_callback_urls %v, want %q", got, tt.override)
			}
			extra := []string{}
			if tt.callbackURL != "" {
				extra = append(extra, `"callback_url":"`+tt.callbackURL+`"`)
			}
			s.send(t, sendBody(phone(1), extra...))
			for range 2 {
				cb := next(t, tt.got)
				sig := cb.header.Get(HeaderSignature)
				switch {
				case tt.wantSecret == "" && sig != "":
					t.Errorf("got signature %q, want an unsigned receipt", sig)
				case tt.wantSecret != "" && sig != independentSignature(tt.wantSecret, cb):
					t.Errorf("got signature %q, want %q", sig, independentSignature(tt.wantSecret, cb))
				}
			}
		})
	}
}

// Sinch's JSON does not escape &, < and > the way Go's encoder does by
// default.
func TestJSONNotHTMLEscaped(t *testing.T) {
	url, got := receiver(t)
	s := newSim(t, Config{CallbackURL: url})
	s.send(t, sendBody(phone(1), `"message_metadata":"a&b<c>"`))
	cb := next(t, got)
	if !strings.Contains(string(cb.body), `"a&b<c>"`) {
		t.Errorf("got callback %s, want message_metadata a&b<c> unescaped", cb.body)
	}
	r := s.mustDo(t, http.MethodGet, listPath+"?messages_source=DISPATCH_SOURCE", "", basicAuth)
	if !strings.Contains(string(r.body), `"metadata":"a&b<c>"`) {
		t.Errorf("got list %s, want metadata a&b<c> unescaped", r.body)
	}
}

func TestCallbackQueueBounded(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release) // before ts.Close, so the handler returns

	s := newSim(t, Config{CallbackURL: ts.URL, CallbackQueueSize: 1, CallbackWorkers: 1})
	s.send(t, sendBody(phone(1))) // takes the only slot until both receipts are delivered
	<-arrived
	s.send(t, sendBody(phone(2)))
	s.send(t, sendBody(phone(3)))
	if got := s.Stats().CallbacksDropped; got != 4 {
		t.Errorf("got %d dropped, want 4 (two receipts of each of two messages)", got)
	}
}

func TestCallbackFailuresCounted(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer ts.Close()
	s := newSim(t, Config{CallbackURL: ts.URL})
	s.send(t, sendBody(phone(1)))
	testwait.For(t, 10*time.Second, "2 failed callbacks", func() bool { return s.Stats().CallbacksFailed == 2 })
}

// TestCallbackRetryAfterRedelivers: a receiver answering Retry-After (our
// webhook's "not recorded yet") gets the same receipt again, and the
// chain's next receipt only after it; one answering without it does not
// (TestCallbackFailuresCounted), nor one that keeps asking more than
// maxRedeliveries times.
func TestCallbackRetryAfterRedelivers(t *testing.T) {
	var refuse atomic.Int64 // how many more POSTs to refuse
	ch := make(chan string, 100)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var rc receiptJSON
		_ = json.Unmarshal(b, &rc)
		if refuse.Add(-1) >= 0 {
			ch <- "refused " + rc.Report.Status
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ch <- "accepted " + rc.Report.Status
	}))
	t.Cleanup(ts.Close)
	s := newSim(t, Config{CallbackURL: ts.URL})

	refuse.Store(2)
	s.send(t, sendBody(phone(1)))
	var got []string
	for range 4 {
		select {
		case c := <-ch:
			got = append(got, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("callbacks: got %q, want 4", got)
		}
	}
	want := []string{"refused QUEUED_ON_CHANNEL", "refused QUEUED_ON_CHANNEL", "accepted QUEUED_ON_CHANNEL", "accepted DELIVERED"}
	if !slices.Equal(got, want) {
		t.Errorf("callbacks: got %q, want %q", got, want)
	}
	testwait.For(t, 10*time.Second, "2 sent and 2 failed", func() bool {
		st := s.Stats()
		return st.CallbacksSent == 2 && st.CallbacksFailed == 2
	})

	// A receiver that keeps asking gets each receipt 1 + maxRedeliveries
	// times, then the next one.
	refuse.Store(1 << 30)
	s.send(t, sendBody(phone(2)))
	got = got[:0]
	for range 2 * (1 + maxRedeliveries) {
		select {
		case c := <-ch:
			got = append(got, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("callbacks: got %d (%q), want %d", len(got), got, 2*(1+maxRedeliveries))
		}
	}
	if got[0] != "refused QUEUED_ON_CHANNEL" || got[maxRedeliveries] != "refused QUEUED_ON_CHANNEL" || got[maxRedeliveries+1] != "refused DELIVERED" {
		t.Errorf("callbacks: got %q, want each receipt %d times in order", got, 1+maxRedeliveries)
	}
	select {
	case c := <-ch:
		t.Errorf("got %q after the last redelivery", c)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestAddContactMessage(t *testing.T) {
	url, got := receiver(t)
	s := newSim(t, Config{CallbackURL: url})
	sent, _ := s.send(t, sendBody(phone(1)))
	for range 2 {
		next(t, got) // the receipts
	}
	id, err := s.AddContactMessage(ContactMessage{Identity: phone(1), Text: "STOP", ReplyTo: sent})
	if err != nil {
		t.Fatal(err)
	}
	lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "direction", "TO_APP"))
	if len(lr.Messages) != 1 || lr.Messages[0].ID != id || lr.Messages[0].ContactMessage.ReplyTo.MessageID != sent {
		t.Errorf("got %+v, want %s replying to %s", lr.Messages, id, sent)
	}
	next(t, got) // the inbound callback
	if _, err := s.AddContactMessage(ContactMessage{Identity: phone(1), Text: "x", ReplyTo: "nope"}); err == nil {
		t.Error("reply to an unknown message: got no error")
	}
	if _, err := s.AddContactMessage(ContactMessage{Text: "x"}); err == nil {
		t.Error("no identity: got no error")
	}
}

func TestCloseStopsCallbacks(t *testing.T) {
	url, _ := receiver(t)
	s := newSim(t, Config{CallbackURL: url})
	s.Close()
	s.Close() // idempotent
	s.send(t, sendBody(phone(1)))
	if got := s.Stats().CallbacksDropped; got != 2 {
		t.Errorf("after Close: got %d dropped, want 2", got)
	}
}

func TestRejectSuffixAnswersPermanent400(t *testing.T) {
	s := newSim(t, Config{RejectSuffix: "77"})
	r := s.mustDo(t, http.MethodPost, sendPath, sendBody(phone(77)), basicAuth)
	if r.status != http.StatusBadRequest {
		t.Fatalf("got status %d, want 400", r.status)
	}
	if env := r.envelope(t); env.Error.Status != "INVALID_ARGUMENT" || !strings.Contains(env.Error.Message, "recipient") {
		t.Fatalf("got error %+v, want INVALID_ARGUMENT naming the recipient", env.Error)
	}
	s.send(t, sendBody(phone(78))) // others are accepted
	if st := s.Stats(); st.Accepted != 1 {
		t.Fatalf("got %d accepted, want 1", st.Accepted)
	}
}

package sinchsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	s := newSim(t, Config{WebhookSecret: secret, FailSuffix: "13"})

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

func TestReplyAndFallbackStored(t *testing.T) {
	s := newSim(t, Config{ReplySuffix: "99", FailSuffix: "13"})
	asked, _ := s.send(t, sendBody(phone(99)))
	failed, _ := s.send(t, sendBody(phone(13)))
	lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "direction", "TO_APP"))
	if len(lr.Messages) != 2 {
		t.Fatalf("got %d TO_APP messages, want 2", len(lr.Messages))
	}
	fb, reply := lr.Messages[0], lr.Messages[1]
	if c := reply.ContactMessage; c == nil || c.TextMessage == nil || c.TextMessage.Text != DefaultReplyText ||
		c.ReplyTo == nil || c.ReplyTo.MessageID != asked || reply.ChannelIdentity.Identity != phone(99) || reply.MessageStatus != nil {
		t.Errorf("got reply %+v, want STOP from %s replying to %s", reply, phone(99), asked)
	}
	if c := fb.ContactMessage; c == nil || c.FallbackMessage == nil || c.FallbackMessage.Reason.Code != "RECIPIENT_NOT_REACHABLE" ||
		c.ReplyTo == nil || c.ReplyTo.MessageID != failed {
		t.Errorf("got fallback %+v, want RECIPIENT_NOT_REACHABLE replying to %s", fb, failed)
	}
	mt := s.list(t, query("messages_source", "DISPATCH_SOURCE", "channel_identity", phone(13), "direction", "TO_CONTACT"))
	if st := mt.Messages[0].MessageStatus; st == nil || st.Status != "FAILED" || st.Reason == nil {
		t.Errorf("got message_status %+v, want FAILED with a reason", st)
	}
}

func TestMessageStatusFollowsCallbackDelay(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, CallbackDelay: time.Minute})
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

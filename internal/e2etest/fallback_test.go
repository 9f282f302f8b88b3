package e2etest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
)

// sendRecorder sits between the worker and the simulator and keeps the
// body of every messages:send, so a test can read the request as Sinch
// would receive it.
type sendRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (s *stack) recordSends() *sendRecorder {
	s.t.Helper()
	target, err := url.Parse(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	rec := &sendRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/messages:send") {
			b, _ := io.ReadAll(r.Body)
			rec.mu.Lock()
			rec.bodies = append(rec.bodies, b)
			rec.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		proxy.ServeHTTP(w, r)
	}))
	s.t.Cleanup(srv.Close)
	s.env["SINCH_BASE_URL"] = srv.URL
	return rec
}

// fallbackRequest is the part of a messages:send body a fallback campaign sets.
type fallbackRequest struct {
	Recipient struct {
		IdentifiedBy struct {
			ChannelIdentities []sinch.ChannelIdentity `json:"channel_identities"`
		} `json:"identified_by"`
	} `json:"recipient"`
	ChannelPriorityOrder []sinch.Channel   `json:"channel_priority_order"`
	MessageContentType   sinch.ContentType `json:"message_content_type"`
	Message              struct {
		TemplateMessage            *sinch.TemplateMessage `json:"template_message"`
		ExplicitChannelOmniMessage map[sinch.Channel]struct {
			TextMessage *sinch.TextMessage `json:"text_message"`
		} `json:"explicit_channel_omni_message"`
	} `json:"message"`
	CorrelationID string `json:"correlation_id"`
}

// The docs' fallback example end to end: MESSENGER, then WHATSAPP, then
// SMS, with an omni template, a WhatsApp template and an SMS text. Every
// send carries the order, one identity per channel and the content type;
// rows lacking an identity are rejected with their row number; receipts
// on the channel that delivered and SWITCHING_CHANNEL receipts show in
// status and report.
func TestChannelFallbackCampaign(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	sends := s.recordSends()
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	sum := s.enqueue("--campaign", "fb", "--csv", filepath.Join("..", "..", "testdata", "fallback.csv"),
		"--channels", "MESSENGER,WHATSAPP,SMS", "--template-id", "spring_omni", "--template-language", "en-US",
		"--channel-template", "WHATSAPP=spring_sale:en_US", "--channel-text", "SMS=Hi {{.first_name}}, code {{.code}}",
		"--content-type", "marketing", "--rejects", rejects)
	if sum.Enqueued != 2 || sum.Rejected != 2 {
		t.Fatalf("got %+v, want 2 enqueued and 2 rejected", sum)
	}
	wantRejects := []struct {
		row    int
		column string
		reason string
	}{{4, "messenger", "no MESSENGER identity"}, {5, "phone", "not a phone number"}}
	for i, w := range wantRejects {
		if got := sum.FirstRejects[i]; got.Row != w.row || got.Column != w.column || !strings.Contains(got.Reason, w.reason) {
			t.Errorf("reject %d: got %+v, want row %d column %s (%s)", i, got, w.row, w.column, w.reason)
		}
	}
	if b, _ := os.ReadFile(rejects); !strings.Contains(string(b), "no MESSENGER identity") {
		t.Errorf("rejects file: got %q", b)
	}
	if sum.SMS == nil || sum.SMS.Messages != 2 {
		t.Errorf("SMS counted: got %+v, want the 2 SMS texts", sum.SMS)
	}

	if c := s.runWorker("fb", 30*time.Second, "--rate", "200", "--track-interval", "0"); c.Sent != 2 {
		t.Fatalf("sent %d, want 2", c.Sent)
	}
	sends.mu.Lock()
	bodies := sends.bodies
	sends.mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("the simulator got %d sends, want 2", len(bodies))
	}
	want := map[string]struct{ messenger, phone, text string }{
		"fb:2": {"7312984561", "+33612345678", "Hi Amélie, code SPRING10"},
		"fb:3": {"5513408877", "+14155550132", "Hi Bob, code SPRING20"},
	}
	for _, b := range bodies {
		var req fallbackRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		w, ok := want[req.CorrelationID]
		if !ok {
			t.Fatalf("unexpected send %s", req.CorrelationID)
		}
		order := []sinch.Channel{sinch.ChannelMessenger, sinch.ChannelWhatsApp, sinch.ChannelSMS}
		if !reflect.DeepEqual(req.ChannelPriorityOrder, order) {
			t.Errorf("%s: channel_priority_order %v, want %v", req.CorrelationID, req.ChannelPriorityOrder, order)
		}
		ids := []sinch.ChannelIdentity{{Channel: sinch.ChannelMessenger, Identity: w.messenger},
			{Channel: sinch.ChannelWhatsApp, Identity: w.phone}, {Channel: sinch.ChannelSMS, Identity: w.phone}}
		if got := req.Recipient.IdentifiedBy.ChannelIdentities; !reflect.DeepEqual(got, ids) {
			t.Errorf("%s: channel identities %v, want one per channel", req.CorrelationID, got)
		}
		if req.MessageContentType != sinch.ContentMarketing {
			t.Errorf("%s: message_content_type %q", req.CorrelationID, req.MessageContentType)
		}
		tm := req.Message.TemplateMessage
		if tm == nil || tm.OmniTemplate == nil || tm.OmniTemplate.TemplateID != "spring_omni" || len(tm.OmniTemplate.Parameters) != 2 ||
			tm.ChannelTemplate[sinch.ChannelWhatsApp].TemplateID != "spring_sale" ||
			tm.ChannelTemplate[sinch.ChannelWhatsApp].LanguageCode != "en_US" || tm.ChannelTemplate[sinch.ChannelWhatsApp].Parameters != nil {
			t.Errorf("%s: template_message %+v, want the omni template with its parameters and the WhatsApp override", req.CorrelationID, tm)
		}
		if sms := req.Message.ExplicitChannelOmniMessage[sinch.ChannelSMS]; sms.TextMessage == nil || sms.TextMessage.Text != w.text {
			t.Errorf("%s: explicit_channel_omni_message SMS %+v, want text %q", req.CorrelationID, sms, w.text)
		}
	}

	// Receipts: row 2 falls back twice and is delivered on SMS, row 3 is
	// delivered on MESSENGER.
	store := campaign.NewStore(s.redis.Client)
	h, err := webhook.New(webhook.Config{Secret: webhookSecret, Store: store, Redis: s.redis.Client})
	if err != nil {
		t.Fatal(err)
	}
	msgID := map[int]string{}
	err = store.ScanReport(context.Background(), "fb", func(r campaign.ReportRow) error {
		msgID[r.Record.Row] = r.Record.MessageID
		return nil
	})
	if err != nil || len(msgID) != 2 {
		t.Fatalf("report scan: %v, %v", msgID, err)
	}
	for i, r := range []struct {
		row    int
		status sinch.DeliveryStatus
		ch     sinch.Channel
	}{
		{2, sinch.StatusSwitchingChannel, sinch.ChannelMessenger},
		{2, sinch.StatusSwitchingChannel, sinch.ChannelWhatsApp},
		{2, sinch.StatusDelivered, sinch.ChannelSMS},
		{3, sinch.StatusDelivered, sinch.ChannelMessenger},
	} {
		body, _ := json.Marshal(sinch.DeliveryReceipt{AppID: sinchsim.DefaultAppID, AcceptedTime: time.Now().UTC(),
			MessageMetadata: "fb", CorrelationID: "fb:" + strconv.Itoa(r.row),
			MessageDeliveryReport: &sinch.MessageDeliveryReport{MessageID: msgID[r.row], Status: r.status,
				ChannelIdentity: &sinch.ChannelIdentity{Channel: r.ch, Identity: "x"}}})
		nonce, ts := "n"+strconv.Itoa(i), strconv.FormatInt(time.Now().Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
		req.Header.Set("X-Sinch-Webhook-Signature", sinch.SignWebhook(webhookSecret, body, nonce, ts))
		req.Header.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
		req.Header.Set("X-Sinch-Webhook-Signature-Nonce", nonce)
		req.Header.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA256")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("receipt %d: got %d %s", i, w.Code, w.Body.String())
		}
	}

	st := s.statusJSON("fb")
	if got := st.Outcomes.DeliveredByChannel; len(got) != 2 || got[sinch.ChannelSMS] != 1 || got[sinch.ChannelMessenger] != 1 {
		t.Errorf("status --json delivered_by_channel: got %v, want SMS 1, MESSENGER 1", got)
	}
	if st.Outcomes.ChannelSwitches != 2 || st.Outcomes.Delivered != 2 {
		t.Errorf("status --json: got %d switches and %d delivered, want 2 and 2", st.Outcomes.ChannelSwitches, st.Outcomes.Delivered)
	}
	if !reflect.DeepEqual(st.Channels, []sinch.Channel{sinch.ChannelMessenger, sinch.ChannelWhatsApp, sinch.ChannelSMS}) {
		t.Errorf("status --json channels: got %v", st.Channels)
	}
	if st.ContentType != sinch.ContentMarketing {
		t.Errorf("status --json content_type: got %q, want %q", st.ContentType, sinch.ContentMarketing)
	}
	text := s.mustOps("status", "fb")
	for _, w := range []string{"MESSENGER>WHATSAPP>SMS fallback, priority normal, marketing", "delivered on MESSENGER 1, SMS 1; 2 channel switches"} {
		if !strings.Contains(text, w) {
			t.Errorf("status does not say %q:\n%s", w, text)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(s.mustOps("report", "fb"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, name := range rows[0] {
		if name == "delivered_channel" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("report header %v has no delivered_channel", rows[0])
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[col]
	}
	if got["2"] != "SMS" || got["3"] != "MESSENGER" {
		t.Errorf("report delivered_channel by row: got %v, want row 2 SMS, row 3 MESSENGER", got)
	}

	// The error paths name the flag.
	var out, errOut bytes.Buffer
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--channels", "WHATSAPP,PIGEON", "--text", "Hi"}, "--channels: unknown channel"},
		{[]string{"--channels", "WHATSAPP,SMS", "--channel", "SMS", "--text", "Hi"}, "--channels cannot be combined with --channel"},
		{[]string{"--channels", "WHATSAPP,SMS", "--text", "Hi", "--channel-text", "RCS=Hi"}, "--channel-text names RCS, which the upload does not send on"},
		{[]string{"--channels", "WHATSAPP,SMS", "--text", "Hi", "--channel-template", "WHATSAPP=x"}, "--channel-template cannot be combined with --text"},
	} {
		args := append([]string{"--campaign", "bad", "--csv", filepath.Join("..", "..", "testdata", "fallback.csv")}, tc.args...)
		err := enqueuecli.Run(context.Background(), args, s.getenv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// Against the simulator's channel fallback: recipients whose WhatsApp
// fails get a SWITCHING_CHANNEL receipt, then delivery on SMS; the signed
// receipts reach the webhook, and status counts each channel and the
// switches.
func TestFallbackReceiptsFromTheSimulator(t *testing.T) {
	t.Parallel()
	var hook atomic.Pointer[webhook.Handler]
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := hook.Load(); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(rcv.Close)
	s := newStack(t, sinchsim.Config{FailFirstChannel: `^\+1`, CallbackURL: rcv.URL + webhook.Path, WebhookSecret: webhookSecret})
	store := campaign.NewStore(s.redis.Client)
	h, err := webhook.New(webhook.Config{Secret: webhookSecret, Store: store, Redis: s.redis.Client})
	if err != nil {
		t.Fatal(err)
	}
	hook.Store(h)

	sum := s.enqueue("--campaign", "wa-sms", "--csv", filepath.Join("..", "..", "testdata", "fallback.csv"),
		"--channels", "WHATSAPP,SMS", "--text", "Hi {{.first_name}}")
	if sum.Enqueued != 3 || sum.Rejected != 1 {
		t.Fatalf("got %+v, want 3 enqueued (no messenger column needed) and the bad number rejected", sum)
	}
	if c := s.runWorker("wa-sms", 30*time.Second, "--rate", "200", "--track-interval", "0"); c.Sent != 3 {
		t.Fatalf("sent %d, want 3", c.Sent)
	}
	var oc campaign.OutcomeCounts
	if !testwait.Until(30*time.Second, func() bool {
		oc, err = store.Outcomes(context.Background(), "wa-sms")
		return err == nil && oc.Delivered == 3 && oc.ChannelSwitches == 1
	}) {
		t.Fatalf("outcomes: got %+v (%v), want 3 delivered and 1 switch", oc, err)
	}
	if got := oc.DeliveredByChannel; got[sinch.ChannelWhatsApp] != 2 || got[sinch.ChannelSMS] != 1 || len(got) != 2 {
		t.Errorf("delivered by channel: got %v, want WHATSAPP 2 (FR, GB) and SMS 1 (the US number)", got)
	}
	if text := s.mustOps("status", "wa-sms"); !strings.Contains(text, "delivered on SMS 1, WHATSAPP 2; 1 channel switches") {
		t.Errorf("status:\n%s", text)
	}
}

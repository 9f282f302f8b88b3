package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
)

const secret = "whsec-test-value-never-logged"

// sign is an independent implementation of Sinch's signature (it does not
// call sinch.SignWebhook), so a bug shared by the simulator and the
// receiver cannot make the tests pass.
func sign(key string, body []byte, nonce, ts string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(string(body) + "." + nonce + "." + ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// callback is one signed request, as the simulator sent it or as a test
// built it.
type callback struct {
	header http.Header
	body   []byte
}

func signed(key string, body []byte, nonce string, at time.Time) callback {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set("X-Sinch-Webhook-Signature", sign(key, body, nonce, ts))
	h.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
	h.Set("X-Sinch-Webhook-Signature-Nonce", nonce)
	h.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA256")
	h.Set("Content-Type", "application/json")
	return callback{header: h, body: body}
}

// env is a campaign with two sent recipients in Redis, a webhook handler
// on it, and the simulator's real signed receipts for both messages
// (captured, not yet delivered to the handler).
type env struct {
	t        *testing.T
	store    *campaign.Store
	metrics  *metrics.Metrics
	handler  *webhook.Handler
	id       string
	okKey    string                // its message is DELIVERED
	failKey  string                // its message FAILED
	receipts map[string][]callback // recipient key → QUEUED_ON_CHANNEL, then the final receipt
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	r := redistest.New(t)
	e := &env{t: t, store: campaign.NewStore(r.Client), metrics: metrics.New(), id: "spring", receipts: map[string][]callback{}}
	h, err := webhook.New(webhook.Config{Secret: secret, Store: e.store, Redis: r.Client, Observer: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.handler = h

	// The simulator signs every callback to a capturing receiver.
	got := make(chan callback, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- callback{header: r.Header.Clone(), body: b}
	}))
	t.Cleanup(rcv.Close)
	_, url := sinchsimtest.Serve(t, sinchsim.Config{WebhookSecret: secret, CallbackURL: rcv.URL, FailSuffix: "99",
		ProcessingMode: sinchsim.ModeDispatch})
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}

	if _, _, err := e.store.Create(ctx, campaign.Definition{ID: e.id, Priority: campaign.PriorityNormal, Channel: sinch.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"+33612345601", "+33612345699"}
	var regs []campaign.Registration
	for i, id := range ids {
		regs = append(regs, campaign.Registration{Key: campaign.RecipientKey(sinch.ChannelSMS, id),
			Record: campaign.Record{Row: i + 2, Channel: sinch.ChannelSMS, Identity: id}})
	}
	if _, err := e.store.Register(ctx, e.id, "run", regs); err != nil {
		t.Fatal(err)
	}
	e.okKey, e.failKey = regs[0].Key, regs[1].Key
	byMsg := map[string]string{}
	for _, rg := range regs {
		resp, err := client.SendMessage(ctx, &sinch.SendMessageRequest{
			AppID: sinchsim.DefaultAppID,
			Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
				ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: rg.Record.Identity}}}},
			Message:            sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}},
			MessageMetadata:    e.id,
			CorrelationID:      campaign.CorrelationID(e.id, rg.Record.Row),
			ProcessingStrategy: sinch.ProcessingDispatchOnly,
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := rg.Record
		rec.MessageID, rec.AcceptedTime = resp.MessageID, resp.AcceptedTime
		if _, err := e.store.MarkSent(ctx, e.id, rg.Key, rec); err != nil {
			t.Fatal(err)
		}
		byMsg[resp.MessageID] = rg.Key
	}
	// Two receipts per message.
	for n := 0; n < 2*len(regs); {
		var cb callback
		select {
		case cb = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the simulator sent no callback within 10s")
		}
		var r sinch.DeliveryReceipt
		if err := json.Unmarshal(cb.body, &r); err != nil {
			t.Fatalf("callback is not JSON: %s", cb.body)
		}
		if r.MessageDeliveryReport == nil {
			continue
		}
		rk := byMsg[r.MessageDeliveryReport.MessageID]
		e.receipts[rk] = append(e.receipts[rk], cb)
		n++
	}
	return e
}

// post delivers cb to h and returns the status code.
func post(t *testing.T, h http.Handler, cb callback) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(cb.body))
	req.Header = cb.header.Clone()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func (e *env) outcome(rk string) campaign.RecipientOutcome {
	e.t.Helper()
	got, err := e.store.OutcomesOf(context.Background(), e.id, []string{rk})
	if err != nil {
		e.t.Fatal(err)
	}
	return got[0]
}

func (e *env) assertNothingRecorded() {
	e.t.Helper()
	c, err := e.store.Outcomes(context.Background(), e.id)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.Total() != 0 {
		e.t.Fatalf("outcomes recorded: %+v", c)
	}
}

func TestSimulatorReceiptsAreRecordedWithPrecedence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok, fail := e.receipts[e.okKey], e.receipts[e.failKey]
	// Final receipts first, then the late QUEUED_ON_CHANNEL ones: an
	// outcome never goes backwards.
	for _, cb := range []callback{ok[1], fail[1], ok[0], fail[0]} {
		if code := post(t, e.handler, cb); code != http.StatusOK {
			t.Fatalf("got %d for a receipt the simulator signed, want 200", code)
		}
	}
	if got := e.outcome(e.okKey).String(); got != "delivered" {
		t.Errorf("delivered recipient: got outcome %q", got)
	}
	if got := e.outcome(e.failKey).String(); got != "failed:RECIPIENT_NOT_REACHABLE" {
		t.Errorf("failed recipient: got outcome %q, want failed with the simulator's reason", got)
	}
	if got := e.outcome(e.okKey).Channel; got != sinch.ChannelSMS {
		t.Errorf("delivered recipient: got channel %q, want the receipt's SMS", got)
	}
	if got := e.outcome(e.failKey).Channel; got != "" {
		t.Errorf("failed recipient: got channel %q, want none (nothing delivered)", got)
	}
	c, _ := e.store.Outcomes(context.Background(), e.id)
	if c.Delivered != 1 || c.Failed != 1 || c.FailedByReason["RECIPIENT_NOT_REACHABLE"] != 1 || c.Total() != 2 ||
		len(c.DeliveredByChannel) != 1 || c.DeliveredByChannel[sinch.ChannelSMS] != 1 {
		t.Errorf("got counts %+v", c)
	}
	if n := e.count("sinch_dispatch_webhook_receipts_total", "status=DELIVERED", "result="+metrics.ReceiptRecorded); n != 1 {
		t.Errorf("delivered receipts recorded metric: got %v, want 1", n)
	}
	if n := e.count("sinch_dispatch_webhook_receipts_total", "status=QUEUED_ON_CHANNEL", "result="+metrics.ReceiptUnchanged); n != 2 {
		t.Errorf("late queued receipts: got %v unchanged, want 2", n)
	}
}

// count reads a counter of the handler's metrics; labels are name=value.
func (e *env) count(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.metrics.Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	return metrics.Sum(mfs, name, labels...)
}

func TestRefusedCallbacksRecordNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	real := e.receipts[e.okKey][1] // the simulator's signed DELIVERED
	now := time.Now()
	body := real.body
	with := func(mod func(h http.Header)) callback {
		h := real.header.Clone()
		mod(h)
		return callback{header: h, body: body}
	}
	tampered := bytes.Replace(body, []byte(`"DELIVERED"`), []byte(`"READ"`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("test setup: the receipt has no DELIVERED status to tamper with")
	}
	tests := []struct {
		name   string
		cb     callback
		code   int
		reason string
	}{
		{"tampered body", callback{header: real.header, body: tampered}, 401, metrics.RejectSignature},
		{"one trailing byte", callback{header: real.header, body: append(bytes.Clone(body), '\n')}, 401, metrics.RejectSignature},
		{"wrong secret", signed("another-secret", body, "n-wrong", now), 401, metrics.RejectSignature},
		{"stale timestamp", signed(secret, body, "n-stale", now.Add(-6*time.Minute)), 401, metrics.RejectStale},
		{"timestamp from the future", signed(secret, body, "n-future", now.Add(6*time.Minute)), 401, metrics.RejectStale},
		{"timestamp not a number", with(func(h http.Header) { h.Set("X-Sinch-Webhook-Signature-Timestamp", "yesterday") }), 401, metrics.RejectHeaders},
		{"nonce swapped", with(func(h http.Header) { h.Set("X-Sinch-Webhook-Signature-Nonce", "other-nonce") }), 401, metrics.RejectSignature},
		{"no signature", with(func(h http.Header) { h.Del("X-Sinch-Webhook-Signature") }), 401, metrics.RejectHeaders},
		{"no timestamp", with(func(h http.Header) { h.Del("X-Sinch-Webhook-Signature-Timestamp") }), 401, metrics.RejectHeaders},
		{"no nonce", with(func(h http.Header) { h.Del("X-Sinch-Webhook-Signature-Nonce") }), 401, metrics.RejectHeaders},
		{"no algorithm", with(func(h http.Header) { h.Del("X-Sinch-Webhook-Signature-Algorithm") }), 401, metrics.RejectHeaders},
		{"wrong algorithm", with(func(h http.Header) { h.Set("X-Sinch-Webhook-Signature-Algorithm", "HmacSHA1") }), 401, metrics.RejectAlgorithm},
		{"huge nonce", signed(secret, body, strings.Repeat("n", 300), now), 401, metrics.RejectHeaders},
		{"too large", signed(secret, append(bytes.Clone(body), bytes.Repeat([]byte(" "), webhook.DefaultMaxBody)...), "n-big", now), 413, metrics.RejectTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.count("sinch_dispatch_webhook_rejected_total", "reason="+tc.reason)
			if code := post(t, e.handler, tc.cb); code != tc.code {
				t.Fatalf("got %d, want %d", code, tc.code)
			}
			if got := e.count("sinch_dispatch_webhook_rejected_total", "reason="+tc.reason); got != before+1 {
				t.Errorf("rejected{reason=%s}: got %v, want %v", tc.reason, got, before+1)
			}
			e.assertNothingRecorded()
		})
	}
	// A GET is not a callback.
	req := httptest.NewRequest(http.MethodGet, webhook.Path, nil)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", w.Code)
	}
	e.assertNothingRecorded()

	// The genuine callback still works once; its replay is refused.
	if code := post(t, e.handler, real); code != 200 {
		t.Fatalf("genuine receipt: got %d", code)
	}
	if got := e.outcome(e.okKey).String(); got != "delivered" {
		t.Fatalf("got %q", got)
	}
	if code := post(t, e.handler, real); code != 401 {
		t.Fatalf("replayed receipt: got %d, want 401", code)
	}
	if got := e.count("sinch_dispatch_webhook_rejected_total", "reason="+metrics.RejectReplay); got != 1 {
		t.Errorf("replays counted: %v", got)
	}
}

func TestReplayedNonceIsRefusedBeforeAnythingIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A QUEUED receipt is accepted; a different (stronger) body signed with
	// the same nonce is a replay and must not record its DELIVERED.
	queued := e.receipts[e.okKey][0]
	if code := post(t, e.handler, queued); code != 200 {
		t.Fatalf("got %d", code)
	}
	delivered := e.receipts[e.okKey][1].body
	replay := signed(secret, delivered, queued.header.Get("X-Sinch-Webhook-Signature-Nonce"), time.Now())
	if code := post(t, e.handler, replay); code != 401 {
		t.Fatalf("replayed nonce: got %d, want 401", code)
	}
	if got := e.outcome(e.okKey).String(); got != "queued_on_channel" {
		t.Fatalf("got outcome %q, want queued_on_channel only", got)
	}
}

func TestUnknownMessagesAndOtherEventsAreAcknowledgedAndCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fixture, err := os.ReadFile("testdata/MessageDeliveryReceiptEventDto.json")
	if err != nil {
		t.Fatal(err)
	}
	// Sinch's own sample: a message no campaign sent.
	if code := post(t, e.handler, signed(secret, fixture, "n-fixture", time.Now())); code != 200 {
		t.Fatalf("unknown message: got %d, want 200", code)
	}
	if got := e.count("sinch_dispatch_webhook_receipts_total", "status=DELIVERED", "result="+metrics.ReceiptUnknown); got != 1 {
		t.Errorf("unknown receipts: got %v, want 1", got)
	}
	// The same message ID under our campaign's metadata: still unknown.
	var r map[string]any
	json.Unmarshal(fixture, &r)
	r["message_metadata"] = e.id
	b, _ := json.Marshal(r)
	if code := post(t, e.handler, signed(secret, b, "n-fixture-2", time.Now())); code != 200 {
		t.Fatalf("got %d", code)
	}
	// An inbound message (not a receipt) and a SWITCHING_CHANNEL receipt
	// are acknowledged and set no outcome; the switch is counted.
	inbound := []byte(`{"app_id":"a","project_id":"p","message":{"id":"m","direction":"TO_APP"}}`)
	if code := post(t, e.handler, signed(secret, inbound, "n-inbound", time.Now())); code != 200 {
		t.Fatalf("inbound: got %d", code)
	}
	var sw sinch.DeliveryReceipt
	json.Unmarshal(e.receipts[e.okKey][1].body, &sw)
	sw.MessageDeliveryReport.Status = sinch.StatusSwitchingChannel
	b, _ = json.Marshal(sw)
	if code := post(t, e.handler, signed(secret, b, "n-switch", time.Now())); code != 200 {
		t.Fatalf("switching: got %d", code)
	}
	if got := e.count("sinch_dispatch_webhook_receipts_total", "status=none", "result="+metrics.ReceiptIgnored); got != 1 {
		t.Errorf("ignored events: got %v, want 1", got)
	}
	if got := e.count("sinch_dispatch_webhook_receipts_total", "status=SWITCHING_CHANNEL", "result="+metrics.ReceiptRecorded); got != 1 {
		t.Errorf("switching receipts: got %v counted, want 1", got)
	}
	if c, _ := e.store.Outcomes(context.Background(), e.id); c.ChannelSwitches != 1 {
		t.Errorf("channel switches: got %d, want 1", c.ChannelSwitches)
	}
	// Signed but not JSON: 400, nothing recorded.
	if code := post(t, e.handler, signed(secret, []byte("not json"), "n-junk", time.Now())); code != 400 {
		t.Errorf("junk body: got %d, want 400", code)
	}
	e.assertNothingRecorded()
}

func TestNewRefusesMissingSettings(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	store := campaign.NewStore(r.Client)
	if _, err := webhook.New(webhook.Config{Store: store, Redis: r.Client}); !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("no secret: got %v", err)
	}
	if _, err := webhook.New(webhook.Config{Secret: secret, Redis: r.Client}); err == nil {
		t.Error("no store: accepted")
	}
	if _, err := webhook.New(webhook.Config{Secret: secret, Store: store, Redis: r.Client, Tolerance: -time.Second}); err == nil {
		t.Error("negative tolerance: accepted")
	}
	for _, err := range []error{
		func() error { _, err := webhook.New(webhook.Config{Store: store, Redis: r.Client}); return err }(),
	} {
		if strings.Contains(err.Error(), secret) {
			t.Error("an error quotes the secret")
		}
	}
}

func TestVerifyAgreesWithAnIndependentSigner(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"message_delivery_report":{"message_id":"m","status":"READ"}}`)
	cb := signed(secret, body, "abc", now)
	if _, err := webhook.Verify(secret, cb.header, body, now, time.Minute); err != nil {
		t.Fatalf("independently signed callback refused: %v", err)
	}
	// The simulator's Sign (the shared implementation) and the independent
	// one agree.
	if got, want := sinchsim.Sign(secret, body, "abc", "1800000000"), sign(secret, body, "abc", "1800000000"); got != want {
		t.Fatalf("sinchsim.Sign %q, independent %q", got, want)
	}
	// Tolerance is inclusive at both ends, exclusive one second beyond.
	for _, skew := range []time.Duration{-time.Minute, time.Minute} {
		if _, err := webhook.Verify(secret, cb.header, body, now.Add(skew), time.Minute); err != nil {
			t.Errorf("skew %s: %v", skew, err)
		}
	}
	for _, skew := range []time.Duration{-61 * time.Second, 61 * time.Second} {
		var ve *webhook.VerifyError
		if _, err := webhook.Verify(secret, cb.header, body, now.Add(skew), time.Minute); !errors.As(err, &ve) || ve.Reason != metrics.RejectStale {
			t.Errorf("skew %s: got %v, want a stale timestamp", skew, err)
		}
	}
	_, err := webhook.Verify(secret, cb.header, []byte("x"), now, time.Minute)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), cb.header.Get("X-Sinch-Webhook-Signature")) {
		t.Errorf("bad signature error: %v", err)
	}
}

// When Redis fails, Sinch is asked to retry (5xx) and its retry, same
// nonce, is accepted once Redis is back.
func TestRedisFailureAsksForARetryThatIsAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cb := e.receipts[e.okKey][1]
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	live := e.store.Redis()

	// The nonce cache is down: 503, nothing recorded.
	h, err := webhook.New(webhook.Config{Secret: secret, Store: e.store, Redis: dead})
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, h, cb); code != http.StatusServiceUnavailable {
		t.Fatalf("nonce cache down: got %d, want 503", code)
	}
	// The store is down after the nonce was taken: 500, and the nonce is
	// released.
	h, err = webhook.New(webhook.Config{Secret: secret, Store: campaign.NewStore(dead), Redis: live})
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, h, cb); code != http.StatusInternalServerError {
		t.Fatalf("store down: got %d, want 500", code)
	}
	e.assertNothingRecorded()
	// Sinch's retry of the same callback goes through.
	if code := post(t, e.handler, cb); code != http.StatusOK {
		t.Fatalf("retry: got %d, want 200", code)
	}
	if got := e.outcome(e.okKey).String(); got != "delivered" {
		t.Fatalf("got %q", got)
	}
}

// A receipt can overtake the worker recording the message ID Sinch just
// returned. For a campaign of ours and a message accepted moments ago, the
// webhook answers 503 with Retry-After and forgets the nonce, so Sinch's
// retry (the same callback) is recorded once the ID is known. An old
// receipt for an unknown message is still acknowledged as unknown.
func TestAnEarlyReceiptIsRetriedUntilTheSendIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rk := campaign.RecipientKey(sinch.ChannelSMS, "+33612345602")
	if _, err := e.store.Register(ctx, e.id, "run2", []campaign.Registration{{Key: rk,
		Record: campaign.Record{Row: 4, Channel: sinch.ChannelSMS, Identity: "+33612345602"}}}); err != nil {
		t.Fatal(err)
	}
	accepted := time.Now().UTC()
	body, _ := json.Marshal(sinch.DeliveryReceipt{AppID: "a", AcceptedTime: accepted, EventTime: accepted, MessageMetadata: e.id,
		MessageDeliveryReport: &sinch.MessageDeliveryReport{MessageID: "m-early", Status: sinch.StatusDelivered}})
	cb := signed(secret, body, "n-early", time.Now())

	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(cb.body))
	req.Header = cb.header.Clone()
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("early receipt: got %d (Retry-After %q), want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if got := e.count("sinch_dispatch_webhook_receipts_total", "status=DELIVERED", "result="+metrics.ReceiptEarly); got != 1 {
		t.Errorf("early receipts counted: got %v, want 1", got)
	}
	if _, err := e.store.MarkSent(ctx, e.id, rk, campaign.Record{Row: 4, Channel: sinch.ChannelSMS,
		Identity: "+33612345602", MessageID: "m-early", AcceptedTime: accepted}); err != nil {
		t.Fatal(err)
	}
	if code := post(t, e.handler, cb); code != http.StatusOK {
		t.Fatalf("the retried receipt (same nonce): got %d, want 200", code)
	}
	if got := e.outcome(rk); got.Outcome != campaign.OutcomeDelivered {
		t.Errorf("outcome after the retry: got %q, want delivered", got.Outcome)
	}

	old, _ := json.Marshal(sinch.DeliveryReceipt{AppID: "a", AcceptedTime: accepted.Add(-time.Hour), MessageMetadata: e.id,
		MessageDeliveryReport: &sinch.MessageDeliveryReport{MessageID: "m-never", Status: sinch.StatusDelivered}})
	if code := post(t, e.handler, signed(secret, old, "n-old", time.Now())); code != http.StatusOK {
		t.Errorf("an hour-old receipt for an unknown message: got %d, want 200 (acknowledged as unknown)", code)
	}
}

// Receipts to a message's own callback_url are signed with the app's
// secret for overridden callback URLs: the handler accepts either secret,
// and no other (an empty secret in particular signs nothing).
func TestOverrideSecretSignsReceiptsToOwnCallbackURL(t *testing.T) {
	const override = "whsec-override-test-value"
	r := redistest.New(t)
	store := campaign.NewStore(r.Client)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"app_id":"a","message_delivery_report":{"message_id":"nobody","status":"DELIVERED"}}`)
	tests := []struct {
		name     string
		override string // the handler's OverrideSecret
		signer   string
		want     int
	}{
		{"app secret", override, secret, http.StatusOK},
		{"override secret", override, override, http.StatusOK},
		{"override secret, handler without it", "", override, http.StatusUnauthorized},
		{"another secret", override, "whsec-other", http.StatusUnauthorized},
		{"empty key, handler without override", "", "", http.StatusUnauthorized},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := webhook.New(webhook.Config{Secret: secret, OverrideSecret: tt.override, Store: store, Redis: r.Client,
				Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if got := post(t, h, signed(tt.signer, body, "override-"+strconv.Itoa(i), now)); got != tt.want {
				t.Errorf("got status %d, want %d", got, tt.want)
			}
		})
	}
	_, err := webhook.VerifyAny([]string{secret, override}, signed("whsec-other", body, "n", now).header, body, now, time.Minute)
	if err == nil || strings.Contains(err.Error(), override) || !strings.Contains(err.Error(), "SINCH_WEBHOOK_OVERRIDE_SECRET") {
		t.Errorf("VerifyAny with a third signer: got %v, want an error naming both variables and quoting no secret", err)
	}
}

// The simulator signs receipts of a message sent with callback_url with
// its OverrideCallbackSecret, and the handler with that OverrideSecret
// records them.
func TestSimulatorOverrideSignedReceiptRecorded(t *testing.T) {
	const override = "whsec-override-sim"
	ctx := context.Background()
	r := redistest.New(t)
	store := campaign.NewStore(r.Client)
	h, err := webhook.New(webhook.Config{Secret: secret, OverrideSecret: override, Store: store, Redis: r.Client})
	if err != nil {
		t.Fatal(err)
	}
	// Receipts wait until the message ID is recorded, as the worker records
	// it before Sinch's receipts (seconds later) arrive.
	recorded := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-recorded:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(rcv.Close)
	sim, url := sinchsimtest.Serve(t, sinchsim.Config{WebhookSecret: secret, OverrideCallbackSecret: override,
		ProcessingMode: sinchsim.ModeDispatch})
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	const id = "override"
	if _, _, err := store.Create(ctx, campaign.Definition{ID: id, Priority: campaign.PriorityNormal, Channel: sinch.ChannelSMS}); err != nil {
		t.Fatal(err)
	}
	rg := campaign.Registration{Key: campaign.RecipientKey(sinch.ChannelSMS, "+33612345601"),
		Record: campaign.Record{Row: 2, Channel: sinch.ChannelSMS, Identity: "+33612345601"}}
	if _, err := store.Register(ctx, id, "run", []campaign.Registration{rg}); err != nil {
		t.Fatal(err)
	}
	resp, err := client.SendMessage(ctx, &sinch.SendMessageRequest{
		AppID: sinchsim.DefaultAppID,
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: rg.Record.Identity}}}},
		Message:            sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}},
		MessageMetadata:    id,
		ProcessingStrategy: sinch.ProcessingDispatchOnly,
		CallbackURL:        rcv.URL + webhook.Path,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := rg.Record
	rec.MessageID, rec.AcceptedTime = resp.MessageID, resp.AcceptedTime
	if _, err := store.MarkSent(ctx, id, rg.Key, rec); err != nil {
		t.Fatal(err)
	}
	close(recorded)
	testwait.For(t, 10*time.Second, "2 receipts posted", func() bool {
		st := sim.Stats()
		return st.CallbacksSent+st.CallbacksFailed >= 2
	})
	if st := sim.Stats(); st.CallbacksSent != 2 || st.CallbacksFailed != 0 {
		t.Fatalf("got %d receipts accepted and %d refused, want 2 and 0", st.CallbacksSent, st.CallbacksFailed)
	}
	got, err := store.OutcomesOf(ctx, id, []string{rg.Key})
	if err != nil || got[0].String() != "delivered" {
		t.Fatalf("got outcome %v (err %v), want delivered", got, err)
	}
}

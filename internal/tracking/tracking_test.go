package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/ratelimit"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim/sinchsimtest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

type env struct {
	store   *campaign.Store
	sim     *sinchsim.Server
	client  *sinch.Client
	tracker *Tracker
	limiter *ratelimit.Limiter
}

func newEnv(t *testing.T, cfg sinchsim.Config) *env {
	t.Helper()
	r := redistest.New(t)
	cfg.ProcessingMode = sinchsim.ModeDispatch
	sim, url := sinchsimtest.Serve(t, cfg)
	client, err := sinch.New(sinchsim.ClientConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(r.Client, ratelimit.Config{Key: "t", Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	store := campaign.NewStore(r.Client)
	tr, err := New(client, store, sinchcall.One(lim), Config{AppID: sinchsim.DefaultAppID})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: store, sim: sim, client: client, tracker: tr, limiter: lim}
}

// send registers a recipient of campaign id, sends it through the
// simulator and records it as sent, as the worker does.
func (e *env) send(t *testing.T, ctx context.Context, id, identity string, row int) (string, campaign.Record) {
	t.Helper()
	rk := campaign.RecipientKey(sinch.ChannelSMS, identity)
	rec := campaign.Record{Row: row, Channel: sinch.ChannelSMS, Identity: identity}
	if _, err := e.store.Register(ctx, id, "run", []campaign.Registration{{Key: rk, Record: rec}}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.SendMessage(ctx, &sinch.SendMessageRequest{
		AppID: sinchsim.DefaultAppID,
		Recipient: sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
			ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: identity}}}},
		Message:            sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}},
		MessageMetadata:    id,
		ProcessingStrategy: sinch.ProcessingDispatchOnly,
		CorrelationID:      campaign.CorrelationID(id, row),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.MessageID, rec.AcceptedTime = resp.MessageID, resp.AcceptedTime
	if _, err := e.store.MarkSent(ctx, id, rk, rec); err != nil {
		t.Fatal(err)
	}
	return rk, rec
}

func TestTrackRecordsWhatListingTells(t *testing.T) {
	t.Parallel()
	// Identities ending in 1 reply STOP-ish text… the simulator has one
	// ReplyText, so replies here say "Arrêt." (a stop keyword once folded),
	// and identities ending in 3 are unreachable (a FAILED delivery).
	tests := []struct {
		name    string
		persist bool
		// Outcomes of the unreachable and the reachable recipient. Without
		// persisted message status listing only knows they are stored;
		// receipts tell the rest.
		wantFailed, wantDelivered string
	}{
		{"message status not persisted (Sinch's default)", false, "stored", "stored"},
		{"message status persisted", true, "failed:RECIPIENT_NOT_REACHABLE", "delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sinchsim.Config{ReplySuffix: "1", ReplyText: "Arrêt.", FailSuffix: "3",
				PersistMessageStatus: tt.persist})
			ctx := context.Background()
			e.store.Create(ctx, campaign.Definition{ID: "c", Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal})
			e.store.Create(ctx, campaign.Definition{ID: "other", Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal})
			optedOut, _ := e.send(t, ctx, "c", "+33612340001", 2)
			failed, _ := e.send(t, ctx, "c", "+33612340003", 3)
			delivered, _ := e.send(t, ctx, "c", "+33612340004", 4)
			e.send(t, ctx, "other", "+33612340005", 2) // another campaign's message: not ours

			rep, err := e.tracker.Track(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			// 4 app messages + 1 reply; a failed delivery adds no message.
			if rep.Pages != 1 || rep.Messages != 5 || rep.Matched != 4 || rep.StatusFromListing != tt.persist {
				t.Fatalf("got report %+v, want 1 page, 5 messages, 4 of ours, status from listing %v", rep, tt.persist)
			}
			want := map[string]string{optedOut: "opted_out", failed: tt.wantFailed, delivered: tt.wantDelivered}
			for rk, w := range want {
				got, _ := e.store.OutcomesOf(ctx, "c", []string{rk})
				if got[0].String() != w {
					t.Errorf("recipient %s: got outcome %q, want %q", rk[:6], got[0], w)
				}
			}
			// The listed channel is the delivery channel: of the delivered
			// message where status is persisted, of the STOP reply always.
			oc, _ := e.store.Outcomes(ctx, "c")
			wantOn := int64(1)
			if tt.persist {
				wantOn = 2
			}
			if got := oc.DeliveredByChannel; got[sinch.ChannelSMS] != wantOn || len(got) != 1 {
				t.Errorf("delivered by channel: got %v, want SMS %d", got, wantOn)
			}
			if rep.SuppressedAdded != 1 {
				t.Fatalf("got %d suppressed, want 1", rep.SuppressedAdded)
			}
			sup, _ := e.store.Suppressed(ctx, []sinch.Channel{sinch.ChannelSMS}, []string{"+33612340001"})
			if !sup[0] {
				t.Fatal("the opted-out identity is not on the suppression list")
			}
			// A second pass changes nothing.
			again, err := e.tracker.Track(ctx, "c")
			if err != nil || again.ChangedTotal() != 0 || again.SuppressedAdded != 0 {
				t.Fatalf("second pass: got %+v (err %v), want no change", again, err)
			}
			ti, _ := e.store.TrackInfo(ctx, "c")
			if ti.At.IsZero() || ti.Pages != 1 || ti.Warning != "" {
				t.Fatalf("got track info %+v, want the last pass recorded", ti)
			}
		})
	}
}

// message_status is believed only for an app that persists it, and a
// fallback_message (an inbound message the channel could not map) is a
// reply, not a failed delivery.
func TestOutcomeOfListedMessage(t *testing.T) {
	t.Parallel()
	tr := &Tracker{stop: map[string]bool{"STOP": true}}
	status := func(raw string) *sinch.MessageStatus {
		var ms sinch.MessageStatus
		_ = ms.UnmarshalJSON([]byte(raw))
		return &ms
	}
	app := func(ms *sinch.MessageStatus) *sinch.ConversationMessage {
		return &sinch.ConversationMessage{Direction: sinch.DirectionToContact,
			AppMessage: &sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: "hi"}}, MessageStatus: ms}
	}
	failedStatus := status(`{"status":"FAILED","event_time":"2024-02-22T07:40:46Z","reason":"RECIPIENT_NOT_REACHABLE"}`)
	fallback := &sinch.ConversationMessage{Direction: sinch.DirectionToApp, ContactMessage: &sinch.ContactMessage{
		FallbackMessage: &sinch.FallbackMessage{Reason: &sinch.Reason{Code: sinch.ReasonRecipientNotOptedIn}},
		ReplyTo:         &sinch.ReplyTo{MessageID: "m1"}}}
	tests := []struct {
		name    string
		msg     *sinch.ConversationMessage
		persist bool
		want    string
	}{
		{"no status", app(nil), true, "stored"},
		{"FAILED, persisted", app(failedStatus), true, "failed:RECIPIENT_NOT_REACHABLE"},
		{"FAILED, not persisted", app(failedStatus), false, "stored"},
		{"READ, persisted", app(status(`{"status":"READ","event_time":"2024-02-22T07:40:46Z"}`)), true, "read"},
		{"READ, not persisted", app(status(`{"status":"READ"}`)), false, "stored"},
		{"fallback_message", fallback, false, "replied"},
		{"fallback_message, persisted", fallback, true, "replied"},
	}
	for _, tt := range tests {
		u, ok := tr.outcomeOf(tt.msg, tt.persist)
		got := campaign.RecipientOutcome{Outcome: u.Outcome, Reason: u.Reason}.String()
		if !ok || got != tt.want {
			t.Errorf("%s: got %q (ok %v), want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestContactMessagesWithoutReplyToMatchByIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sinchsim.Config{})
	ctx := context.Background()
	e.store.Create(ctx, campaign.Definition{ID: "c", Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal})
	rkA, recA := e.send(t, ctx, "c", "+33612340001", 2)
	rkB, recB := e.send(t, ctx, "c", "+33612340002", 3)
	rkC, recC := e.send(t, ctx, "c", "+33612340003", 4)
	text := func(s string) *sinch.ContactMessage {
		return &sinch.ContactMessage{TextMessage: &sinch.TextMessage{Text: s}}
	}
	msgs := []sinch.ConversationMessage{
		// Sinch lists MSISDNs without "+": still matched.
		{ID: "in1", Direction: sinch.DirectionToApp, ContactMessage: text("Merci !"),
			ChannelIdentity: &sinch.ChannelIdentity{Channel: sinch.ChannelSMS, Identity: "33612340001"}, AcceptTime: recA.AcceptedTime.Add(time.Minute)},
		{ID: "in2", Direction: sinch.DirectionToApp, ContactMessage: text("stop please"),
			ChannelIdentity: &sinch.ChannelIdentity{Channel: sinch.ChannelSMS, Identity: "+33612340002"}, AcceptTime: recB.AcceptedTime.Add(time.Minute)},
		// Before our message: not a reply to it.
		{ID: "in3", Direction: sinch.DirectionToApp, ContactMessage: text("hello"),
			ChannelIdentity: &sinch.ChannelIdentity{Channel: sinch.ChannelSMS, Identity: "+33612340003"}, AcceptTime: recC.AcceptedTime.Add(-time.Hour)},
		// Unknown identity.
		{ID: "in4", Direction: sinch.DirectionToApp, ContactMessage: text("STOP"),
			ChannelIdentity: &sinch.ChannelIdentity{Channel: sinch.ChannelSMS, Identity: "+33699999999"}, AcceptTime: time.Now()},
	}
	rep := Report{Changed: map[campaign.Outcome]int64{}}
	if err := e.tracker.reconcile(ctx, "c", msgs, false, &rep); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.OutcomesOf(ctx, "c", []string{rkA, rkB, rkC})
	if got[0].Outcome != campaign.OutcomeReplied || got[1].Outcome != campaign.OutcomeOptedOut || got[2].Outcome != "" {
		t.Fatalf("got outcomes %v, want replied, opted_out, none", got)
	}
	if rep.Matched != 2 || rep.SuppressedAdded != 1 {
		t.Fatalf("got %+v, want 2 matched, 1 suppressed", rep)
	}
}

func TestStopKeywords(t *testing.T) {
	t.Parallel()
	tr := &Tracker{stop: map[string]bool{}}
	for _, k := range DefaultStopKeywords {
		tr.stop[foldWord(k)] = true
	}
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"STOP", true}, {"stop", true}, {" Stop. ", true}, {"STOP please", true}, {"stop all", true},
		{"Arrêt", true}, {"ARRET!", true}, {"unsubscribe", true}, {"QUIT", true},
		{"don't stop", false}, {"stop sending me these", false}, {"STOPPED", false}, {"", false},
		{"Thanks", false}, {"the end", false},
	} {
		if got := tr.isStop(tc.text); got != tc.want {
			t.Errorf("isStop(%q): got %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestRetentionZeroIsAnErrorNotSilence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sinchsim.Config{DispatchRetentionDays: sinchsim.RetentionNone})
	ctx := context.Background()
	e.store.Create(ctx, campaign.Definition{ID: "c", Channel: sinch.ChannelSMS, Priority: campaign.PriorityNormal})
	e.send(t, ctx, "c", "+33612340001", 2)
	_, err := e.tracker.Track(ctx, "c")
	var re *RetentionError
	if !errors.Is(err, ErrNoRetention) || !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RetentionError", err)
	}
	for _, want := range []string{"stores nothing", "ttl_days", "dispatch_retention_policy", "PATCH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	ti, _ := e.store.TrackInfo(ctx, "c")
	if !strings.Contains(ti.Warning, "stores nothing") {
		t.Fatalf("got track warning %q, want it recorded for status", ti.Warning)
	}
	if _, err := e.tracker.Track(ctx, "nope"); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("unknown campaign: got %v, want ErrNotFound", err)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(Report{CampaignID: "c", Changed: map[campaign.Outcome]int64{campaign.OutcomeDelivered: 2}})
	if !strings.Contains(string(b), `"changed":{"delivered":2}`) {
		t.Fatalf("got %s", b)
	}
}

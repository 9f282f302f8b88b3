package sinch_test

// Contract tests: the real client against the real simulator (sinchsim)
// over HTTP, proving the two agree on the Conversation API contract: OAuth2
// and Basic auth, request validation, the error envelope, pagination,
// retention, replies, delivery receipts and how failures are classified.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

const (
	simProject = "contract-project"
	simApp     = "contract-app"
	simKeyID   = "contract-key"
	simSecret  = "contract-secret-7Qz9"

	simPhone       = "+46701230001" // an ordinary recipient
	simReplyPhone  = "+46701230777" // matches simReplySuffix
	simFailPhone   = "+46701230666" // matches simFailSuffix
	simRejectPhone = "+46701230000" // matches simRejectSuffix

	simReplySuffix  = "777"
	simFailSuffix   = "666"
	simRejectSuffix = "000"

	simSendPath = "v1/projects/" + simProject + "/messages:send"
	simListPath = "v1/projects/" + simProject + "/messages"

	badRequestType = "type.googleapis.com/google.rpc.BadRequest"
)

// simEnv is a simulator behind a real HTTP server.
type simEnv struct {
	sim   *sinchsim.Server
	url   string
	clock *simClock
}

// simClock is the simulator's clock: real time plus an offset the test can
// move, or a frozen instant, to place messages in time or refill the rate
// limiter without sleeping.
type simClock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time // zero: not frozen
}

func (c *simClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

// advance moves the clock, frozen or not, by d.
func (c *simClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		c.frozen = c.frozen.Add(d)
	}
	c.offset += d
}

// freeze stops the clock at t.
func (c *simClock) freeze(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = t
}

// newSimEnv starts a simulator for the contract project. Unless cfg says
// otherwise it has no rate limit, so tests are not throttled by accident.
func newSimEnv(t *testing.T, cfg sinchsim.Config) *simEnv {
	t.Helper()
	cfg.ProjectID = cmp.Or(cfg.ProjectID, simProject)
	cfg.AppID = cmp.Or(cfg.AppID, simApp)
	cfg.KeyID = cmp.Or(cfg.KeyID, simKeyID)
	cfg.KeySecret = cmp.Or(cfg.KeySecret, simSecret)
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	clock := &simClock{}
	if cfg.Clock == nil {
		cfg.Clock = clock.now
	}
	sim, err := sinchsim.New(cfg)
	if err != nil {
		t.Fatalf("sinchsim.New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &simEnv{sim: sim, url: srv.URL, clock: clock}
}

// client returns a client for the simulator with the right credentials,
// changed by mods.
func (e *simEnv) client(t *testing.T, mods ...func(*sinch.Config)) *sinch.Client {
	t.Helper()
	cfg := sinch.Config{
		ProjectID: simProject,
		AppID:     simApp,
		KeyID:     simKeyID,
		KeySecret: simSecret,
		BaseURL:   e.url,
		TokenURL:  e.url + "/oauth2/token",
		Timeout:   5 * time.Second,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := sinch.New(cfg)
	if err != nil {
		t.Fatalf("sinch.New: %v", err)
	}
	return c
}

func withAuth(a sinch.AuthMode) func(*sinch.Config) {
	return func(c *sinch.Config) { c.Auth = a }
}

func simCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func simRecipient(identity string) sinch.Recipient {
	return sinch.Recipient{IdentifiedBy: &sinch.IdentifiedBy{
		ChannelIdentities: []sinch.ChannelIdentity{{Channel: sinch.ChannelSMS, Identity: identity}},
	}}
}

// simText is a DISPATCH_ONLY text message; AppID is left for the client to fill.
func simText(identity, text string) *sinch.SendMessageRequest {
	return &sinch.SendMessageRequest{
		Recipient:          simRecipient(identity),
		Message:            sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: text}},
		ProcessingStrategy: sinch.ProcessingDispatchOnly,
	}
}

func mustSend(t *testing.T, ctx context.Context, c *sinch.Client, req *sinch.SendMessageRequest) *sinch.SendMessageResponse {
	t.Helper()
	resp, err := c.SendMessage(ctx, req)
	if err != nil {
		t.Fatalf("SendMessage: got error %v, want none", err)
	}
	if resp.MessageID == "" || resp.AcceptedTime.IsZero() {
		t.Fatalf("SendMessage: got %+v, want a message_id and an accepted_time", resp)
	}
	return resp
}

// listAll walks every page of params.
func listAll(t *testing.T, ctx context.Context, c *sinch.Client, params sinch.ListMessagesParams) []sinch.ConversationMessage {
	t.Helper()
	var out []sinch.ConversationMessage
	for m, err := range c.Messages(ctx, params) {
		if err != nil {
			t.Fatalf("Messages(%+v): got error %v, want none", params, err)
		}
		out = append(out, *m)
	}
	return out
}

// wantAPIError checks that err is an *APIError with the given HTTP and
// google.rpc status, and returns it.
func wantAPIError(t *testing.T, err error, status int, rpcStatus string) *sinch.APIError {
	t.Helper()
	var ae *sinch.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v (%T), want *sinch.APIError", err, err)
	}
	if ae.StatusCode != status || ae.Code != status || ae.Status != rpcStatus {
		t.Errorf("got StatusCode %d, Code %d, Status %q, want %d, %d, %q (%v)",
			ae.StatusCode, ae.Code, ae.Status, status, status, rpcStatus, err)
	}
	return ae
}

// wantInvalidArgument checks the sim's 400 envelope for field as the client
// parses it: INVALID_ARGUMENT, a message naming the field and a
// google.rpc.BadRequest detail.
func wantInvalidArgument(t *testing.T, err error, field string) {
	t.Helper()
	ae := wantAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT")
	if !strings.HasPrefix(ae.Message, field+": ") {
		t.Errorf("Message: got %q, want it to start with %q", ae.Message, field+": ")
	}
	if len(ae.Details) != 1 || ae.Details[0].TypeURL != badRequestType || ae.Details[0].Value == "" {
		t.Errorf("Details: got %+v, want one %s", ae.Details, badRequestType)
	}
	if got, want := classify(err), (classes{permanent: true}); got != want {
		t.Errorf("classes: got %+v, want %+v", got, want)
	}
}

// validationFields returns the Field of every *ValidationError in err.
func validationFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	for _, e := range unjoin(err) {
		var ve *sinch.ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("got error %v (%T), want only *sinch.ValidationError", e, e)
		}
		fields = append(fields, ve.Field)
	}
	return fields
}

// canonicalJSON decodes v's JSON into generic values, so two encodings of
// the same document compare equal.
func canonicalJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return out
}

func TestSimOAuth2TokenSharedAndRefreshed(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t)
	ctx := simCtx(t)

	// burst sends n messages at once and returns their IDs.
	burst := func(n int) []string {
		t.Helper()
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, err := c.SendMessage(ctx, simText(simPhone, fmt.Sprintf("hello %d", i)))
				if errs[i] = err; err == nil {
					ids[i] = resp.MessageID
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("send %d: got error %v, want none", i, err)
			}
		}
		return ids
	}
	wantStats := func(step string, tokens, unauthorized, accepted int64) {
		t.Helper()
		st := env.sim.Stats()
		if st.TokenRequests != tokens || st.ByStatus[http.StatusUnauthorized] != unauthorized || st.Accepted != accepted {
			t.Errorf("%s: got TokenRequests %d, 401s %d, Accepted %d, want %d, %d, %d",
				step, st.TokenRequests, st.ByStatus[http.StatusUnauthorized], st.Accepted, tokens, unauthorized, accepted)
		}
	}

	ids := burst(100)
	slices.Sort(ids)
	if n := len(slices.Compact(ids)); n != 100 {
		t.Errorf("distinct message IDs: got %d, want 100", n)
	}
	wantStats("100 concurrent sends", 1, 0, 100)

	// An expired token gets a 401; the client fetches one token and replays.
	env.sim.ExpireTokens()
	mustSend(t, ctx, c, simText(simPhone, "after expiry"))
	wantStats("send after ExpireTokens", 2, 1, 101)
	mustSend(t, ctx, c, simText(simPhone, "with the new token"))
	wantStats("next send", 2, 1, 102)

	// Many calls rejected at once for the same token still fetch only one.
	env.sim.ExpireTokens()
	burst(50)
	st := env.sim.Stats()
	if st.TokenRequests != 3 || st.Accepted != 152 {
		t.Errorf("50 concurrent sends after ExpireTokens: got TokenRequests %d, Accepted %d, want 3, 152",
			st.TokenRequests, st.Accepted)
	}
	if n := st.ByStatus[http.StatusUnauthorized]; n < 2 || n > 51 {
		t.Errorf("401s: got %d, want between 2 and 51", n)
	}
}

// The simulator's access tokens are JWTs, like Sinch's: the client
// replaces one at its exp claim, before the API would refuse it, so no
// send meets a 401.
func TestSimJWTRefreshedAtExp(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{TokenTTL: time.Minute})
	c := env.client(t)
	sinch.SetTokenClock(c, env.clock.now) // the client's clock is the simulator's
	ctx := simCtx(t)
	if err := c.Authenticate(ctx); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	steps := []struct {
		advance    time.Duration
		wantTokens int64
	}{
		{0, 1},
		{30 * time.Second, 1}, // before 75% of the minute: the token is kept
		{25 * time.Second, 2}, // 5 s before exp, within the margin: a new token first
		{70 * time.Second, 3}, // past the second token's exp
	}
	for i, s := range steps {
		env.clock.advance(s.advance)
		mustSend(t, ctx, c, simText(simPhone, fmt.Sprintf("step %d", i)))
		sinch.WaitTokenFetch(c)
		st := env.sim.Stats()
		if st.TokenRequests != s.wantTokens || st.ByStatus[http.StatusUnauthorized] != 0 {
			t.Errorf("step %d (+%s): got %d token requests and %d 401s, want %d and 0",
				i, s.advance, st.TokenRequests, st.ByStatus[http.StatusUnauthorized], s.wantTokens)
		}
	}
}

func TestSimRejectedCredentials(t *testing.T) {
	t.Parallel()
	const wrongSecret = "wrong-secret-Zx81-do-not-print"
	tests := []struct {
		name       string
		auth       sinch.AuthMode
		wantTokens int64
		check      func(t *testing.T, err error)
	}{
		{"oauth2: token endpoint refuses the key", sinch.AuthOAuth2, 1, func(t *testing.T, err error) {
			var te *sinch.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("got %v (%T), want *sinch.TokenError", err, err)
			}
			if te.StatusCode != http.StatusUnauthorized || te.Code != "invalid_client" {
				t.Errorf("got StatusCode %d, Code %q, want 401, invalid_client", te.StatusCode, te.Code)
			}
		}},
		{"basic: API refuses the key", sinch.AuthBasic, 0, func(t *testing.T, err error) {
			wantAPIError(t, err, http.StatusUnauthorized, "UNAUTHENTICATED")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, sinchsim.Config{})
			c := env.client(t, withAuth(tt.auth), func(c *sinch.Config) { c.KeySecret = wrongSecret })
			_, err := c.SendMessage(simCtx(t), simText(simPhone, "hi"))
			if err == nil {
				t.Fatal("SendMessage with a wrong secret: got no error")
			}
			tt.check(t, err)
			if got, want := classify(err), (classes{permanent: true, unauthorized: true}); got != want {
				t.Errorf("classes: got %+v, want %+v", got, want)
			}
			forms := []string{wrongSecret, base64.StdEncoding.EncodeToString([]byte(simKeyID + ":" + wrongSecret))}
			for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, secret := range forms {
					if strings.Contains(text, secret) {
						t.Errorf("error text %q contains the secret (%q)", text, secret)
					}
				}
			}
			st := env.sim.Stats()
			if st.TokenRequests != tt.wantTokens || st.Accepted != 0 {
				t.Errorf("got TokenRequests %d, Accepted %d, want %d, 0", st.TokenRequests, st.Accepted, tt.wantTokens)
			}
		})
	}
}

func TestSimBasicAuth(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t, withAuth(sinch.AuthBasic))
	ctx := simCtx(t)

	resp := mustSend(t, ctx, c, simText(simPhone, "basic"))
	if _, err := c.GetApp(ctx); err != nil {
		t.Errorf("GetApp: got error %v, want none", err)
	}
	page, err := c.ListMessages(ctx, sinch.ListMessagesParams{MessagesSource: sinch.SourceDispatch})
	if err != nil {
		t.Fatalf("ListMessages: got error %v, want none", err)
	}
	if len(page.Messages) != 1 || page.Messages[0].ID != resp.MessageID {
		t.Errorf("ListMessages: got %d messages, want the one sent (%s)", len(page.Messages), resp.MessageID)
	}
	st := env.sim.Stats()
	if st.TokenRequests != 0 || st.Requests != 3 || st.ByStatus[http.StatusOK] != 3 {
		t.Errorf("got TokenRequests %d, Requests %d, 200s %d, want 0, 3, 3", st.TokenRequests, st.Requests, st.ByStatus[http.StatusOK])
	}
}

func TestSimSendEveryMessageKind(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t)
	ctx := simCtx(t)

	location := &sinch.LocationMessage{Coordinates: sinch.Coordinates{Latitude: 55.6761, Longitude: 12.5683}, Title: "Store", Label: "Main street 1"}
	tests := []struct {
		name string
		kind string
		msg  sinch.AppMessage
	}{
		{"text with agent", "text_message", sinch.AppMessage{
			TextMessage: &sinch.TextMessage{Text: "Your code is 123456 ✓"},
			Agent:       &sinch.Agent{DisplayName: "Support", Type: sinch.AgentBot},
		}},
		{"template", "template_message", sinch.AppMessage{TemplateMessage: &sinch.TemplateMessage{
			OmniTemplate: &sinch.TemplateReference{TemplateID: "order_shipped", Version: "2", LanguageCode: "en_US",
				Parameters: map[string]string{"name": "Ada", "order": "A-17"}},
		}}},
		{"media", "media_message", sinch.AppMessage{MediaMessage: &sinch.MediaMessage{
			URL: "https://example.com/pic.jpg", ThumbnailURL: "https://example.com/thumb.jpg", FilenameOverride: "pic.jpg",
		}}},
		{"choice", "choice_message", sinch.AppMessage{ChoiceMessage: &sinch.ChoiceMessage{
			TextMessage: &sinch.TextMessage{Text: "Pick one"},
			Choices: []sinch.Choice{
				{TextMessage: &sinch.TextMessage{Text: "Yes"}, PostbackData: json.RawMessage(`"yes"`)},
				{URLMessage: &sinch.URLMessage{Title: "Site", URL: "https://example.com"}},
				{CallMessage: &sinch.CallMessage{PhoneNumber: "+46701230002", Title: "Call us"}},
				{LocationMessage: location},
			},
			MessageProperties: &sinch.ChoiceMessageProperties{WhatsAppFooter: "footer"},
		}}},
		{"card", "card_message", sinch.AppMessage{CardMessage: &sinch.CardMessage{
			Title: "Sale", Description: "50% off", Height: sinch.CardHeightMedium,
			MediaMessage: &sinch.MediaMessage{URL: "https://example.com/sale.png"},
			Choices:      []sinch.Choice{{TextMessage: &sinch.TextMessage{Text: "Shop"}}},
		}}},
		{"location", "location_message", sinch.AppMessage{LocationMessage: location}},
		{"carousel via Other", "carousel_message", sinch.AppMessage{Other: map[string]json.RawMessage{
			"carousel_message": json.RawMessage(`{"cards":[{"title":"A"},{"title":"B"}]}`),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &sinch.SendMessageRequest{
				Recipient:            simRecipient(simPhone),
				Message:              tt.msg,
				ProcessingStrategy:   sinch.ProcessingDispatchOnly,
				TTL:                  sinch.TTL(24 * time.Hour),
				Queue:                sinch.QueueHigh,
				CorrelationID:        "corr-" + tt.kind,
				MessageMetadata:      `{"campaign":"c1","kind":"` + tt.kind + `"}`,
				MessageContentType:   sinch.ContentNotification,
				ChannelPriorityOrder: []sinch.Channel{sinch.ChannelSMS},
			}
			before := time.Now()
			resp := mustSend(t, ctx, c, req)
			after := time.Now()
			if resp.AcceptedTime.Before(before.Add(-time.Second)) || resp.AcceptedTime.After(after.Add(time.Second)) {
				t.Errorf("accepted_time: got %s, want between %s and %s", resp.AcceptedTime, before, after)
			}

			got, err := c.GetMessage(ctx, resp.MessageID, sinch.SourceDispatch)
			if err != nil {
				t.Fatalf("GetMessage: got error %v, want none", err)
			}
			if got.ID != resp.MessageID || got.Direction != sinch.DirectionToContact || got.ProcessingMode != sinch.ModeDispatch {
				t.Errorf("got id %q, direction %q, processing_mode %q, want %q, TO_CONTACT, DISPATCH",
					got.ID, got.Direction, got.ProcessingMode, resp.MessageID)
			}
			if !got.AcceptTime.Equal(resp.AcceptedTime) {
				t.Errorf("accept_time: got %s, want the send's accepted_time %s", got.AcceptTime, resp.AcceptedTime)
			}
			if got.Metadata != req.MessageMetadata {
				t.Errorf("metadata: got %q, want %q", got.Metadata, req.MessageMetadata)
			}
			if ci := got.ChannelIdentity; ci == nil || ci.Channel != sinch.ChannelSMS || ci.Identity != simPhone {
				t.Errorf("channel_identity: got %+v, want SMS %s", ci, simPhone)
			}
			if got.AppMessage == nil {
				t.Fatal("app_message: got none")
			}
			if kinds := got.AppMessage.Kinds(); !slices.Equal(kinds, []string{tt.kind}) {
				t.Errorf("kinds: got %v, want [%s]", kinds, tt.kind)
			}
			if g, w := canonicalJSON(t, got.AppMessage), canonicalJSON(t, tt.msg); !reflect.DeepEqual(g, w) {
				t.Errorf("stored app_message: got %v, want what was sent, %v", g, w)
			}
		})
	}
	st := env.sim.Stats()
	if st.Accepted != int64(len(tests)) || st.Duplicates != 0 || st.StoredDispatch != len(tests) {
		t.Errorf("got Accepted %d, Duplicates %d, StoredDispatch %d, want %d, 0, %d",
			st.Accepted, st.Duplicates, st.StoredDispatch, len(tests), len(tests))
	}
}

// TestSimSendValidationAgrees sends requests the API refuses. Those the
// client can judge it refuses itself, naming the same field as the
// simulator's 400 does when the check is bypassed; the rest reach the
// simulator and come back as permanent 400s.
func TestSimSendValidationAgrees(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t)
	ctx := simCtx(t)

	twoKB := `{"k":"` + strings.Repeat("x", sinch.MaxConversationMetadataLen) + `"}`
	elevenChoices := make([]sinch.Choice, sinch.MaxChoices+1)
	for i := range elevenChoices {
		elevenChoices[i] = sinch.Choice{TextMessage: &sinch.TextMessage{Text: fmt.Sprint(i)}}
	}
	tests := []struct {
		name   string
		mutate func(r *sinch.SendMessageRequest)
		field  string // named by both the client and the simulator
		local  bool   // the client refuses it without a call
	}{
		{"correlation_id of 129 characters", func(r *sinch.SendMessageRequest) {
			r.CorrelationID = strings.Repeat("c", sinch.MaxCorrelationIDLen+1)
		}, "correlation_id", true},
		{"correlation_id of 129 two-byte characters", func(r *sinch.SendMessageRequest) {
			r.CorrelationID = strings.Repeat("é", sinch.MaxCorrelationIDLen+1)
		}, "correlation_id", true},
		{"message_metadata of 1025 characters", func(r *sinch.SendMessageRequest) {
			r.MessageMetadata = strings.Repeat("m", sinch.MaxMessageMetadataLen+1)
		}, "message_metadata", true},
		{"conversation_metadata over 2048 characters", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadata = json.RawMessage(twoKB)
		}, "conversation_metadata", true},
		{"conversation_metadata a string", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadata = json.RawMessage(`"campaign=c1"`)
		}, "conversation_metadata", true},
		{"ttl under 3s", func(r *sinch.SendMessageRequest) { r.TTL = sinch.TTL(2 * time.Second) }, "ttl", true},
		{"unknown queue", func(r *sinch.SendMessageRequest) { r.Queue = "LOW_PRIORITY" }, "queue", true},
		{"unknown processing_strategy", func(r *sinch.SendMessageRequest) { r.ProcessingStrategy = "FAST" }, "processing_strategy", true},
		{"unknown message_content_type", func(r *sinch.SendMessageRequest) { r.MessageContentType = "CONTENT_SPAM" }, "message_content_type", true},
		{"unknown conversation_metadata_update_strategy", func(r *sinch.SendMessageRequest) {
			r.ConversationMetadataUpdateStrategy = "APPEND"
		}, "conversation_metadata_update_strategy", true},
		{"callback_url not http", func(r *sinch.SendMessageRequest) { r.CallbackURL = "ftp://example.com/cb" }, "callback_url", true},
		{"unknown channel_priority_order", func(r *sinch.SendMessageRequest) {
			r.ChannelPriorityOrder = []sinch.Channel{"PIGEON"}
		}, "channel_priority_order[0]", true},
		{"channel_properties value of 1025 characters", func(r *sinch.SendMessageRequest) {
			r.ChannelProperties = map[string]string{"WHATSAPP_HEADER": strings.Repeat("v", sinch.MaxChannelPropertyLen+1)}
		}, "channel_properties.WHATSAPP_HEADER", true},
		{"no recipient", func(r *sinch.SendMessageRequest) { r.Recipient = sinch.Recipient{} }, "recipient", true},
		{"contact_id and identified_by", func(r *sinch.SendMessageRequest) { r.Recipient.ContactID = "c-1" }, "recipient", true},
		{"no channel identities", func(r *sinch.SendMessageRequest) {
			r.Recipient.IdentifiedBy.ChannelIdentities = []sinch.ChannelIdentity{}
		}, "recipient.identified_by.channel_identities", true},
		{"unknown channel", func(r *sinch.SendMessageRequest) {
			r.Recipient.IdentifiedBy.ChannelIdentities[0].Channel = "PIGEON"
		}, "recipient.identified_by.channel_identities[0].channel", true},
		{"empty identity", func(r *sinch.SendMessageRequest) {
			r.Recipient.IdentifiedBy.ChannelIdentities[0].Identity = ""
		}, "recipient.identified_by.channel_identities[0].identity", true},
		{"no message kind", func(r *sinch.SendMessageRequest) { r.Message = sinch.AppMessage{} }, "message", true},
		{"two message kinds", func(r *sinch.SendMessageRequest) {
			r.Message.MediaMessage = &sinch.MediaMessage{URL: "https://example.com/a.png"}
		}, "message", true},
		{"empty text", func(r *sinch.SendMessageRequest) { r.Message.TextMessage.Text = "" }, "message.text_message.text", true},
		{"media without url", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{MediaMessage: &sinch.MediaMessage{ThumbnailURL: "https://example.com/t.png"}}
		}, "message.media_message.url", true},
		{"template without template_id", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{TemplateMessage: &sinch.TemplateMessage{OmniTemplate: &sinch.TemplateReference{Version: "1"}}}
		}, "message.template_message.omni_template.template_id", true},
		{"choice without choices", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{ChoiceMessage: &sinch.ChoiceMessage{TextMessage: &sinch.TextMessage{Text: "?"}}}
		}, "message.choice_message.choices", true},
		{"choice with 11 choices", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{ChoiceMessage: &sinch.ChoiceMessage{Choices: elevenChoices}}
		}, "message.choice_message.choices", true},
		{"location without title", func(r *sinch.SendMessageRequest) {
			r.Message = sinch.AppMessage{LocationMessage: &sinch.LocationMessage{Coordinates: sinch.Coordinates{Latitude: 1, Longitude: 2}}}
		}, "message.location_message.title", true},
		{"unknown agent type", func(r *sinch.SendMessageRequest) {
			r.Message.Agent = &sinch.Agent{Type: "ROBOT"}
		}, "message.agent.type", true},

		// Checks only the API can make.
		{"SMS identity not an MSISDN", func(r *sinch.SendMessageRequest) {
			r.Recipient.IdentifiedBy.ChannelIdentities[0].Identity = "not-a-number"
		}, "recipient.identified_by.channel_identities[0].identity", false},
		{"contact_id with DISPATCH_ONLY", func(r *sinch.SendMessageRequest) {
			r.Recipient = sinch.Recipient{ContactID: "c-1"}
		}, "recipient.contact_id", false},
		{"unknown app_id", func(r *sinch.SendMessageRequest) { r.AppID = "no-such-app" }, "app_id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := simText(simPhone, "hello")
			req.AppID = simApp
			tt.mutate(req)

			requests := env.sim.Stats().Requests
			_, err := c.SendMessage(ctx, req)
			if !tt.local {
				wantInvalidArgument(t, err, tt.field)
				return
			}
			if fields := validationFields(t, err); !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("client validation: got fields %q, want [%s] (%v)", fields, tt.field, err)
			}
			if !sinch.IsPermanent(err) {
				t.Errorf("IsPermanent(%v): got false, want true", err)
			}
			if got := env.sim.Stats().Requests; got != requests {
				t.Errorf("requests to the simulator: got %d, want none", got-requests)
			}

			// The same body sent as is, past Validate.
			httpReq, err := c.NewRequest(http.MethodPost, simSendPath, req)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			var out sinch.SendMessageResponse
			resp, err := c.Do(ctx, httpReq, &out)
			wantInvalidArgument(t, err, tt.field)
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Do: got response %v, want the 400 response", resp)
			}
		})
	}
	if st := env.sim.Stats(); st.Accepted != 0 {
		t.Errorf("accepted: got %d, want 0", st.Accepted)
	}
}

// TestSimConversationMetadataCompactLength: the client measures
// conversation_metadata as sent (encoding/json compacts a RawMessage), as
// the simulator does, so pretty-printing does not count against the limit.
func TestSimConversationMetadataCompactLength(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t)
	var pretty bytes.Buffer
	pretty.WriteString("{\n")
	for i := range 100 {
		sep := ","
		if i == 99 {
			sep = ""
		}
		fmt.Fprintf(&pretty, "    %q: %q%s\n", fmt.Sprintf("key%03d", i), "value-xx", sep)
	}
	pretty.WriteString("}")
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty.Bytes()); err != nil {
		t.Fatal(err)
	}
	if compact.Len() > sinch.MaxConversationMetadataLen || pretty.Len() <= sinch.MaxConversationMetadataLen {
		t.Fatalf("bad fixture: compact %d, pretty %d characters", compact.Len(), pretty.Len())
	}
	req := simText(simPhone, "hi")
	req.ProcessingStrategy = sinch.ProcessingDefault
	req.ConversationMetadata = json.RawMessage(pretty.Bytes())
	mustSend(t, simCtx(t), c, req)
}

// TestSimListDispatchMessages sends 2,500 DISPATCH_ONLY messages, in 25
// rounds of 100 concurrent sends one millisecond apart on the simulator's
// clock, between a few sent two hours earlier and later, and lists the
// window around the rounds.
func TestSimListDispatchMessages(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{TokenTTL: 24 * time.Hour})
	const workers = 4
	c := env.client(t)
	ctx := simCtx(t)

	const rounds, perRound, n = 25, 100, 2500
	// sendAt sends count messages, workers at a time, with the clock frozen at at.
	sendAt := func(at time.Time, count int, tag string) []string {
		t.Helper()
		env.clock.freeze(at)
		ids := make([]string, count)
		errs := make([]error, count)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < count; i = int(next.Add(1) - 1) {
					resp, err := c.SendMessage(ctx, simText(simPhone, fmt.Sprintf("%s %d", tag, i)))
					if errs[i] = err; err == nil {
						ids[i] = resp.MessageID
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("sending %s: %v", tag, err)
		}
		return ids
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	roundTime := func(r int) time.Time { return base.Add(time.Duration(r) * time.Millisecond) }
	sendAt(base.Add(-2*time.Hour), 3, "early")
	round := map[string]int{} // message ID → round
	for r := range rounds {
		for _, id := range sendAt(roundTime(r), perRound, fmt.Sprint("round ", r)) {
			round[id] = r
		}
	}
	sendAt(base.Add(2*time.Hour), 3, "late")
	if len(round) != n {
		t.Fatalf("distinct message IDs sent: got %d, want %d", len(round), n)
	}

	params := sinch.ListMessagesParams{
		MessagesSource: sinch.SourceDispatch,
		AppID:          simApp,
		StartTime:      base.Add(-time.Minute),
		EndTime:        base.Add(time.Minute),
	}
	requests := env.sim.Stats().Requests
	got := listAll(t, ctx, c, params)

	// Messages asks for BulkPageSize (1000): 1000, 1000 and 500.
	if calls := env.sim.Stats().Requests - requests; calls != 3 {
		t.Errorf("pages fetched: got %d, want 3", calls)
	}
	if len(got) != n {
		t.Fatalf("messages in the window: got %d, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for i, m := range got {
		seen[m.ID] = true
		// Newest first: the last round's 100 messages, then the one before...
		r, ok := round[m.ID]
		if want := rounds - 1 - i/perRound; !ok || r != want {
			t.Fatalf("message %d (%s): got round %d (sent in the window: %v), want round %d", i, m.ID, r, ok, want)
		}
		if !m.AcceptTime.Equal(roundTime(r)) {
			t.Errorf("message %d: accept_time got %s, want %s", i, m.AcceptTime, roundTime(r))
		}
		if m.Direction != sinch.DirectionToContact || m.ProcessingMode != sinch.ModeDispatch || m.AppMessage == nil {
			t.Errorf("message %d: got direction %q, processing_mode %q, app_message %v, want TO_CONTACT, DISPATCH, set",
				i, m.Direction, m.ProcessingMode, m.AppMessage != nil)
		}
	}
	if len(seen) != n {
		t.Errorf("distinct IDs listed: got %d, want %d", len(seen), n)
	}

	// The earlier and later messages are stored too: the window above did
	// the filtering.
	for _, at := range []time.Time{base.Add(-2 * time.Hour), base.Add(2 * time.Hour)} {
		p := sinch.ListMessagesParams{MessagesSource: sinch.SourceDispatch, StartTime: at.Add(-time.Minute), EndTime: at.Add(time.Minute)}
		if got := listAll(t, ctx, c, p); len(got) != 3 {
			t.Errorf("messages around %s: got %d, want 3", at, len(got))
		}
	}
	// DISPATCH_ONLY messages are not in the conversation store.
	if conv := listAll(t, ctx, c, sinch.ListMessagesParams{MessagesSource: sinch.SourceConversation}); len(conv) != 0 {
		t.Errorf("CONVERSATION_SOURCE messages: got %d, want 0", len(conv))
	}
	// PageSize 0 in ListMessages leaves the API's default of 10.
	page, err := c.ListMessages(ctx, params)
	if err != nil {
		t.Fatalf("ListMessages: got error %v, want none", err)
	}
	if len(page.Messages) != 10 || page.NextPageToken == "" {
		t.Errorf("default page: got %d messages, next_page_token %q, want 10 and a token", len(page.Messages), page.NextPageToken)
	}
}

func TestSimDispatchRetentionNone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sinchsim.Config
		// beforeDays is ttl_days before setRetention; -1 skips the step.
		beforeDays int
	}{
		{"configured RetentionNone", sinchsim.Config{DispatchRetentionDays: sinchsim.RetentionNone}, -1},
		{"SetRetentionDays(0) after sending", sinchsim.Config{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, tt.cfg)
			c := env.client(t)
			ctx := simCtx(t)
			var ids []string
			for i := range 5 {
				ids = append(ids, mustSend(t, ctx, c, simText(simPhone, fmt.Sprint("retained? ", i))).MessageID)
			}
			params := sinch.ListMessagesParams{MessagesSource: sinch.SourceDispatch, AppID: simApp}
			if tt.beforeDays >= 0 {
				app, err := c.GetApp(ctx)
				if err != nil {
					t.Fatalf("GetApp: %v", err)
				}
				if got := app.DispatchRetentionPolicy.TTLDays; got != tt.beforeDays {
					t.Errorf("ttl_days before: got %d, want %d", got, tt.beforeDays)
				}
				if got := listAll(t, ctx, c, params); len(got) != len(ids) {
					t.Errorf("messages before: got %d, want %d", len(got), len(ids))
				}
				env.sim.SetRetentionDays(0)
			}

			page, err := c.ListMessages(ctx, params)
			if err != nil {
				t.Fatalf("ListMessages: got error %v, want none", err)
			}
			if len(page.Messages) != 0 || page.NextPageToken != "" {
				t.Errorf("ListMessages: got %d messages, next_page_token %q, want none", len(page.Messages), page.NextPageToken)
			}
			if got := listAll(t, ctx, c, params); len(got) != 0 {
				t.Errorf("Messages: got %d, want 0", len(got))
			}
			app, err := c.GetApp(ctx)
			if err != nil {
				t.Fatalf("GetApp: got error %v, want none", err)
			}
			if got := app.DispatchRetentionPolicy.TTLDays; got != 0 {
				t.Errorf("dispatch_retention_policy.ttl_days: got %d, want 0", got)
			}
			_, err = c.GetMessage(ctx, ids[0], sinch.SourceDispatch)
			wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
			if st := env.sim.Stats(); st.Accepted != int64(len(ids)) {
				t.Errorf("accepted: got %d, want %d (retention does not refuse sends)", st.Accepted, len(ids))
			}
		})
	}
}

// TestSimListValidationAgrees is TestSimSendValidationAgrees for list queries.
func TestSimListValidationAgrees(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{})
	c := env.client(t)
	ctx := simCtx(t)
	t1 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	t0 := t1.Add(-time.Hour)

	tests := []struct {
		name   string
		params sinch.ListMessagesParams
		query  string // the same query, sent raw past Validate; local cases only
		field  string
		local  bool
	}{
		{"page_size 1001", sinch.ListMessagesParams{PageSize: sinch.MaxPageSize + 1}, "page_size=1001", "page_size", true},
		{"start_time after end_time", sinch.ListMessagesParams{StartTime: t1, EndTime: t0},
			url.Values{"start_time": {t1.Format(time.RFC3339)}, "end_time": {t0.Format(time.RFC3339)}}.Encode(), "start_time", true},
		{"unknown messages_source", sinch.ListMessagesParams{MessagesSource: "EVERY_SOURCE"}, "messages_source=EVERY_SOURCE", "messages_source", true},
		{"unknown direction", sinch.ListMessagesParams{Direction: "SIDEWAYS"}, "direction=SIDEWAYS", "direction", true},
		{"unknown channel", sinch.ListMessagesParams{Channel: "PIGEON"}, "channel=PIGEON", "channel", true},
		{"unknown view", sinch.ListMessagesParams{View: "SOME_METADATA"}, "view=SOME_METADATA", "view", true},

		// Checks only the API can make.
		{"conversation_id with DISPATCH_SOURCE", sinch.ListMessagesParams{
			MessagesSource: sinch.SourceDispatch, ConversationID: "conv-1"}, "", "conversation_id", false},
		{"contact_id with DISPATCH_SOURCE", sinch.ListMessagesParams{
			MessagesSource: sinch.SourceDispatch, ContactID: "contact-1"}, "", "contact_id", false},
		{"forged page_token", sinch.ListMessagesParams{PageToken: "bm90LWEtdG9rZW4"}, "", "page_token", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests := env.sim.Stats().Requests
			_, err := c.ListMessages(ctx, tt.params)
			if !tt.local {
				wantInvalidArgument(t, err, tt.field)
				// The iterators yield the same error once and stop.
				var errs int
				for m, err := range c.Messages(ctx, tt.params) {
					if m != nil || err == nil {
						t.Fatalf("Messages: got message %v, error %v, want only an error", m, err)
					}
					errs++
					wantInvalidArgument(t, err, tt.field)
				}
				if errs != 1 {
					t.Errorf("Messages: got %d errors, want 1", errs)
				}
				return
			}
			if fields := validationFields(t, err); !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("client validation: got fields %q, want [%s] (%v)", fields, tt.field, err)
			}
			if got := env.sim.Stats().Requests; got != requests {
				t.Errorf("requests to the simulator: got %d, want none", got-requests)
			}
			httpReq, err := c.NewRequest(http.MethodGet, simListPath+"?"+tt.query, nil)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			_, err = c.Do(ctx, httpReq, &sinch.ListMessagesResponse{})
			wantInvalidArgument(t, err, tt.field)
		})
	}
}

func TestSimRepliesAndFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		strategy     sinch.ProcessingStrategy
		source       sinch.MessagesSource
		mode         sinch.ProcessingMode
		conversation bool // whether messages get a contact and conversation
	}{
		{"conversation mode", "", "", sinch.ModeConversation, true},
		{"DISPATCH_ONLY", sinch.ProcessingDispatchOnly, sinch.SourceDispatch, sinch.ModeDispatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, sinchsim.Config{ReplySuffix: simReplySuffix, FailSuffix: simFailSuffix, ReplyText: "STOP",
				PersistMessageStatus: true})
			c := env.client(t)
			ctx := simCtx(t)
			sent := map[string]string{} // identity → message ID
			for _, phone := range []string{simPhone, simReplyPhone, simFailPhone} {
				req := simText(phone, "Sale today")
				req.ProcessingStrategy = tt.strategy
				sent[phone] = mustSend(t, ctx, c, req).MessageID
			}
			list := func(p sinch.ListMessagesParams) []sinch.ConversationMessage {
				p.MessagesSource = tt.source
				return listAll(t, ctx, c, p)
			}
			// checkPair checks the recipient's answer (newest, first) and the app
			// message it replies to, and returns the answer's contact message.
			checkPair := func(phone string, status sinch.DeliveryStatus) *sinch.ContactMessage {
				t.Helper()
				msgs := list(sinch.ListMessagesParams{ChannelIdentity: phone})
				if len(msgs) != 2 {
					t.Fatalf("%s: got %d messages, want the app message and the answer", phone, len(msgs))
				}
				answer, app := msgs[0], msgs[1]
				if answer.Direction != sinch.DirectionToApp || answer.ContactMessage == nil || answer.AppMessage != nil {
					t.Fatalf("%s answer: got direction %q, contact_message %v, want TO_APP with a contact_message",
						phone, answer.Direction, answer.ContactMessage)
				}
				if rt := answer.ContactMessage.ReplyTo; rt == nil || rt.MessageID != sent[phone] {
					t.Errorf("%s answer reply_to: got %+v, want message_id %s", phone, rt, sent[phone])
				}
				if app.ID != sent[phone] || app.Direction != sinch.DirectionToContact {
					t.Errorf("%s app message: got %s %q, want %s TO_CONTACT", phone, app.ID, app.Direction, sent[phone])
				}
				if app.MessageStatus == nil || app.MessageStatus.Status != status {
					t.Errorf("%s message_status: got %+v, want %s", phone, app.MessageStatus, status)
				}
				for _, m := range msgs {
					if m.ProcessingMode != tt.mode {
						t.Errorf("%s %s: processing_mode got %q, want %q", phone, m.ID, m.ProcessingMode, tt.mode)
					}
				}
				if has := answer.ConversationID != ""; has != tt.conversation ||
					answer.ConversationID != app.ConversationID || answer.ContactID != app.ContactID {
					t.Errorf("%s: got conversation %q/%q, contact %q/%q, want equal and set=%v", phone,
						answer.ConversationID, app.ConversationID, answer.ContactID, app.ContactID, tt.conversation)
				}
				got, err := c.GetMessage(ctx, answer.ID, tt.source)
				if err != nil {
					t.Fatalf("GetMessage(answer): got error %v, want none", err)
				}
				if g, w := canonicalJSON(t, got.ContactMessage), canonicalJSON(t, answer.ContactMessage); !reflect.DeepEqual(g, w) {
					t.Errorf("GetMessage(answer): got %v, want %v as listed", g, w)
				}
				return answer.ContactMessage
			}

			reply := checkPair(simReplyPhone, sinch.StatusDelivered)
			if reply.TextMessage == nil || reply.TextMessage.Text != "STOP" {
				t.Errorf("reply: got text %+v, want STOP", reply.TextMessage)
			}
			// A failed delivery is only a status: no inbound message follows it.
			failed := list(sinch.ListMessagesParams{ChannelIdentity: simFailPhone})
			if len(failed) != 1 || failed[0].ID != sent[simFailPhone] || failed[0].MessageStatus == nil ||
				failed[0].MessageStatus.Status != sinch.StatusFailed {
				t.Errorf("unreachable recipient: got %+v, want only its FAILED message", failed)
			}

			plain := list(sinch.ListMessagesParams{ChannelIdentity: simPhone})
			if len(plain) != 1 || plain[0].ID != sent[simPhone] || plain[0].MessageStatus == nil ||
				plain[0].MessageStatus.Status != sinch.StatusDelivered {
				t.Errorf("ordinary recipient: got %+v, want only its DELIVERED message", plain)
			}

			only := true
			for _, p := range []sinch.ListMessagesParams{{OnlyRecipientOriginated: &only}, {Direction: sinch.DirectionToApp}} {
				var replyTo []string
				for _, m := range list(p) {
					if m.Direction != sinch.DirectionToApp || m.ContactMessage == nil || m.ContactMessage.ReplyTo == nil {
						t.Fatalf("%+v: got %+v, want only contact messages with reply_to", p, m)
					}
					replyTo = append(replyTo, m.ContactMessage.ReplyTo.MessageID)
				}
				if want := []string{sent[simReplyPhone]}; !slices.Equal(replyTo, want) {
					t.Errorf("%+v: got answers to %v, want %v", p, replyTo, want)
				}
			}
		})
	}
}

func TestSimDeliveryReceipts(t *testing.T) {
	t.Parallel()
	const secret = "whsec-contract"
	type callback struct {
		receipt sinch.DeliveryReceipt
		signed  bool
		err     error
	}
	got := make(chan callback, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		cb := callback{err: err, signed: sinchsim.Verify(secret, r.Header, body)}
		if err == nil {
			cb.err = json.Unmarshal(body, &cb.receipt)
		}
		got <- cb
	}))
	t.Cleanup(receiver.Close)

	// The receipts go to each message's own callback_url, so the app's
	// secret for overridden callback URLs signs them.
	env := newSimEnv(t, sinchsim.Config{FailSuffix: simFailSuffix, OverrideCallbackSecret: secret})
	c := env.client(t)
	ctx := simCtx(t)
	sent := map[string]string{} // message ID → phone
	for _, phone := range []string{simPhone, simFailPhone} {
		req := simText(phone, "receipt please")
		req.CallbackURL = receiver.URL + "/receipts"
		req.CorrelationID = "corr-" + phone
		req.MessageMetadata = "meta-" + phone
		sent[mustSend(t, ctx, c, req).MessageID] = phone
	}

	statuses := map[string][]sinch.DeliveryStatus{}
	timeout := time.After(10 * time.Second)
	for range 4 {
		var cb callback
		select {
		case cb = <-got:
		case <-timeout:
			t.Fatalf("callbacks: got %v, want 2 per message", statuses)
		}
		if cb.err != nil || !cb.signed {
			t.Fatalf("callback: got error %v, valid signature %v, want a signed DeliveryReceipt", cb.err, cb.signed)
		}
		r := cb.receipt
		rep := r.MessageDeliveryReport
		if rep == nil {
			t.Fatalf("callback: got %+v, want a message_delivery_report", r)
		}
		phone, ok := sent[rep.MessageID]
		if !ok {
			t.Fatalf("callback for unknown message %q", rep.MessageID)
		}
		statuses[rep.MessageID] = append(statuses[rep.MessageID], rep.Status)
		if r.AppID != simApp || r.ProjectID != simProject || r.CorrelationID != "corr-"+phone ||
			r.MessageMetadata != "meta-"+phone || rep.Metadata != "meta-"+phone || r.AcceptedTime.IsZero() {
			t.Errorf("receipt for %s: got %+v, want app, project, correlation_id and metadata echoed", phone, r)
		}
		if rep.ChannelIdentity == nil || rep.ChannelIdentity.Identity != phone || rep.ProcessingMode != sinch.ModeDispatch {
			t.Errorf("report for %s: got %+v, want channel identity %s, DISPATCH", phone, rep, phone)
		}
		switch {
		case rep.Status == sinch.StatusFailed:
			if rep.Reason == nil || rep.Reason.Code != sinch.ReasonRecipientNotReachable {
				t.Errorf("FAILED report: got reason %+v, want RECIPIENT_NOT_REACHABLE", rep.Reason)
			}
		case rep.Reason != nil:
			t.Errorf("%s report: got reason %+v, want none", rep.Status, rep.Reason)
		}
	}
	for id, phone := range sent {
		final := sinch.StatusDelivered
		if phone == simFailPhone {
			final = sinch.StatusFailed
		}
		if want := []sinch.DeliveryStatus{sinch.StatusQueuedOnChannel, final}; !slices.Equal(statuses[id], want) {
			t.Errorf("statuses of %s's message: got %v, want %v", phone, statuses[id], want)
		}
	}
}

func TestSimGetApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      sinchsim.Config
		outbound int
		mode     sinch.ProcessingMode
		ttlDays  int
	}{
		{"defaults", sinchsim.Config{}, sinchsim.DefaultOutboundRate, sinch.ModeConversation, sinchsim.DefaultDispatchRetentionDays},
		{"configured", sinchsim.Config{OutboundRate: 37, ProcessingMode: sinchsim.ModeDispatch, DispatchRetentionDays: 7},
			37, sinch.ModeDispatch, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, tt.cfg)
			app, err := env.client(t).GetApp(simCtx(t))
			if err != nil {
				t.Fatalf("GetApp: got error %v, want none", err)
			}
			if app.ID != simApp || app.RateLimits.Outbound != tt.outbound || app.ProcessingMode != tt.mode {
				t.Errorf("got id %q, rate_limits.outbound %d, processing_mode %q, want %q, %d, %q",
					app.ID, app.RateLimits.Outbound, app.ProcessingMode, simApp, tt.outbound, tt.mode)
			}
			if p := app.DispatchRetentionPolicy; p.TTLDays != tt.ttlDays || p.RetentionType != sinch.RetentionMessageExpire {
				t.Errorf("dispatch_retention_policy: got %+v, want ttl_days %d, %s", p, tt.ttlDays, sinch.RetentionMessageExpire)
			}
			if p := app.RetentionPolicy; p.TTLDays != 180 || p.RetentionType != sinch.RetentionConversationExpire {
				t.Errorf("retention_policy: got %+v, want ttl_days 180, %s", p, sinch.RetentionConversationExpire)
			}
			if app.RateLimits.Inbound <= 0 || app.RateLimits.Webhooks <= 0 || app.QueueStats.OutboundLimit <= 0 {
				t.Errorf("got rate_limits %+v, queue_stats %+v, want positive limits", app.RateLimits, app.QueueStats)
			}
			var channels []sinch.Channel
			for _, cc := range app.ChannelCredentials {
				channels = append(channels, cc.Channel)
				if cc.State.Status != "ACTIVE" {
					t.Errorf("channel %s: got state %q, want ACTIVE", cc.Channel, cc.State.Status)
				}
			}
			if !slices.Equal(channels, sinch.Channels) {
				t.Errorf("channel_credentials: got %v, want %v", channels, sinch.Channels)
			}
		})
	}

	t.Run("unknown app or project", func(t *testing.T) {
		t.Parallel()
		env := newSimEnv(t, sinchsim.Config{})
		ctx := simCtx(t)
		_, err := env.client(t, func(c *sinch.Config) { c.AppID = "no-such-app" }).GetApp(ctx)
		wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
		if got, want := classify(err), (classes{permanent: true}); got != want {
			t.Errorf("404 classes: got %+v, want %+v", got, want)
		}
		_, err = env.client(t, func(c *sinch.Config) { c.ProjectID = "other-project" }).GetApp(ctx)
		wantAPIError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
		if got, want := classify(err), (classes{permanent: true}); got != want {
			t.Errorf("403 classes: got %+v, want %+v", got, want)
		}
	})
}

func TestSimGetAndDeleteMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strategy sinch.ProcessingStrategy
		source   sinch.MessagesSource // where the message is
		other    sinch.MessagesSource // where it is not
		mode     sinch.ProcessingMode
	}{
		{"conversation, default source", "", "", sinch.SourceDispatch, sinch.ModeConversation},
		{"conversation, explicit source", "", sinch.SourceConversation, sinch.SourceDispatch, sinch.ModeConversation},
		{"dispatch", sinch.ProcessingDispatchOnly, sinch.SourceDispatch, sinch.SourceConversation, sinch.ModeDispatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, sinchsim.Config{})
			c := env.client(t)
			ctx := simCtx(t)
			req := simText(simPhone, "get me")
			req.ProcessingStrategy = tt.strategy
			req.MessageMetadata = "order-42"
			id := mustSend(t, ctx, c, req).MessageID

			m, err := c.GetMessage(ctx, id, tt.source)
			if err != nil {
				t.Fatalf("GetMessage: got error %v, want none", err)
			}
			if m.ID != id || m.ProcessingMode != tt.mode || m.Metadata != "order-42" ||
				m.AppMessage == nil || m.AppMessage.TextMessage == nil || m.AppMessage.TextMessage.Text != "get me" {
				t.Errorf("GetMessage: got %+v, want %s (%s) with its text and metadata", m, id, tt.mode)
			}
			_, err = c.GetMessage(ctx, id, tt.other)
			wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")

			if err := c.DeleteMessage(ctx, id, tt.source); err != nil {
				t.Fatalf("DeleteMessage: got error %v, want none", err)
			}
			_, err = c.GetMessage(ctx, id, tt.source)
			wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
			if got, want := classify(err), (classes{permanent: true}); got != want {
				t.Errorf("GetMessage after delete: classes got %+v, want %+v", got, want)
			}
			err = c.DeleteMessage(ctx, id, tt.source)
			wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
		})
	}
}

func TestSimSendFailuresClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       sinchsim.Config
		phone     string
		status    int    // 0: no HTTP answer, a *TransportError
		rpcStatus string // error.status of the answer
		want      classes
		accepted  int64 // messages the simulator accepted (and stored)
		faults    sinchsim.FaultStats
	}{
		{"500", sinchsim.Config{FaultRate500: 1}, simPhone, 500, "INTERNAL",
			classes{retryable: true}, 0, sinchsim.FaultStats{HTTP500: 1}},
		{"503", sinchsim.Config{FaultRate503: 1}, simPhone, 503, "UNAVAILABLE",
			classes{retryable: true}, 0, sinchsim.FaultStats{HTTP503: 1}},
		{"connection reset before accepting", sinchsim.Config{FaultResetBeforeAccept: 1}, simPhone, 0, "",
			classes{retryable: true}, 0, sinchsim.FaultStats{ResetBeforeAccept: 1}},
		{"response lost after accepting", sinchsim.Config{FaultLostAfterAccept: 1}, simPhone, 0, "",
			classes{retryable: true}, 1, sinchsim.FaultStats{LostAfterAccept: 1}},
		{"recipient rejected", sinchsim.Config{RejectSuffix: simRejectSuffix}, simRejectPhone, 400, "INVALID_ARGUMENT",
			classes{permanent: true}, 0, sinchsim.FaultStats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Seed = 1
			env := newSimEnv(t, tt.cfg)
			c := env.client(t)
			ctx := simCtx(t)
			req := simText(tt.phone, "fault?")
			req.MessageMetadata = "fault-test"

			_, err := c.SendMessage(ctx, req)
			if err == nil {
				t.Fatal("SendMessage: got no error")
			}
			if got := classify(err); got != tt.want {
				t.Errorf("classes: got %+v, want %+v (%v)", got, tt.want, err)
			}
			if tt.status != 0 {
				wantAPIError(t, err, tt.status, tt.rpcStatus)
			} else {
				var te *sinch.TransportError
				if !errors.As(err, &te) {
					t.Fatalf("got %v (%T), want *sinch.TransportError", err, err)
				}
				if te.Op != "send message" || te.Timeout() {
					t.Errorf("got Op %q, Timeout %v, want send message, false", te.Op, te.Timeout())
				}
			}

			st := env.sim.Stats()
			if st.Accepted != tt.accepted || st.Faults != tt.faults {
				t.Errorf("got Accepted %d, Faults %+v, want %d, %+v", st.Accepted, st.Faults, tt.accepted, tt.faults)
			}
			// A lost response hides a message that was in fact sent.
			stored := listAll(t, ctx, c, sinch.ListMessagesParams{MessagesSource: sinch.SourceDispatch})
			if int64(len(stored)) != tt.accepted {
				t.Fatalf("stored messages: got %d, want %d", len(stored), tt.accepted)
			}
			for _, m := range stored {
				if m.Metadata != "fault-test" {
					t.Errorf("stored message metadata: got %q, want fault-test", m.Metadata)
				}
			}
		})
	}
}

func TestSimRateLimited(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, sinchsim.Config{RateLimit: 5, RateBurst: 5})
	c := env.client(t)
	ctx := simCtx(t)

	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.SendMessage(ctx, simText(simPhone, fmt.Sprint("burst ", i)))
		})
	}
	wg.Wait()

	var ok, limited int64
	var wait time.Duration
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		limited++
		ae := wantAPIError(t, err, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
		if got, want := classify(err), (classes{rateLimited: true}); got != want {
			t.Errorf("classes: got %+v, want %+v", got, want)
		}
		if ra := sinch.RetryAfter(err); ra <= 0 || ra != ae.RetryAfter {
			t.Errorf("RetryAfter: got %s (APIError %s), want > 0", ra, ae.RetryAfter)
		}
		wait = max(wait, sinch.RetryAfter(err))
	}
	if ok < 5 || limited == 0 {
		t.Fatalf("burst of %d: got %d sent, %d rate-limited, want at least the burst of 5 sent and some limited", n, ok, limited)
	}
	st := env.sim.Stats()
	if st.Accepted != ok || st.RateLimited != limited || st.ByStatus[http.StatusTooManyRequests] != limited {
		t.Errorf("got Accepted %d, RateLimited %d, 429s %d, want %d, %d, %d",
			st.Accepted, st.RateLimited, st.ByStatus[http.StatusTooManyRequests], ok, limited, limited)
	}

	// Waiting Retry-After (on the simulator's clock) is enough.
	env.clock.advance(wait)
	mustSend(t, ctx, c, simText(simPhone, "after Retry-After"))
}

func TestSimTimeoutsAndCancellation(t *testing.T) {
	t.Parallel()
	const latency = 2 * time.Second
	tests := []struct {
		name    string
		auth    sinch.AuthMode
		timeout time.Duration // Config.Timeout
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		// Either the call times out (a retryable *TransportError of op) or
		// it ends with the caller's context error.
		timeoutOp string
		ctxErr    error
	}{
		{"API call exceeds Timeout", sinch.AuthBasic, 200 * time.Millisecond, nil, "send message", nil},
		{"token request exceeds Timeout", sinch.AuthOAuth2, 200 * time.Millisecond, nil, "fetch access token", nil},
		{"caller cancels the API call", sinch.AuthBasic, 5 * time.Second, cancelAfter(100 * time.Millisecond), "", context.Canceled},
		{"caller cancels while waiting for a token", sinch.AuthOAuth2, time.Second,
			cancelAfter(100 * time.Millisecond), "", context.Canceled},
		{"caller's deadline passes", sinch.AuthBasic, 5 * time.Second, func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 100*time.Millisecond)
		}, "", context.DeadlineExceeded},
	}
	// One simulator for all cases: closing it waits out the latency of the
	// requests the client gave up on, since a handler waiting before it
	// reads the body does not notice the client leaving.
	env := newSimEnv(t, sinchsim.Config{Latency: latency})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.client(t, withAuth(tt.auth), func(c *sinch.Config) { c.Timeout = tt.timeout })
			ctx := simCtx(t)
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx(ctx)
				defer cancel()
			}

			start := time.Now()
			_, err := c.SendMessage(ctx, simText(simPhone, "slow"))
			if elapsed := time.Since(start); elapsed >= latency*3/4 {
				t.Errorf("SendMessage took %s, want it to give up well before the %s latency", elapsed, latency)
			}
			if err == nil {
				t.Fatal("SendMessage: got no error")
			}
			var te *sinch.TransportError
			if tt.ctxErr != nil {
				if !errors.Is(err, tt.ctxErr) {
					t.Errorf("got %v, want errors.Is(err, %v)", err, tt.ctxErr)
				}
				if errors.As(err, &te) {
					t.Errorf("got *sinch.TransportError %v, want the caller's context error", err)
				}
				if got := classify(err); got != (classes{}) {
					t.Errorf("classes: got %+v, want none (the caller gave up)", got)
				}
			} else {
				if !errors.As(err, &te) {
					t.Fatalf("got %v (%T), want *sinch.TransportError", err, err)
				}
				if te.Op != tt.timeoutOp || !te.Timeout() {
					t.Errorf("got Op %q, Timeout %v, want %q, true", te.Op, te.Timeout(), tt.timeoutOp)
				}
				if got, want := classify(err), (classes{retryable: true}); got != want {
					t.Errorf("classes: got %+v, want %+v", got, want)
				}
			}
			if st := env.sim.Stats(); st.Accepted != 0 {
				t.Errorf("accepted: got %d, want 0", st.Accepted)
			}
		})
	}
}

func cancelAfter(d time.Duration) func(context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(d, cancel)
		return ctx, cancel
	}
}

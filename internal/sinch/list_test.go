package sinch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// pagedAPI serves pages of messages keyed by page_token: "" -> p2 -> p3 -> end.
func pagedAPI(t *testing.T, sizes *recorder) http.HandlerFunc {
	pages := map[string]struct {
		ids  []string
		next string
	}{
		"":   {[]string{"m1", "m2"}, "p2"},
		"p2": {[]string{"m3", "m4"}, "p3"},
		"p3": {[]string{"m5"}, ""},
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.URL.Path, "/v1/projects/"+testProject+"/messages"; got != want {
			t.Errorf("path: got %q, want %q", got, want)
		}
		q := r.URL.Query()
		sizes.add(q.Get("page_size"))
		page, ok := pages[q.Get("page_token")]
		if !ok {
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":400,"message":"bad page token","status":"INVALID_ARGUMENT"}}`)
			return
		}
		var msgs []string
		for _, id := range page.ids {
			msgs = append(msgs, fmt.Sprintf(`{"id":%q,"direction":"TO_CONTACT","accept_time":"2024-02-22T07:40:46Z","message_status":null}`, id))
		}
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"messages":[%s],"next_page_token":%q}`, strings.Join(msgs, ","), page.next))
	}
}

func TestMessagesFollowsPages(t *testing.T) {
	var sizes recorder
	f := newFake(t, pagedAPI(t, &sizes))
	c := f.client(t)

	var ids []string
	for m, err := range c.Messages(context.Background(), sinch.ListMessagesParams{MessagesSource: sinch.SourceDispatch}) {
		if err != nil {
			t.Fatalf("Messages: %v", err)
		}
		ids = append(ids, m.ID)
	}
	if want := []string{"m1", "m2", "m3", "m4", "m5"}; !slices.Equal(ids, want) {
		t.Errorf("ids: got %v, want %v", ids, want)
	}
	if got, want := sizes.all(), []string{"1000", "1000", "1000"}; !slices.Equal(got, want) {
		t.Errorf("page_size per request: got %v, want %v", got, want)
	}
}

func TestPagesKeepsExplicitPageSizeAndStopsOnBreak(t *testing.T) {
	var sizes recorder
	f := newFake(t, pagedAPI(t, &sizes))
	c := f.client(t)

	var n int
	for page, err := range c.Pages(context.Background(), sinch.ListMessagesParams{PageSize: 2}) {
		if err != nil {
			t.Fatalf("Pages: %v", err)
		}
		if got, want := page.NextPageToken, "p2"; got != want {
			t.Errorf("NextPageToken: got %q, want %q", got, want)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("pages: got %d, want 1", n)
	}
	if got, want := sizes.all(), []string{"2"}; !slices.Equal(got, want) {
		t.Errorf("requests (page_size): got %v, want %v (no fetch after break)", got, want)
	}
}

func TestMessagesYieldsPageError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page_token") == "" {
			writeJSON(w, http.StatusOK, `{"messages":[{"id":"m1"}],"next_page_token":"p2"}`)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, `{"error":{"code":503,"message":"try later","status":"UNAVAILABLE"}}`)
	})
	var ids []string
	var gotErr error
	for m, err := range f.client(t).Messages(context.Background(), sinch.ListMessagesParams{}) {
		if err != nil {
			gotErr = err
			continue // the iterator must end by itself after an error
		}
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{"m1"}) {
		t.Errorf("ids: got %v, want [m1]", ids)
	}
	if !sinch.IsRetryable(gotErr) || !strings.HasPrefix(gotErr.Error(), "sinch: list messages: http 503") {
		t.Errorf("err: got %v, want a retryable list messages 503", gotErr)
	}
	if got := f.apiCalls.Load(); got != 2 {
		t.Errorf("API requests: got %d, want 2", got)
	}
}

func TestPagesRejectsRepeatedToken(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"messages":[],"next_page_token":"same"}`)
	})
	var errs int
	for _, err := range f.client(t).Pages(context.Background(), sinch.ListMessagesParams{}) {
		if err != nil {
			errs++
		}
	}
	if errs != 1 || f.apiCalls.Load() != 2 {
		t.Errorf("got %d errors after %d requests, want 1 error after 2", errs, f.apiCalls.Load())
	}
}

func TestListMessagesQuery(t *testing.T) {
	var raw recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		raw.add(r.URL.RawQuery)
		writeJSON(w, http.StatusOK, `{"messages":[]}`)
	})
	c := f.client(t)
	yes := false
	params := sinch.ListMessagesParams{
		ConversationID:          "conv 1",
		ContactID:               "contact/1",
		AppID:                   testApp,
		ChannelIdentity:         "+46 700&x=1",
		StartTime:               time.Date(2024, 2, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
		EndTime:                 time.Date(2024, 2, 22, 7, 40, 46, 0, time.UTC),
		PageSize:                250,
		PageToken:               "ChowMUhR+/=",
		View:                    sinch.ViewWithMetadata,
		MessagesSource:          sinch.SourceConversation,
		OnlyRecipientOriginated: &yes,
		Channel:                 sinch.ChannelWhatsApp,
		Direction:               sinch.DirectionToApp,
	}
	if _, err := c.ListMessages(context.Background(), params); err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	got, err := url.ParseQuery(raw.last())
	if err != nil {
		t.Fatalf("query %q: %v", raw.last(), err)
	}
	want := url.Values{
		"conversation_id":           {"conv 1"},
		"contact_id":                {"contact/1"},
		"app_id":                    {testApp},
		"channel_identity":          {"+46 700&x=1"},
		"start_time":                {"2024-02-01T09:00:00Z"},
		"end_time":                  {"2024-02-22T07:40:46Z"},
		"page_size":                 {"250"},
		"page_token":                {"ChowMUhR+/="},
		"view":                      {"WITH_METADATA"},
		"messages_source":           {"CONVERSATION_SOURCE"},
		"only_recipient_originated": {"false"},
		"channel":                   {"WHATSAPP"},
		"direction":                 {"TO_APP"},
	}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s: got %q, want %q", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected parameter %s=%q", k, got[k])
		}
	}
	if !strings.Contains(raw.last(), "channel_identity=%2B46") {
		t.Errorf("raw query %q: want '+' escaped as %%2B", raw.last())
	}

	// Zero params send no query at all.
	if _, err := c.ListMessages(context.Background(), sinch.ListMessagesParams{}); err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	if got := raw.last(); got != "" {
		t.Errorf("query of zero params: got %q, want empty", got)
	}
}

func TestListMessagesParamsValidate(t *testing.T) {
	tests := []struct {
		name   string
		params sinch.ListMessagesParams
		field  string
	}{
		{"page size too big", sinch.ListMessagesParams{PageSize: 1001}, "page_size"},
		{"negative page size", sinch.ListMessagesParams{PageSize: -1}, "page_size"},
		{"times reversed", sinch.ListMessagesParams{StartTime: time.Unix(20, 0), EndTime: time.Unix(10, 0)}, "start_time"},
		{"view", sinch.ListMessagesParams{View: "ALL"}, "view"},
		{"source", sinch.ListMessagesParams{MessagesSource: "X"}, "messages_source"},
		{"channel", sinch.ListMessagesParams{Channel: "sms"}, "channel"},
		{"direction", sinch.ListMessagesParams{Direction: "UP"}, "direction"},
	}
	f := newFake(t, nil)
	c := f.client(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListMessages(context.Background(), tt.params)
			var ve *sinch.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Errorf("err: got %v, want a ValidationError for %s", err, tt.field)
			}
		})
	}
	if got := f.apiCalls.Load(); got != 0 {
		t.Errorf("API requests: got %d, want 0", got)
	}
}

func TestGetAndDeleteMessage(t *testing.T) {
	var seen recorder
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Method + " " + r.URL.EscapedPath() + "?" + r.URL.RawQuery)
		switch {
		case strings.Contains(r.URL.Path, "missing"):
			writeJSON(w, http.StatusNotFound, `{"error":{"code":404,"message":"message not found","status":"NOT_FOUND"}}`)
		case r.Method == http.MethodGet:
			body, err := os.ReadFile("../../testdata/sinch/ConversationMessageAppTextResponseDto.json")
			if err != nil {
				t.Errorf("fixture: %v", err)
			}
			writeJSON(w, http.StatusOK, string(body))
		default:
			writeJSON(w, http.StatusOK, `{}`)
		}
	})
	c := f.client(t)
	ctx := context.Background()
	base := "/v1/projects/" + testProject + "/messages/"

	m, err := c.GetMessage(ctx, "id value", sinch.SourceDispatch)
	if err != nil {
		t.Fatalf("GetMessage: %v", err)
	}
	if m.ID != "id value" || m.AppMessage == nil || m.AppMessage.TextMessage == nil {
		t.Errorf("GetMessage: got %+v, want the fixture message", m)
	}
	if err := c.DeleteMessage(ctx, "a/b", ""); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	want := []string{
		"GET " + base + "id%20value?messages_source=DISPATCH_SOURCE",
		"DELETE " + base + "a%2Fb?",
	}
	if got := seen.all(); !slices.Equal(got, want) {
		t.Errorf("requests: got %q, want %q", got, want)
	}

	_, err = c.GetMessage(ctx, "missing", "")
	if got, want := classify(err), (classes{permanent: true}); got != want || !strings.HasPrefix(err.Error(), "sinch: get message: http 404") {
		t.Errorf("GetMessage missing: got %v %+v, want a permanent get message 404", err, got)
	}
	err = c.DeleteMessage(ctx, "missing", sinch.SourceConversation)
	if got, want := classify(err), (classes{permanent: true}); got != want || !strings.HasPrefix(err.Error(), "sinch: delete message: http 404") {
		t.Errorf("DeleteMessage missing: got %v %+v, want a permanent delete message 404", err, got)
	}
	var ve *sinch.ValidationError
	if _, err := c.GetMessage(ctx, "", ""); !errors.As(err, &ve) {
		t.Errorf("GetMessage without an ID: got %v, want a ValidationError", err)
	}
}

func TestGetApp(t *testing.T) {
	var fail atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.URL.Path, "/v1/projects/"+testProject+"/apps/"+testApp; got != want {
			t.Errorf("path: got %q, want %q", got, want)
		}
		if fail.Load() {
			writeJSON(w, http.StatusForbidden, `{"error":{"code":403,"message":"no access","status":"PERMISSION_DENIED"}}`)
			return
		}
		body, err := os.ReadFile("../../testdata/sinch/AppResponseDto.json")
		if err != nil {
			t.Errorf("fixture: %v", err)
		}
		writeJSON(w, http.StatusOK, string(body))
	})
	c := f.client(t)
	app, err := c.GetApp(context.Background())
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if got, want := app.RateLimits, (sinch.RateLimits{Outbound: 20, Inbound: 100, Webhooks: 200}); got != want {
		t.Errorf("RateLimits: got %+v, want %+v", got, want)
	}

	fail.Store(true)
	_, err = c.GetApp(context.Background())
	var apiErr *sinch.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || !sinch.IsPermanent(err) {
		t.Errorf("GetApp: got %v, want a permanent 403 APIError", err)
	}
}

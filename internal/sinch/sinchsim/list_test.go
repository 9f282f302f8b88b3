package sinchsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRetentionNoneStoresNothing(t *testing.T) {
	s := newSim(t, Config{DispatchRetentionDays: RetentionNone, ReplySuffix: "99"})
	s.send(t, sendBody(phone(1)))
	s.send(t, sendBody(phone(99))) // its reply is not stored either
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")); len(got.Messages) != 0 || *got.NextPageToken != "" {
		t.Errorf("got %d messages, token %q; want none", len(got.Messages), *got.NextPageToken)
	}
	st := s.Stats()
	if st.Accepted != 2 || st.StoredDispatch != 0 {
		t.Errorf("got accepted %d, stored %d; want 2 and 0", st.Accepted, st.StoredDispatch)
	}
}

func TestSetRetentionDays(t *testing.T) {
	s := newSim(t, Config{})
	id, _ := s.send(t, sendBody(phone(1)))
	s.SetRetentionDays(0)
	s.send(t, sendBody(phone(2)))
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")); len(got.Messages) != 0 {
		t.Errorf("ttl_days 0: got %d messages, want none", len(got.Messages))
	}
	s.SetRetentionDays(1)
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")).ids(); !slices.Equal(got, []string{id}) {
		t.Errorf("ttl_days 1 again: got %v, want only %s (sent while retained)", got, id)
	}
}

func TestRetentionExpiry(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now, DispatchRetentionDays: 1})
	old, _ := s.send(t, sendBody(phone(1)))
	clock.Advance(23 * time.Hour)
	recent, _ := s.send(t, sendBody(phone(2)))
	clock.Advance(time.Hour)
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")).ids(); !slices.Equal(got, []string{recent}) {
		t.Errorf("got %v, want only %s (%s is a day old)", got, recent, old)
	}
	if r := s.mustDo(t, http.MethodGet, listPath+"/"+old+"?messages_source=DISPATCH_SOURCE", "", basicAuth); r.status != 404 {
		t.Errorf("get expired message: got status %d, want 404", r.status)
	}
}

func TestListPagination(t *testing.T) {
	clock := newFakeClock()
	s := newSim(t, Config{Clock: clock.Now})
	var sent []string
	for i := range 25 {
		id, _ := s.send(t, sendBody(phone(i)))
		sent = append(sent, id)
		clock.Advance(time.Second)
	}
	slices.Reverse(sent) // newest first

	var got []string
	q := query("messages_source", "DISPATCH_SOURCE", "page_size", "10")
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("more than 3 pages")
		}
		lr := s.list(t, q)
		if want := []int{10, 10, 5}[page]; len(lr.Messages) != want {
			t.Fatalf("page %d: got %d messages, want %d", page, len(lr.Messages), want)
		}
		got = append(got, lr.ids()...)
		if page == 0 {
			// A message accepted between pages doesn't shift later pages.
			s.send(t, sendBody(phone(100)))
		}
		if *lr.NextPageToken == "" {
			break
		}
		q.Set("page_token", *lr.NextPageToken)
	}
	if !slices.Equal(got, sent) {
		t.Errorf("got %v, want newest first %v", got, sent)
	}
	// Accept times descend.
	lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "page_size", "1000"))
	for i := 1; i < len(lr.Messages); i++ {
		if lr.Messages[i-1].AcceptTime < lr.Messages[i].AcceptTime {
			t.Fatalf("message %d accepted at %s is before message %d at %s", i-1, lr.Messages[i-1].AcceptTime, i, lr.Messages[i].AcceptTime)
		}
	}
	// page_size 0 means the default of 10.
	if n := len(s.list(t, query("messages_source", "DISPATCH_SOURCE", "page_size", "0")).Messages); n != 10 {
		t.Errorf("page_size 0: got %d messages, want 10", n)
	}
}

func TestListFilters(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	s := newSim(t, Config{Clock: clock.Now, ReplySuffix: "99"})
	sms, _ := s.send(t, sendBody(phone(1), `"message_metadata":"meta"`))
	clock.Advance(time.Minute)
	wa, _ := s.send(t, `{"app_id":"sim-app","processing_strategy":"DISPATCH_ONLY","message":{"text_message":{"text":"x"}},`+
		`"recipient":{"identified_by":{"channel_identities":[{"channel":"WHATSAPP","identity":"`+phone(2)+`"}]}}}`)
	clock.Advance(time.Minute)
	asked, _ := s.send(t, sendBody(phone(99)))
	clock.Advance(time.Minute)

	ids := func(kv ...string) []string {
		return s.list(t, query(append([]string{"messages_source", "DISPATCH_SOURCE"}, kv...)...)).ids()
	}
	all := ids()
	if len(all) != 4 || all[1] != asked {
		t.Fatalf("got %v, want the reply then %s, %s, %s", all, asked, wa, sms)
	}
	reply := all[0]
	tests := []struct {
		name string
		kv   []string
		want []string
	}{
		{"channel", []string{"channel", "WHATSAPP"}, []string{wa}},
		{"channel_identity", []string{"channel_identity", phone(1)}, []string{sms}},
		{"direction TO_APP", []string{"direction", "TO_APP"}, []string{reply}},
		{"direction TO_CONTACT", []string{"direction", "TO_CONTACT"}, []string{asked, wa, sms}},
		{"only_recipient_originated", []string{"only_recipient_originated", "true"}, []string{reply}},
		{"app_id", []string{"app_id", DefaultAppID}, all},
		{"other app_id", []string{"app_id", "other"}, nil},
		{"start_time", []string{"start_time", start.Add(30 * time.Second).Format(time.RFC3339)}, []string{reply, asked, wa}},
		{"end_time", []string{"end_time", start.Add(90 * time.Second).Format(time.RFC3339)}, []string{wa, sms}},
		{"start and end", []string{"start_time", start.Add(30 * time.Second).Format(time.RFC3339),
			"end_time", start.Add(90 * time.Second).Format(time.RFC3339)}, []string{wa}},
	}
	for _, tt := range tests {
		if got := ids(tt.kv...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	// view WITHOUT_METADATA drops message_metadata.
	for _, view := range []string{"WITH_METADATA", "WITHOUT_METADATA"} {
		lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "channel_identity", phone(1), "view", view))
		if want := map[bool]string{true: "meta", false: ""}[view == "WITH_METADATA"]; lr.Messages[0].Metadata != want {
			t.Errorf("view %s: got metadata %q, want %q", view, lr.Messages[0].Metadata, want)
		}
	}
}

func TestListErrors(t *testing.T) {
	s := newSim(t, Config{})
	for i := range 3 {
		s.send(t, sendBody(phone(i)))
	}
	lr := s.list(t, query("messages_source", "DISPATCH_SOURCE", "page_size", "1"))
	tok := *lr.NextPageToken
	forged := []byte(tok)
	forged[0] ^= 1

	tests := []struct {
		name, query, field string
	}{
		{"page_size above 1000", "page_size=1001", "page_size"},
		{"page_size not a number", "page_size=ten", "page_size"},
		{"page_token not ours", "page_token=abc", "page_token"},
		{"page_token tampered", "messages_source=DISPATCH_SOURCE&page_token=" + string(forged), "page_token"},
		{"page_token from another query", "messages_source=DISPATCH_SOURCE&channel=SMS&page_token=" + tok, "page_token"},
		{"conversation_id with DISPATCH_SOURCE", "messages_source=DISPATCH_SOURCE&conversation_id=c", "conversation_id"},
		{"contact_id with DISPATCH_SOURCE", "messages_source=DISPATCH_SOURCE&contact_id=c", "contact_id"},
		{"unknown messages_source", "messages_source=ALL", "messages_source"},
		{"unknown channel", "channel=FAX", "channel"},
		{"unknown direction", "direction=UP", "direction"},
		{"unknown view", "view=FULL", "view"},
		{"bad only_recipient_originated", "only_recipient_originated=maybe", "only_recipient_originated"},
		{"bad start_time", "start_time=yesterday", "start_time"},
		{"start_time after end_time", "start_time=2024-02-22T08:00:00Z&end_time=2024-02-22T07:00:00Z", "start_time"},
		{"start_time equal to end_time", "start_time=2024-02-22T08:00:00Z&end_time=2024-02-22T08:00:00Z", "start_time"},
	}
	for _, tt := range tests {
		r := s.mustDo(t, http.MethodGet, listPath+"?"+tt.query, "", basicAuth)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: got status %d (%s), want 400", tt.name, r.status, r.body)
			continue
		}
		if e := r.envelope(t).Error; e.Status != "INVALID_ARGUMENT" || !strings.Contains(e.Message, tt.field) {
			t.Errorf("%s: got %s %q, want INVALID_ARGUMENT naming %s", tt.name, e.Status, e.Message, tt.field)
		}
	}
	// The genuine token works, even with another page_size.
	q := query("messages_source", "DISPATCH_SOURCE", "page_size", "5", "page_token", tok)
	if got := len(s.list(t, q).Messages); got != 2 {
		t.Errorf("second page with page_size 5: got %d messages, want 2", got)
	}
}

func TestConversationSource(t *testing.T) {
	s := newSim(t, Config{})
	conv := `{"app_id":"sim-app","message":{"text_message":{"text":"x"}},` +
		`"recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"` + phone(1) + `"}]}}}`
	first, _ := s.send(t, conv)
	lr := s.list(t, query())
	if len(lr.Messages) != 1 || lr.Messages[0].ID != first || lr.Messages[0].ProcessingMode != "CONVERSATION" ||
		lr.Messages[0].ContactID == "" || lr.Messages[0].ConversationID == "" {
		t.Fatalf("got %+v, want %s in CONVERSATION mode with contact and conversation", lr.Messages, first)
	}
	contact, conversation := lr.Messages[0].ContactID, lr.Messages[0].ConversationID
	// The contact now exists and can be addressed by contact_id.
	second, _ := s.send(t, `{"app_id":"sim-app","recipient":{"contact_id":"`+contact+`"},"message":{"text_message":{"text":"y"}}}`)
	s.send(t, sendBody(phone(1))) // DISPATCH_ONLY: not in the conversation store
	for _, q := range []struct{ k, v string }{{"contact_id", contact}, {"conversation_id", conversation}, {"", ""}} {
		if got := s.list(t, query(q.k, q.v)).ids(); !slices.Equal(got, []string{second, first}) {
			t.Errorf("filter %s: got %v, want [%s %s]", q.k, got, second, first)
		}
	}
	if got := s.list(t, query("conversation_id", "other")).ids(); len(got) != 0 {
		t.Errorf("other conversation: got %v, want none", got)
	}
}

func TestGetAndDeleteMessage(t *testing.T) {
	s := newSim(t, Config{PersistMessageStatus: true})
	id, accepted := s.send(t, sendBody(phone(1), `"message_metadata":"m1"`))
	path := listPath + "/" + id + "?messages_source=DISPATCH_SOURCE"

	r := s.mustDo(t, http.MethodGet, path, "", basicAuth)
	if r.status != 200 {
		t.Fatalf("get: got status %d (%s), want 200", r.status, r.body)
	}
	m := r.json(t)
	status, _ := m["message_status"].(map[string]any)
	want := map[string]any{"id": id, "direction": "TO_CONTACT", "accept_time": accepted, "metadata": "m1",
		"processing_mode": "DISPATCH", "injected": false, "conversation_id": "", "contact_id": ""}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("get: got %s %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["sender_id"]; ok {
		t.Errorf("get: got sender_id %v on an app message, want it left out", m["sender_id"])
	}
	if status["status"] != "DELIVERED" {
		t.Errorf("get: got message_status %v, want DELIVERED", m["message_status"])
	}
	if text := m["app_message"].(map[string]any)["text_message"].(map[string]any)["text"]; text != "hello" {
		t.Errorf("get: got app_message text %v, want hello", text)
	}
	ci := m["channel_identity"].(map[string]any)
	if ci["channel"] != "SMS" || ci["identity"] != phone(1) {
		t.Errorf("get: got channel_identity %v, want SMS %s", ci, phone(1))
	}

	// It is not in the conversation store.
	if r := s.mustDo(t, http.MethodGet, listPath+"/"+id, "", basicAuth); r.status != 404 {
		t.Errorf("get from CONVERSATION_SOURCE: got status %d, want 404", r.status)
	}
	if r := s.mustDo(t, http.MethodDelete, path, "", basicAuth); r.status != 200 {
		t.Fatalf("delete: got status %d (%s), want 200", r.status, r.body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		r := s.mustDo(t, method, path, "", basicAuth)
		if r.status != 404 || r.envelope(t).Error.Status != "NOT_FOUND" {
			t.Errorf("%s after delete: got %d %s, want 404 NOT_FOUND", method, r.status, r.body)
		}
	}
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")).ids(); len(got) != 0 {
		t.Errorf("list after delete: got %v, want none", got)
	}
}

func TestStoreBound(t *testing.T) {
	s := newSim(t, Config{MaxStoredMessages: 3})
	var ids []string
	for i := range 5 {
		id, _ := s.send(t, sendBody(phone(i)))
		ids = append(ids, id)
	}
	if got := s.list(t, query("messages_source", "DISPATCH_SOURCE")).ids(); !slices.Equal(got, []string{ids[4], ids[3], ids[2]}) {
		t.Errorf("got %v, want the 3 newest", got)
	}
}

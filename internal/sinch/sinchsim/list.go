package sinchsim

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

const (
	defaultPageSize = 10
	maxPageSize     = 1000
)

var (
	messageSources = []string{string(sinch.SourceConversation), string(sinch.SourceDispatch)}
	directions     = []string{string(sinch.DirectionToApp), string(sinch.DirectionToContact)}
	views          = []string{string(sinch.ViewWithMetadata), string(sinch.ViewWithoutMetadata)}
)

// listResponse is the body of GET messages.
type listResponse struct {
	Messages      []messageJSON `json:"messages"`
	NextPageToken string        `json:"next_page_token"`
}

// listQuery is a validated GET messages query.
type listQuery struct {
	source                              string
	conversationID, contactID, appID    string
	identity, channel, direction        string
	onlyRecipientOriginated, noMetadata bool
	start, end                          time.Time // zero: unbounded
	pageSize                            int
	before                              uint64 // from page_token; 0: first page
	filterHash                          uint64
}

// queryParam returns an optional query parameter, checked against values
// when values is non-nil.
func queryParam(q url.Values, name string, values []string) (string, error) {
	v := q.Get(name)
	if v != "" && values != nil && !slices.Contains(values, v) {
		return "", invalid(name, "invalid value %q, want one of %s", v, strings.Join(values, ", "))
	}
	return v, nil
}

func parseListQuery(q url.Values, pageKey []byte) (*listQuery, error) {
	lq := &listQuery{pageSize: defaultPageSize}
	var err error
	if lq.source, err = queryParam(q, "messages_source", messageSources); err != nil {
		return nil, err
	}
	if lq.source == "" {
		lq.source = string(sinch.SourceConversation)
	}
	lq.conversationID, lq.contactID = q.Get("conversation_id"), q.Get("contact_id")
	if lq.source == string(sinch.SourceDispatch) {
		for _, f := range []string{"conversation_id", "contact_id"} {
			if q.Get(f) != "" {
				return nil, invalid(f, "not supported with messages_source DISPATCH_SOURCE")
			}
		}
	}
	lq.appID, lq.identity = q.Get("app_id"), q.Get("channel_identity")
	if lq.channel, err = queryParam(q, "channel", channels); err != nil {
		return nil, err
	}
	if lq.direction, err = queryParam(q, "direction", directions); err != nil {
		return nil, err
	}
	view, err := queryParam(q, "view", views)
	if err != nil {
		return nil, err
	}
	lq.noMetadata = view == string(sinch.ViewWithoutMetadata)
	if v := q.Get("only_recipient_originated"); v != "" {
		if lq.onlyRecipientOriginated, err = strconv.ParseBool(v); err != nil {
			return nil, invalid("only_recipient_originated", "must be true or false")
		}
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"start_time", &lq.start}, {"end_time", &lq.end}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, invalid(p.name, "must be an RFC 3339 timestamp, e.g. 2024-02-22T07:40:46Z")
			}
		}
	}
	if !lq.start.IsZero() && !lq.end.IsZero() && !lq.start.Before(lq.end) {
		return nil, invalid("start_time", "must be before end_time")
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return nil, invalid("page_size", "must be an integer")
		case n > maxPageSize:
			return nil, invalid("page_size", "must be at most %d", maxPageSize)
		case n > 0:
			lq.pageSize = n
		}
	}
	lq.filterHash = filterHash(q)
	if tok := q.Get("page_token"); tok != "" {
		before, hash, ok := decodePageToken(tok, pageKey)
		if !ok {
			return nil, invalid("page_token", "invalid page token")
		}
		if hash != lq.filterHash {
			return nil, invalid("page_token", "the other query parameters differ from the request that returned this token")
		}
		lq.before = before
	}
	return lq, nil
}

// filterHash fingerprints the parameters that select messages, so a page
// token is only honoured with the query it came from. page_size may change
// between pages.
func filterHash(q url.Values) uint64 {
	h := fnv.New64a()
	for _, name := range []string{"messages_source", "conversation_id", "contact_id", "app_id",
		"channel_identity", "start_time", "end_time", "view", "only_recipient_originated", "channel", "direction"} {
		h.Write([]byte(name + "=" + q.Get(name) + "&"))
	}
	return h.Sum64()
}

// A page token is base64url(before | filterHash | MAC): the sequence
// number to continue below, so new messages don't shift pages, and a MAC
// so tokens we did not issue are refused.
func encodePageToken(before, hash uint64, key []byte) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], before)
	binary.BigEndian.PutUint64(b[8:], hash)
	copy(b[16:], truncatedMAC(key, b[:16], 8))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodePageToken(tok string, key []byte) (before, hash uint64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 24 || !hmac.Equal(b[16:], truncatedMAC(key, b[:16], 8)) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[8:]), true
}

// source returns the store a messages_source names and the oldest accept
// time it still shows (older messages are past retention).
func (s *Server) source(name string, now time.Time) (*store, time.Time) {
	if name == string(sinch.SourceDispatch) {
		days := s.retentionDays.Load()
		return s.dispatch, now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	return s.conv, now.Add(-conversationRetention)
}

// handleList serves GET messages.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	lq, err := parseListQuery(r.URL.Query(), s.pageKey[:])
	if err != nil {
		writeInvalid(w, err)
		return
	}
	now := s.now()
	st, cutoff := s.source(lq.source, now)
	keep := func(m *message) bool {
		switch {
		case !m.acceptTime.After(cutoff),
			lq.appID != "" && m.appID != lq.appID,
			lq.conversationID != "" && m.conversationID != lq.conversationID,
			lq.contactID != "" && m.contactID != lq.contactID,
			lq.identity != "" && m.identityAt(now).Identity != lq.identity,
			lq.channel != "" && m.identityAt(now).Channel != lq.channel,
			lq.direction != "" && m.direction != lq.direction,
			lq.onlyRecipientOriginated && m.direction != toApp,
			!lq.start.IsZero() && m.acceptTime.Before(lq.start),
			!lq.end.IsZero() && !m.acceptTime.Before(lq.end):
			return false
		}
		return true
	}
	page, more := st.page(lq.before, lq.pageSize, keep)
	resp := listResponse{Messages: make([]messageJSON, len(page))}
	for i, m := range page {
		resp.Messages[i] = m.toJSON(now, !lq.noMetadata, s.cfg.PersistMessageStatus)
	}
	if more {
		resp.NextPageToken = encodePageToken(page[len(page)-1].seq, lq.filterHash, s.pageKey[:])
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleMessage serves GET and DELETE messages/{message_id}.
func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		methodNotAllowed(w, http.MethodGet, http.MethodDelete)
		return
	}
	source, err := queryParam(r.URL.Query(), "messages_source", messageSources)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	id := r.PathValue("message_id")
	now := s.now()
	st, cutoff := s.source(source, now)
	m := st.get(id)
	if m == nil || !m.acceptTime.After(cutoff) {
		writeError(w, http.StatusNotFound, "message "+id+" not found")
		return
	}
	if r.Method == http.MethodDelete {
		st.delete(id)
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, m.toJSON(now, true, s.cfg.PersistMessageStatus))
}

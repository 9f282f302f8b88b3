// Package tracking learns what happened to a campaign's messages after Sinch
// accepted them, by listing the app's messages in Sinch's dispatch store
// (messages_source=DISPATCH_SOURCE), and records it per recipient as a
// campaign.Outcome: stored at Sinch, replies, and opt-outs (which also go on
// the suppression list).
//
// Listing tells delivery (delivered, read, failed) only when the app
// persists message status (persist_message_status, off by default): then
// each listed app message carries message_status. Otherwise message_status
// is null, and delivery is told by the MESSAGE_DELIVERY receipts the
// webhook records; a Tracker then records only what listing can tell. A
// failed delivery never shows up as an inbound message: a contact message
// with fallback_message is one the channel could not map, so it counts as a
// reply.
//
// Sinch keeps DISPATCH messages only as long as the app's
// dispatch_retention_policy.ttl_days says; with 0 (Sinch's default) nothing
// is stored and nothing can be listed. A Tracker checks this first and
// returns a *RetentionError rather than reporting an empty store as success.
package tracking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

// Client is the part of *sinch.Client a Tracker uses.
type Client interface {
	GetAppByID(ctx context.Context, appID string) (*sinch.App, error)
	ListMessages(ctx context.Context, params sinch.ListMessagesParams) (*sinch.ListMessagesResponse, error)
}

// Defaults for Config.
const (
	DefaultMargin      = 5 * time.Minute
	DefaultReplyWindow = 72 * time.Hour
	DefaultAppCacheTTL = 5 * time.Minute
	// maxThrottled bounds consecutive 429s on one page before a pass gives up.
	maxThrottled = 20
)

// DefaultStopKeywords are the replies that opt a recipient out.
var DefaultStopKeywords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET"}

// Config configures a Tracker.
type Config struct {
	// AppID is the Sinch app whose messages are listed for a campaign that
	// names none (SINCH_APP_ID); a campaign's own app wins. Required.
	AppID string
	// StopKeywords are replies that opt a recipient out (case and accents
	// ignored). Defaults to DefaultStopKeywords.
	StopKeywords []string
	// Margin widens the listed time window on both sides of the campaign's
	// sends, for clock skew between this system and Sinch. Defaults to
	// DefaultMargin.
	Margin time.Duration
	// ReplyWindow is how long after the last send replies are looked for,
	// and how long after its message a contact message without reply_to is
	// taken as a reply to it. Defaults to DefaultReplyWindow.
	ReplyWindow time.Duration
	// AppCacheTTL is how long the app's retention policy is trusted before
	// GetApp is called again. Defaults to DefaultAppCacheTTL.
	AppCacheTTL time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// OnPage, if set, is called after each page listed (for metrics).
	OnPage func()
}

// Tracker runs tracking passes. It is safe for concurrent use.
type Tracker struct {
	client  Client
	store   *campaign.Store
	budgets sinchcall.Budgets
	cfg     Config
	stop    map[string]bool

	mu   sync.Mutex
	apps map[string]appInfo // by app ID
}

// appInfo is what GET app said about an app's retention.
type appInfo struct {
	at            time.Time
	ttlDays       int
	persistStatus bool
}

// New returns a Tracker; cfg is validated. budgets are the request budgets,
// shared with the sends: Sinch's 800 requests/s is per project across every
// endpoint, so every call takes a token from the project's and from the
// campaign's app's budget.
func New(client Client, store *campaign.Store, budgets sinchcall.Budgets, cfg Config) (*Tracker, error) {
	switch {
	case client == nil || store == nil || budgets == nil:
		return nil, errors.New("tracking: client, store and budgets are required")
	case cfg.AppID == "":
		return nil, errors.New("tracking: AppID is required")
	case cfg.Margin < 0, cfg.ReplyWindow < 0, cfg.AppCacheTTL < 0:
		return nil, errors.New("tracking: Margin, ReplyWindow and AppCacheTTL must not be negative")
	}
	if cfg.StopKeywords == nil {
		cfg.StopKeywords = DefaultStopKeywords
	}
	if cfg.Margin == 0 {
		cfg.Margin = DefaultMargin
	}
	if cfg.ReplyWindow == 0 {
		cfg.ReplyWindow = DefaultReplyWindow
	}
	if cfg.AppCacheTTL == 0 {
		cfg.AppCacheTTL = DefaultAppCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	stop := map[string]bool{}
	for _, k := range cfg.StopKeywords {
		if k = foldWord(k); k != "" {
			stop[k] = true
		}
	}
	return &Tracker{client: client, store: store, budgets: budgets, cfg: cfg, stop: stop, apps: map[string]appInfo{}}, nil
}

// ErrNoRetention matches a *RetentionError with errors.Is.
var ErrNoRetention = errors.New("sinch stores no dispatch messages for this app")

// RetentionError says that the app's dispatch retention is 0 days: Sinch
// keeps nothing sent in DISPATCH mode, so no outcome can be listed.
type RetentionError struct{ AppID string }

func (e *RetentionError) Error() string {
	return fmt.Sprintf("sinch stores nothing for app %s in DISPATCH mode (dispatch_retention_policy.ttl_days is 0), "+
		"so no message can be listed and outcomes cannot be tracked; to track, set the app's dispatch retention "+
		"to 1-7 days: in the Sinch dashboard (Conversation API > Apps > the app > Dispatch retention policy), or "+
		`PATCH /v1/projects/{project_id}/apps/%s with {"dispatch_retention_policy":{"retention_type":"MESSAGE_EXPIRE_POLICY","ttl_days":7}}`+
		" (only messages sent after the change can be tracked)", e.AppID, e.AppID)
}

// Is makes errors.Is(err, ErrNoRetention) true.
func (e *RetentionError) Is(target error) bool { return target == ErrNoRetention }

// Report says what one pass saw and changed.
type Report struct {
	CampaignID string    `json:"campaign_id"`
	From       time.Time `json:"from,omitzero"` // the listed window
	To         time.Time `json:"to,omitzero"`
	Pages      int64     `json:"pages"`    // list calls made
	Messages   int64     `json:"messages"` // messages listed, any campaign
	Matched    int64     `json:"matched"`  // messages of this campaign: ours, and replies to them
	// StatusFromListing says the app persists message status, so listed
	// messages told delivery; otherwise only receipts do.
	StatusFromListing bool `json:"status_from_listing"`
	// Changed counts recipients whose outcome moved, by the outcome they
	// moved to. A recipient whose outcome moved twice in one pass (e.g. to
	// delivered, then to replied) counts under both.
	Changed map[campaign.Outcome]int64 `json:"changed"`
	// SuppressedAdded counts identities newly put on the suppression list
	// after an opt-out reply.
	SuppressedAdded int64 `json:"suppressed_added"`
	// Note explains a pass that listed nothing although the app retains
	// messages (e.g. nothing sent yet).
	Note string `json:"note,omitempty"`
}

// ChangedTotal is the number of outcome changes in the pass.
func (r Report) ChangedTotal() int64 {
	var n int64
	for _, v := range r.Changed {
		n += v
	}
	return n
}

// Track runs one pass for a campaign: it lists the app's dispatch messages
// from shortly before the campaign's first send to now (or to ReplyWindow
// after its last send), following every page, and records what it learns.
// Every Sinch call takes a token from the shared limiter. With dispatch
// retention 0 it lists nothing and returns a *RetentionError.
func (t *Tracker) Track(ctx context.Context, id string) (Report, error) {
	rep := Report{CampaignID: id, Changed: map[campaign.Outcome]int64{}}
	def, err := t.store.Get(ctx, id)
	if err != nil {
		return rep, err
	}
	app := cmp.Or(def.App, t.cfg.AppID)
	limiter := sinchcall.New(t.budgets.For(app), 0)
	persist, err := t.checkApp(ctx, limiter, app)
	if err != nil {
		if errors.Is(err, ErrNoRetention) {
			t.store.SetTrackInfo(ctx, id, campaign.TrackInfo{Warning: err.Error()})
		}
		return rep, err
	}
	rep.StatusFromListing = persist
	first, last, err := t.store.SendSpan(ctx, id)
	if err != nil {
		return rep, err
	}
	if first.IsZero() {
		rep.Note = "nothing sent yet: no message to look for"
		return rep, nil
	}
	now := t.cfg.Now().UTC()
	rep.From = first.Add(-t.cfg.Margin)
	rep.To = now
	if end := last.Add(t.cfg.Margin + t.cfg.ReplyWindow); end.Before(now) {
		rep.To = end
	}
	if !rep.From.Before(rep.To) {
		rep.Note = "the campaign's send window is in the future (clock skew?)"
		return rep, nil
	}
	params := sinch.ListMessagesParams{
		AppID: app, MessagesSource: sinch.SourceDispatch,
		StartTime: rep.From, EndTime: rep.To, PageSize: sinch.MaxPageSize,
	}
	for {
		page, err := t.listPage(ctx, limiter, params)
		if err != nil {
			return rep, fmt.Errorf("list messages (page %d): %w", rep.Pages+1, err)
		}
		rep.Pages++
		if t.cfg.OnPage != nil {
			t.cfg.OnPage()
		}
		rep.Messages += int64(len(page.Messages))
		if err := t.reconcile(ctx, id, page.Messages, persist, &rep); err != nil {
			return rep, err
		}
		if page.NextPageToken == "" {
			break
		}
		if page.NextPageToken == params.PageToken {
			return rep, errors.New("list messages: sinch returned the page token it was given")
		}
		params.PageToken = page.NextPageToken
	}
	if err := t.store.SetTrackInfo(ctx, id, campaign.TrackInfo{At: now, Pages: rep.Pages, Messages: rep.Messages}); err != nil {
		return rep, err
	}
	return rep, nil
}

// listPage fetches one page, taking a token from the shared budget first,
// and waits out 429s through the limiter (which slows every worker too).
func (t *Tracker) listPage(ctx context.Context, limiter sinchcall.Caller, p sinch.ListMessagesParams) (*sinch.ListMessagesResponse, error) {
	for attempt := 1; ; attempt++ {
		var page *sinch.ListMessagesResponse
		err := limiter.Do(ctx, func(ctx context.Context) (err error) {
			page, err = t.client.ListMessages(ctx, p)
			return err
		})
		if err == nil {
			return page, nil
		}
		if !sinch.IsRateLimited(err) || attempt >= maxThrottled {
			return nil, err
		}
	}
}

// checkApp asks Sinch (at most every AppCacheTTL) whether the app keeps
// dispatch messages at all, and whether it persists message status.
func (t *Tracker) checkApp(ctx context.Context, limiter sinchcall.Caller, appID string) (persistStatus bool, err error) {
	t.mu.Lock()
	info, known := t.apps[appID]
	t.mu.Unlock()
	if !known || t.cfg.Now().Sub(info.at) >= t.cfg.AppCacheTTL {
		var app *sinch.App
		err = limiter.Do(ctx, func(ctx context.Context) (err error) {
			if app, err = t.client.GetAppByID(ctx, appID); err != nil {
				return fmt.Errorf("get app: %w", err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		info = appInfo{at: t.cfg.Now(), ttlDays: app.DispatchRetentionPolicy.TTLDays, persistStatus: app.PersistMessageStatus.Enabled}
		t.mu.Lock()
		t.apps[appID] = info
		t.mu.Unlock()
	}
	if info.ttlDays <= 0 {
		return false, &RetentionError{AppID: appID}
	}
	return info.persistStatus, nil
}

// found is one listed message linked to one of our recipients.
type found struct {
	msg *sinch.ConversationMessage
	rk  string
}

// reconcile turns one page of listed messages into outcome updates;
// persist says whether their message_status may be believed.
func (t *Tracker) reconcile(ctx context.Context, id string, msgs []sinch.ConversationMessage, persist bool, rep *Report) error {
	// Message IDs to look up: our app messages, and the messages contact
	// messages reply to.
	var lookups []string
	var lookupMsgs []*sinch.ConversationMessage
	// Contact messages without reply_to, matched by channel identity.
	var byIdentity []*sinch.ConversationMessage
	var identityKeys []string
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.AppMessage != nil || m.Direction == sinch.DirectionToContact:
			if m.Metadata != "" && m.Metadata != id {
				continue // another campaign's message (message_metadata is the campaign ID)
			}
			lookups, lookupMsgs = append(lookups, m.ID), append(lookupMsgs, m)
		case m.ContactMessage != nil:
			if rt := m.ContactMessage.ReplyTo; rt != nil && rt.MessageID != "" {
				lookups, lookupMsgs = append(lookups, rt.MessageID), append(lookupMsgs, m)
			} else if rk := identityKey(m.ChannelIdentity); rk != "" {
				byIdentity, identityKeys = append(byIdentity, m), append(identityKeys, rk)
			}
		}
	}
	rks, known, err := t.store.KeysForMessages(ctx, id, lookups)
	if err != nil {
		return err
	}
	var hits []found
	for i, rk := range rks {
		if known[i] {
			hits = append(hits, found{msg: lookupMsgs[i], rk: rk})
		}
	}
	// A contact message without reply_to counts as a reply to our message
	// to the same identity when it came after it, within ReplyWindow.
	if len(byIdentity) > 0 {
		recs, ok, err := t.store.RecordsOf(ctx, id, identityKeys)
		if err != nil {
			return err
		}
		for i, m := range byIdentity {
			r := recs[i]
			if !ok[i] || r.MessageID == "" || r.AcceptedTime.IsZero() {
				continue
			}
			if m.AcceptTime.Before(r.AcceptedTime.Add(-time.Second)) || m.AcceptTime.After(r.AcceptedTime.Add(t.cfg.ReplyWindow)) {
				continue
			}
			hits = append(hits, found{msg: m, rk: identityKeys[i]})
		}
	}
	if len(hits) == 0 {
		return nil
	}
	rep.Matched += int64(len(hits))

	// One update per recipient per page: the strongest seen.
	best := map[string]campaign.OutcomeUpdate{}
	var order []string
	var optOuts []found
	for _, h := range hits {
		u, ok := t.outcomeOf(h.msg, persist)
		if !ok {
			continue
		}
		u.Key = h.rk
		if ci := h.msg.ChannelIdentity; ci != nil {
			// The channel of a delivery, or of the reply that proves one:
			// with channel fallback, the channel that reached the recipient.
			u.Channel = ci.Channel
		}
		if u.Outcome == campaign.OutcomeOptedOut {
			optOuts = append(optOuts, h)
		}
		cur, seen := best[h.rk]
		if !seen {
			order = append(order, h.rk)
		}
		if !seen || u.Outcome.Rank() > cur.Outcome.Rank() ||
			(u.Outcome == cur.Outcome && cur.Reason == "" && u.Reason != "") {
			best[h.rk] = u
		}
	}
	ups := make([]campaign.OutcomeUpdate, len(order))
	for i, rk := range order {
		ups[i] = best[rk]
	}
	changed, err := t.store.SetOutcomes(ctx, id, ups)
	if err != nil {
		return err
	}
	for i, c := range changed {
		if c {
			rep.Changed[ups[i].Outcome]++
		}
	}
	return t.suppress(ctx, id, optOuts, rep)
}

// outcomeOf reads what one of our listed messages says about its
// recipient; persist says whether message_status may be believed.
func (t *Tracker) outcomeOf(m *sinch.ConversationMessage, persist bool) (campaign.OutcomeUpdate, bool) {
	if cm := m.ContactMessage; cm != nil {
		// Any answer is a reply, including a fallback_message (one the
		// channel could not map): it is inbound, not a delivery failure.
		if t.isStop(contactText(cm)) {
			return campaign.OutcomeUpdate{Outcome: campaign.OutcomeOptedOut}, true
		}
		return campaign.OutcomeUpdate{Outcome: campaign.OutcomeReplied}, true
	}
	// Our own message: Sinch has it. Its message_status says more only for
	// an app that persists message status; otherwise receipts tell.
	u := campaign.OutcomeUpdate{Outcome: campaign.OutcomeStored}
	if ms := m.MessageStatus; persist && ms != nil {
		if d, ok := campaign.DeliveryUpdate(ms.Status, ms.Reason); ok {
			u = d
		}
	}
	return u, true
}

// suppress puts opted-out recipients on the suppression list: the
// recipient's identity and, when the STOP came on another channel (a
// fallback campaign's SMS), that channel's identity too.
func (t *Tracker) suppress(ctx context.Context, id string, outs []found, rep *Report) error {
	if len(outs) == 0 {
		return nil
	}
	rks := make([]string, len(outs))
	for i, o := range outs {
		rks[i] = o.rk
	}
	recs, ok, err := t.store.RecordsOf(ctx, id, rks)
	if err != nil {
		return err
	}
	for i, r := range recs {
		if !ok[i] || r.Identity == "" {
			continue
		}
		sups := []campaign.Suppression{{Channel: r.Channel, Identity: r.Identity}}
		if ch, ident, ok := normalIdentity(outs[i].msg.ChannelIdentity); ok && (ch != r.Channel || ident != r.Identity) {
			sups = append(sups, campaign.Suppression{Channel: ch, Identity: ident})
		}
		for _, sup := range sups {
			sup.Reason = "replied STOP to campaign " + id
			added, err := t.store.Suppress(ctx, sup)
			if err != nil {
				return err
			}
			if added {
				rep.SuppressedAdded++
			}
		}
	}
	return nil
}

// identityKey is the recipient key of a contact's channel identity,
// normalised as the CSV reader does; "" when it cannot be ours.
func identityKey(ci *sinch.ChannelIdentity) string {
	ch, id, ok := normalIdentity(ci)
	if !ok {
		return ""
	}
	return campaign.RecipientKey(ch, id)
}

// normalIdentity is a listed channel identity normalised as the CSV
// reader does; ok is false when it cannot be ours.
func normalIdentity(ci *sinch.ChannelIdentity) (sinch.Channel, string, bool) {
	if ci == nil || ci.Identity == "" || ci.Channel == "" {
		return "", "", false
	}
	raw := ci.Identity
	if ci.Channel.PhoneBased() && !strings.HasPrefix(raw, "+") {
		raw = "+" + raw // Sinch may list an MSISDN without its "+"
	}
	id, err := recipients.NormalizeIdentity(ci.Channel, raw, "")
	if err != nil {
		return "", "", false
	}
	return ci.Channel, id, true
}

// contactText is the text of a contact message, if it has any.
func contactText(cm *sinch.ContactMessage) string {
	switch {
	case cm.TextMessage != nil:
		return cm.TextMessage.Text
	case cm.ChoiceResponseMessage != nil:
		return cm.ChoiceResponseMessage.PostbackData
	case cm.MediaCardMessage != nil:
		return cm.MediaCardMessage.Caption
	}
	return ""
}

// isStop reports whether a reply opts out: its first word is a stop keyword
// (case, accents and punctuation ignored) and at most one more word follows
// ("STOP", "stop.", "Stop please", "arrêt"), so "don't stop" or "the end of
// an era" do not.
func (t *Tracker) isStop(text string) bool {
	words := strings.Fields(text)
	if len(words) == 0 || len(words) > 2 {
		return false
	}
	return t.stop[foldWord(words[0])]
}

// foldWord upper-cases a word, drops surrounding punctuation and folds the
// accented Latin letters stop keywords use (ARRÊT → ARRET).
func foldWord(w string) string {
	w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	return strings.Map(func(r rune) rune {
		r = unicode.ToUpper(r)
		if f, ok := accents[r]; ok {
			return f
		}
		return r
	}, w)
}

var accents = map[rune]rune{
	'À': 'A', 'Â': 'A', 'Ä': 'A', 'Á': 'A', 'Ã': 'A', 'Ç': 'C', 'É': 'E', 'È': 'E', 'Ê': 'E', 'Ë': 'E',
	'Î': 'I', 'Ï': 'I', 'Í': 'I', 'Ô': 'O', 'Ö': 'O', 'Ó': 'O', 'Õ': 'O', 'Ù': 'U', 'Û': 'U', 'Ü': 'U', 'Ú': 'U',
	'Ñ': 'N',
}

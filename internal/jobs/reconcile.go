package jobs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinchcall"
)

// A send is "in doubt" when an earlier attempt may have reached Sinch
// without its answer being recorded: the worker died (SIGKILL, crash) or
// Redis went away between the request and MarkSent, or the connection
// failed after the request was written (reset, timeout, response lost).
// Sending again would message the recipient twice if Sinch had accepted
// it, so before a retry of such a send the handler asks Sinch: it lists
// the app's DISPATCH_SOURCE messages to the recipient's channel identity
// and looks for one carrying this campaign's message_metadata. Found, it
// records that message as the send and sends nothing. This needs the app's
// dispatch retention above 0 days; with 0, Sinch stores nothing, the list
// is empty and the send goes out again, as without reconciliation.

// messageLister lists stored messages (implemented by *sinch.Client).
type messageLister interface {
	Messages(ctx context.Context, p sinch.ListMessagesParams) iter.Seq2[*sinch.ConversationMessage, error]
}

// ReconciledLog is logged when Sinch turns out to have accepted an earlier
// attempt (the fault harness counts these lines).
const ReconciledLog = "send reconciled: sinch had accepted an earlier attempt, not sent again"

// answeredRE matches the reason recorded for an attempt Sinch answered
// with an HTTP status (see reason): such an attempt was definitely not
// accepted.
var answeredRE = regexp.MustCompile(`^[1-5][0-9][0-9] `)

// notSentReason starts the reason recorded for an attempt that gave up
// before calling Sinch (e.g. the rate-limit wait timed out).
const notSentReason = "not sent: "

// inDoubt reports whether the attempt before this one may have been
// accepted by Sinch without it being recorded. rec is the recipient's
// record (found says whether it exists); attempt is this attempt's number.
func inDoubt(rec campaign.Record, found bool, attempt int) bool {
	switch {
	case attempt <= 1:
		return false
	case !found || rec.Attempts < attempt-1:
		// The last attempt left no result: the process or Redis went away
		// mid-send.
		return true
	}
	return !answeredRE.MatchString(rec.Error) && !strings.HasPrefix(rec.Error, notSentReason)
}

// reconcile runs before a send. It reports done when the recipient turned
// out to be accepted already (and is now recorded so), or an error for
// Asynq when the check itself must be retried later. First attempts cost
// nothing: no Redis read, no API call.
func (h *SendHandler) reconcile(ctx context.Context, limiter sinchcall.Caller, p SendPayload, attempt int, token string) (done bool, err error) {
	if attempt <= 1 {
		return false, nil
	}
	lister, ok := h.sender.(messageLister)
	if !ok {
		return false, nil
	}
	rec, err := h.store.Record(ctx, p.CampaignID, p.Key)
	found := err == nil
	if err != nil && !errors.Is(err, campaign.ErrRecipientNotFound) {
		return false, &deferred{err: fmt.Errorf("read recipient record: %w", err), failure: true}
	}
	if !inDoubt(rec, found, attempt) {
		return false, nil
	}
	// Listing counts against the project's request rate like a send.
	var m *sinch.ConversationMessage
	err = limiter.Do(ctx, func(ctx context.Context) (err error) {
		m, err = findAccepted(ctx, lister, h.app(p), p)
		return err
	})
	var waitErr *sinchcall.WaitError
	switch {
	case errors.As(err, &waitErr):
		return false, &deferred{err: err, delay: time.Second}
	case sinch.IsRateLimited(err):
		return false, &deferred{err: fmt.Errorf("reconcile: %w", err), delay: sinch.RetryAfter(err)}
	case err != nil:
		// Not knowing must not block the campaign: send, as without
		// reconciliation, and say so.
		h.logger.WarnContext(ctx, "could not check whether sinch accepted an earlier attempt; sending again",
			"campaign_id", p.CampaignID, "recipient", p.Key, "err", err)
		return false, nil
	case m == nil:
		return false, nil
	}
	sent, err := h.recordAccepted(ctx, p, token, campaign.Record{
		Row: p.Row, Channel: p.Channel, Identity: p.Identity,
		MessageID: m.ID, AcceptedTime: m.AcceptTime, Attempts: attempt - 1,
	})
	if err != nil {
		return false, &deferred{err: fmt.Errorf("record reconciled send: %w", err), failure: true}
	}
	if sent.Paused {
		h.logAutoPause(ctx, p.CampaignID, sent.Reason)
	}
	h.logger.WarnContext(ctx, ReconciledLog, "campaign_id", p.CampaignID, "recipient", p.Key, "message_id", m.ID)
	return true, nil
}

// recordAcceptedFor is how long recordAccepted keeps trying by default:
// long enough for Redis to restart, short of the shutdown timeout.
const recordAcceptedFor = 10 * time.Second

// recordAccepted records a send Sinch accepted (recordAll).
func (h *SendHandler) recordAccepted(ctx context.Context, p SendPayload, token string, rec campaign.Record) (campaign.Sent, error) {
	p.smsRecord(&rec)
	out, err := h.recordAll(ctx, p.CampaignID, []campaign.Accepted{{Lock: campaign.Lock{Key: p.Key, Token: token}, Record: rec}})
	if err != nil {
		return campaign.Sent{}, err
	}
	return out[0], nil
}

// recordAll records sends of one campaign Sinch accepted, in one round
// trip. A failed write is tried again for h.recordFor, so a Redis restart
// does not leave an accepted recipient pending; past that the caller has
// the task run again, and that attempt, in doubt, is reconciled.
func (h *SendHandler) recordAll(ctx context.Context, campaignID string, sends []campaign.Accepted) (sent []campaign.Sent, err error) {
	ctx = context.WithoutCancel(ctx) // Sinch has them: record them even on shutdown
	deadline := time.Now().Add(h.recordFor)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		sent, err = h.store.FinishSents(ctx, campaignID, sends)
		if err == nil || time.Now().Add(wait).After(deadline) {
			return sent, err
		}
		time.Sleep(wait)
	}
}

// findAccepted is the message Sinch stored for this campaign and
// recipient, or nil. A campaign sends each channel identity at most once,
// so the campaign ID in message_metadata identifies our message (the list
// does not return correlation_id).
func findAccepted(ctx context.Context, l messageLister, appID string, p SendPayload) (*sinch.ConversationMessage, error) {
	params := sinch.ListMessagesParams{
		AppID: appID, ChannelIdentity: p.Identity, Channel: p.Channel,
		MessagesSource: sinch.SourceDispatch, Direction: sinch.DirectionToContact,
	}
	for m, err := range l.Messages(ctx, params) {
		if err != nil {
			return nil, err
		}
		if m.AppMessage != nil && m.Metadata == p.CampaignID &&
			(m.ChannelIdentity == nil || (m.ChannelIdentity.Identity == p.Identity && m.ChannelIdentity.Channel == p.Channel)) {
			return m, nil
		}
	}
	return nil, nil
}

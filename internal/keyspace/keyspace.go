// Package keyspace is the Redis key layout of everything this project keeps
// next to asynq's own keys (those start with "asynq:" and are asynq's
// business). Every key name is built here and nowhere else, so the layout
// can be read, and changed, in one file.
//
// The package imports nothing of the project: the campaign store, the
// schedule and webhook handlers and the CLI's rate limiter all import it,
// and campaign is imported by those packages in turn, so the layout cannot
// live in campaign without some package having to reach past it.
//
// Layout and lifetimes (docs/operations.md, "Redis keys", is the operator's
// copy of this list). A pending recipient costs Redis its record here and
// its share of a chunk task in asynq's keys (jobs.TypeChunk); see
// enqueue.BytesPerRecipient:
//
//	sd:campaigns                 zset  campaign index                     no TTL (see Campaigns)
//	sd:suppress                  hash  suppression list                   no TTL (see Suppress)
//	sd:{id}:…                    one campaign's keys (see Campaign)       campaign retention, locks shorter
//	sd:schedule:task:<task ID>   string schedule firing → campaign ID     schedule marker TTL
//	sd:schedule:fired:<id>       string firing claim of campaign <id>     schedule marker TTL
//	sd:webhook:nonce:<nonce>     string callback nonce seen               webhook tolerance window
//	sd:idem:<hash>               string Idempotency-Key claim or answer   lease while running, 24h once answered
//	sd:feed:apps                 set   apps whose campaigns have a feed   campaign retention, refreshed by each push
//	sd:feed:{<app>}:…            one app's feed of chunks (see Feed)      campaign retention, refreshed; lock shorter
//	sinch:<project>:<app>        hash  one app's shared Sinch budget      set by the limiter's script
//	sinch:<project>              hash  the project's shared Sinch budget  set by the limiter's script
package keyspace

import "strings"

// Prefix namespaces the project's keys.
const Prefix = "sd:"

const (
	// Campaigns is the campaign index: a sorted set of campaign IDs scored
	// by creation time (unix seconds). It has no TTL because it lists
	// campaigns of every age; the campaign store drops an ID when the
	// campaign's definition has expired.
	Campaigns = Prefix + "campaigns"
	// Suppress is the suppression list, a hash of "channel:identity" to
	// the reason. It has no TTL on purpose: someone who answered STOP to
	// one campaign must not get the next one, however much later.
	Suppress = Prefix + "suppress"
)

// Campaign is the keys of one campaign. The campaign ID sits in a {hash
// tag}, so all of them map to one cluster slot and a Lua script may take
// several of them in KEYS.
type Campaign struct {
	tag string // "sd:{id}:"

	Def             string // hash: definition JSON, control (pause/cancel) and auto-pause settings
	Counters        string // hash: upload and per-status counts, attempts, first/last send second
	Status          string // hash: recipient key → status; none while pending (pending is implicit)
	Records         string // hash: recipient key → record: "row|channel|identity" while pending, else JSON
	MessageIDs      string // hash: Sinch message ID → recipient key
	SentPerSecond   string // hash: unix second → sends Sinch accepted in it
	Attempts        string // hash: recipient key → send attempts
	AutoPause       string // list: the auto-pause window of recent final outcomes
	Outcomes        string // hash: recipient key → outcome
	OutcomeCounters string // hash: per-outcome and per-reason counts, last tracking pass
	TrackLock       string // string: tracking pass lock (its own short TTL)
	Audit           string // list: operator actions, newest first, capped
}

// ForCampaign returns the keys of campaign id.
func ForCampaign(id string) Campaign {
	p := Prefix + "{" + id + "}:"
	return Campaign{
		tag:             p,
		Def:             p + "def",
		Counters:        p + "n",
		Status:          p + "st",
		Records:         p + "rec",
		MessageIDs:      p + "mid",
		SentPerSecond:   p + "ts",
		Attempts:        p + "att",
		AutoPause:       p + "apw",
		Outcomes:        p + "oc",
		OutcomeCounters: p + "ocn",
		TrackLock:       p + "tracklock",
		Audit:           p + "audit",
	}
}

// Lock is the claim lock of one recipient while a worker sends to it (its
// own short TTL).
func (c Campaign) Lock(recipientKey string) string { return c.tag + "lock:" + recipientKey }

// Run is the set of recipient keys one upload has seen, which tells a
// repeat inside one CSV from a recipient of an earlier upload (its own TTL,
// dropped when the upload ends).
func (c Campaign) Run(runID string) string { return c.tag + "run:" + runID }

// Retained lists the keys that live as long as the campaign: each carries
// the campaign's retention TTL. Locks and upload sets are not listed: they
// carry shorter TTLs of their own.
func (c Campaign) Retained() []string {
	return []string{c.Def, c.Counters, c.Status, c.Records, c.MessageIDs, c.SentPerSecond,
		c.Attempts, c.AutoPause, c.Outcomes, c.OutcomeCounters, c.Audit}
}

// CampaignOf returns the campaign ID of a key of ForCampaign, and false for
// any other key.
func CampaignOf(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, Prefix+"{")
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, "}:")
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// FeedApps is the set of apps (the configured app as "") that have had a
// feed, so a worker finds an app's campaigns before any of their chunks
// reach asynq (jobs' feeder).
const FeedApps = Prefix + "feed:apps"

// Feed is the keys of one app's feed: the chunks of its campaigns waiting
// for the feeder (internal/jobs, feed.go) to move them into asynq. The app
// sits in a {hash tag}, so one Lua script may take all of them on a
// cluster. The keys do not start with "sd:{", so CampaignOf does not read
// them as a campaign's.
type Feed struct {
	tag string // "sd:feed:{app}:"

	Feeding string // list: entries moved out of a campaign's feed and not yet in asynq
	Lock    string // string: the feeder lock of the app (its own short TTL)
}

// defaultAppTag stands for the workers' configured app (""), which an app
// ID cannot spell (sinch.ValidateAppID allows no '~'): an empty {} would
// not be a hash tag.
const defaultAppTag = "~"

// ForFeed returns the feed keys of app ("": the workers' configured app).
func ForFeed(app string) Feed {
	if app == "" {
		app = defaultAppTag
	}
	p := Prefix + "feed:{" + app + "}:"
	return Feed{tag: p, Feeding: p + "feeding", Lock: p + "lock"}
}

// Ring is the sorted set of the app's campaigns of priority ("high",
// "normal") with chunks in their feed, scored by when each was last fed
// (unix ms), so the least recently fed comes first: round robin.
func (f Feed) Ring(priority string) string { return f.tag + "ring:" + priority }

// Campaign is the list of campaign id's chunks waiting to be fed, the next
// first.
func (f Feed) Campaign(id string) string { return f.tag + "c:" + id }

// IDs is the set of the task IDs in campaign id's feed, so a chunk offered
// twice (a re-run upload) is fed once.
func (f Feed) IDs(id string) string { return f.tag + "ids:" + id }

// Schedule firing markers (internal/schedule).
const schedulePrefix = Prefix + "schedule:"

// ScheduleTask maps one firing task (asynq task ID) to the campaign ID its
// first execution chose, so its retries keep it.
func ScheduleTask(taskID string) string { return schedulePrefix + "task:" + taskID }

// ScheduleFired marks the firing of campaign id as claimed ("run:<task
// ID>") or done, so only one copy of a firing enqueues.
func ScheduleFired(campaignID string) string { return schedulePrefix + "fired:" + campaignID }

// WebhookNonce remembers a delivery callback's nonce, so a replayed
// callback is refused (internal/webhook).
func WebhookNonce(nonce string) string { return Prefix + "webhook:nonce:" + nonce }

// IdempotencyPrefix starts the keys of the HTTP API's Idempotency-Key
// store (internal/idempotency), one per client and key.
const IdempotencyPrefix = Prefix + "idem:"

// RateLimit is the budget every process sending for one Sinch app shares
// (internal/ratelimit). It keeps the name it has always had, outside the
// "sd:" prefix: workers of two releases running side by side during an
// upgrade must draw from one budget.
func RateLimit(projectID, appID string) string { return "sinch:" + projectID + ":" + appID }

// ProjectRateLimit is the budget of a whole Sinch project, all its apps
// together (the --rate cap), under the app budgets of RateLimit.
func ProjectRateLimit(projectID string) string { return "sinch:" + projectID }

package campaign

import (
	"errors"
	"fmt"
)

// Errors the store answers, checked with errors.Is. Every method that looks
// up one campaign or one recipient says "not found" the same way: an error
// wrapping ErrNotFound (and ErrCampaignNotFound or ErrRecipientNotFound), never
// a zero value; redis.Nil never leaves the store.
var (
	// ErrNotFound: the campaign or recipient asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCampaignNotFound: no campaign has this ID (or its keys expired).
	ErrCampaignNotFound = fmt.Errorf("campaign %w", ErrNotFound)
	// ErrRecipientNotFound: the campaign holds no such recipient.
	ErrRecipientNotFound = fmt.Errorf("recipient %w", ErrNotFound)
	// ErrCancelled: the action cannot apply to a cancelled campaign (pause,
	// resume, retry); a cancelled campaign stays cancelled.
	ErrCancelled = errors.New("campaign is cancelled")
)

func campaignNotFound(id string) error { return fmt.Errorf("%w: %s", ErrCampaignNotFound, id) }

func recipientNotFound(id, rk string) error {
	return fmt.Errorf("%w: %s in campaign %s", ErrRecipientNotFound, rk, id)
}

package sinch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// App is a Conversation API app as returned by GET apps/{app_id}. Only the
// settings a sender needs are decoded; channel credentials keep their channel
// and state but never their tokens or secrets, and callback_settings (a
// signing secret) is left out.
type App struct {
	ID                             string          `json:"id"`
	DisplayName                    string          `json:"display_name"`
	ProcessingMode                 ProcessingMode  `json:"processing_mode,omitempty"`
	ConversationMetadataReportView string          `json:"conversation_metadata_report_view,omitempty"`
	RateLimits                     RateLimits      `json:"rate_limits"`
	RetentionPolicy                RetentionPolicy `json:"retention_policy"`
	DispatchRetentionPolicy        RetentionPolicy `json:"dispatch_retention_policy"`
	QueueStats                     QueueStats      `json:"queue_stats"`
	// PersistMessageStatus says whether listed messages carry
	// message_status; without it only delivery receipts tell delivery.
	PersistMessageStatus Enabled             `json:"persist_message_status"`
	ChannelCredentials   []ChannelCredential `json:"channel_credentials,omitempty"`
}

// RateLimits are the app's limits in messages per second.
type RateLimits struct {
	Outbound int `json:"outbound"`
	Inbound  int `json:"inbound"`
	Webhooks int `json:"webhooks"`
}

// RetentionPolicy is how long messages are stored. A DISPATCH retention of 0
// days means correlation_id and conversation_metadata are not kept.
type RetentionPolicy struct {
	RetentionType RetentionType `json:"retention_type,omitempty"`
	TTLDays       int           `json:"ttl_days"`
}

// QueueStats is the app's outbound queue: when OutboundSize reaches
// OutboundLimit, sends are refused.
type QueueStats struct {
	OutboundSize  int `json:"outbound_size"`
	OutboundLimit int `json:"outbound_limit"`
}

// Enabled is an app feature switch, such as persist_message_status.
type Enabled struct {
	Enabled bool `json:"enabled"`
}

// ChannelCredential is one channel configured on the app, without its secrets.
type ChannelCredential struct {
	Channel        Channel      `json:"channel"`
	State          ChannelState `json:"state"`
	ChannelKnownID string       `json:"channel_known_id,omitempty"`
}

// ChannelState is whether a configured channel works, e.g. status "ACTIVE".
type ChannelState struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

// MaxAppIDLen bounds an app ID given on the command line or in an upload
// (Sinch's are 26-character ULIDs).
const MaxAppIDLen = 64

// ValidateAppID checks an app ID named by an operator: letters, digits, '_'
// and '-', at most MaxAppIDLen. It ends up in a URL path and a Redis key.
func ValidateAppID(id string) error {
	if id == "" {
		return errors.New("app ID must not be empty")
	}
	if len(id) > MaxAppIDLen {
		return fmt.Errorf("app ID must be at most %d characters", MaxAppIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("app ID %q may contain only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// GetApp fetches the client's app (GET /v1/projects/{project_id}/apps/{app_id}).
func (c *Client) GetApp(ctx context.Context) (*App, error) {
	return c.GetAppByID(ctx, c.appID)
}

// GetAppByID fetches one app of the project, such as another app a campaign
// names.
func (c *Client) GetAppByID(ctx context.Context, appID string) (*App, error) {
	req, err := c.NewRequest(http.MethodGet, c.projectPath("apps", url.PathEscape(appID)), nil)
	if err != nil {
		return nil, err
	}
	var out App
	if _, err := c.do(ctx, "get app", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

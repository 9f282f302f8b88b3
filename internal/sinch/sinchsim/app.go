package sinchsim

import (
	"net/http"
	"time"
)

// Fixed parts of the simulated app, as Sinch reports them by default.
const (
	inboundRateLimit = 100
	webhookRateLimit = 200
)

// appResponse is GET app's body, shaped like Sinch's App. Channel tokens
// are left out; callback_settings carries the secret for overridden
// callback URLs, as Sinch's GET app does.
type appResponse struct {
	ID                             string              `json:"id"`
	DisplayName                    string              `json:"display_name"`
	ChannelCredentials             []channelCredential `json:"channel_credentials"`
	ConversationMetadataReportView string              `json:"conversation_metadata_report_view"`
	RateLimits                     struct {
		Outbound int `json:"outbound"`
		Inbound  int `json:"inbound"`
		Webhooks int `json:"webhooks"`
	} `json:"rate_limits"`
	RetentionPolicy         retentionPolicy `json:"retention_policy"`
	DispatchRetentionPolicy retentionPolicy `json:"dispatch_retention_policy"`
	ProcessingMode          string          `json:"processing_mode"`
	SmartConversation       enabled         `json:"smart_conversation"`
	QueueStats              struct {
		OutboundSize  int `json:"outbound_size"`
		OutboundLimit int `json:"outbound_limit"`
	} `json:"queue_stats"`
	PersistMessageStatus        enabled                     `json:"persist_message_status"`
	MessageSearch               enabled                     `json:"message_search"`
	CallbackSettings            callbackSettings            `json:"callback_settings"`
	DeliveryReportBasedFallback deliveryReportBasedFallback `json:"delivery_report_based_fallback"`
	// MessageRetrySettings is null: not configured, so Sinch's default
	// retry duration (3600 s) applies.
	MessageRetrySettings *messageRetrySettings `json:"message_retry_settings"`
}

type callbackSettings struct {
	SecretForOverriddenCallbackURLs string `json:"secret_for_overridden_callback_urls"`
}

// deliveryReportBasedFallback is off: the simulator falls back on nothing.
type deliveryReportBasedFallback struct {
	Enabled                   bool `json:"enabled"`
	DeliveryReportWaitingTime int  `json:"delivery_report_waiting_time"`
}

type messageRetrySettings struct {
	RetryDuration int `json:"retry_duration"`
}

type channelCredential struct {
	Channel string `json:"channel"`
	State   struct {
		Status      string `json:"status"`
		Description string `json:"description"`
	} `json:"state"`
	ChannelKnownID string `json:"channel_known_id"`
}

type retentionPolicy struct {
	RetentionType string `json:"retention_type"`
	TTLDays       int64  `json:"ttl_days"`
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

// listAppsResponse is the body of GET apps.
type listAppsResponse struct {
	Apps []appResponse `json:"apps"`
}

// handleApps serves GET apps: every app of the project, in Config order.
func (s *Server) handleApps(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	now := s.now()
	resp := listAppsResponse{Apps: make([]appResponse, len(s.apps))}
	for i, a := range s.apps {
		resp.Apps[i] = s.appResponse(a, now)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleApp serves GET apps/{app_id}.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	id := r.PathValue("app_id")
	a := s.lookupApp(id)
	if a == nil {
		writeError(w, http.StatusNotFound, "app "+id+" not found")
		return
	}
	writeJSON(w, http.StatusOK, s.appResponse(a, s.now()))
}

// appResponse renders app a as GET app does at now: its rate, channels
// and the current depth of its MT queue.
func (s *Server) appResponse(ap *app, now time.Time) appResponse {
	a := appResponse{
		ID:                             ap.ID,
		DisplayName:                    "sinchsim " + ap.ID,
		ConversationMetadataReportView: "NONE",
		RetentionPolicy:                retentionPolicy{"CONVERSATION_EXPIRE_POLICY", int64(conversationRetention.Hours() / 24)},
		DispatchRetentionPolicy:        retentionPolicy{"MESSAGE_EXPIRE_POLICY", s.retentionDays.Load()},
		ProcessingMode:                 s.cfg.ProcessingMode,
		PersistMessageStatus:           enabled{s.cfg.PersistMessageStatus},
		CallbackSettings:               callbackSettings{s.cfg.OverrideCallbackSecret},
	}
	a.RateLimits.Outbound = ap.OutboundRate
	a.RateLimits.Inbound = inboundRateLimit
	a.RateLimits.Webhooks = webhookRateLimit
	a.QueueStats.OutboundSize = ap.depth(now)
	a.QueueStats.OutboundLimit = ap.QueueSize
	for _, ch := range ap.Channels {
		c := channelCredential{Channel: ch}
		c.State.Status = "ACTIVE"
		a.ChannelCredentials = append(a.ChannelCredentials, c)
	}
	return a
}

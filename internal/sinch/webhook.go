package sinch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Headers of a signed callback, as Sinch sends them (Go canonical form).
const (
	HeaderWebhookSignature          = "X-Sinch-Webhook-Signature"
	HeaderWebhookSignatureTimestamp = "X-Sinch-Webhook-Signature-Timestamp"
	HeaderWebhookSignatureNonce     = "X-Sinch-Webhook-Signature-Nonce"
	HeaderWebhookSignatureAlgorithm = "X-Sinch-Webhook-Signature-Algorithm"
	// WebhookSignatureAlgorithm is the only algorithm Sinch signs with.
	WebhookSignatureAlgorithm = "HmacSHA256"
)

// SignWebhook returns the x-sinch-webhook-signature of a callback:
// base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)), where
// timestamp is Unix seconds in decimal, as sent in its header. The body is
// the exact bytes on the wire: re-encoded JSON would not verify.
func SignWebhook(secret string, body []byte, nonce, timestamp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m.Write([]byte("."))
	m.Write([]byte(nonce))
	m.Write([]byte("."))
	m.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ValidWebhookSignature reports whether signature is SignWebhook's result
// for these inputs, in constant time. It checks neither the timestamp's age
// nor nonce reuse: receivers must (internal/webhook does).
func ValidWebhookSignature(secret string, body []byte, nonce, timestamp, signature string) bool {
	want := SignWebhook(secret, body, nonce, timestamp)
	return hmac.Equal([]byte(signature), []byte(want))
}

// DeliveryReceipt is the body of a MESSAGE_DELIVERY callback: the state of
// one app message on its channel. A message may get several (QUEUED_ON_CHANNEL,
// then DELIVERED, then READ), and a FAILED or SWITCHING_CHANNEL one per
// channel tried.
type DeliveryReceipt struct {
	AppID        string    `json:"app_id"`
	ProjectID    string    `json:"project_id"`
	AcceptedTime time.Time `json:"accepted_time,omitzero"`
	EventTime    time.Time `json:"event_time,omitzero"`
	// MessageMetadata and CorrelationID echo the send request's fields.
	MessageMetadata       string                 `json:"message_metadata,omitempty"`
	CorrelationID         string                 `json:"correlation_id,omitempty"`
	MessageDeliveryReport *MessageDeliveryReport `json:"message_delivery_report,omitempty"`
}

// MessageDeliveryReport is the delivery state of one message.
type MessageDeliveryReport struct {
	MessageID       string           `json:"message_id"`
	ConversationID  string           `json:"conversation_id,omitempty"`
	Status          DeliveryStatus   `json:"status"`
	ChannelIdentity *ChannelIdentity `json:"channel_identity,omitempty"`
	ContactID       string           `json:"contact_id,omitempty"`
	// Reason is set for FAILED and SWITCHING_CHANNEL.
	Reason         *Reason        `json:"reason,omitempty"`
	Metadata       string         `json:"metadata,omitempty"`
	ProcessingMode ProcessingMode `json:"processing_mode,omitempty"`
}

package sinch

import "time"

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

package sinch

import "slices"

// Channel is a Conversation API channel (the ConversationChannel enum).
type Channel string

const (
	ChannelWhatsApp      Channel = "WHATSAPP"
	ChannelRCS           Channel = "RCS"
	ChannelSMS           Channel = "SMS"
	ChannelMessenger     Channel = "MESSENGER"
	ChannelViberBM       Channel = "VIBERBM"
	ChannelMMS           Channel = "MMS"
	ChannelInstagram     Channel = "INSTAGRAM"
	ChannelTelegram      Channel = "TELEGRAM"
	ChannelKakaoTalk     Channel = "KAKAOTALK"
	ChannelKakaoTalkChat Channel = "KAKAOTALKCHAT"
	ChannelLine          Channel = "LINE"
	ChannelWeChat        Channel = "WECHAT"
	ChannelAppleBC       Channel = "APPLEBC"
)

// Channels lists every channel of the enum, in the spec's order.
var Channels = []Channel{
	ChannelWhatsApp, ChannelRCS, ChannelSMS, ChannelMessenger, ChannelViberBM, ChannelMMS,
	ChannelInstagram, ChannelTelegram, ChannelKakaoTalk, ChannelKakaoTalkChat, ChannelLine,
	ChannelWeChat, ChannelAppleBC,
}

// ChannelNames returns the name of every channel of the enum, in the spec's
// order: for messages that list the accepted values.
func ChannelNames() []string {
	names := make([]string, len(Channels))
	for i, c := range Channels {
		names[i] = string(c)
	}
	return names
}

// Valid reports whether c is one of the enum's values.
func (c Channel) Valid() bool {
	for _, v := range Channels {
		if c == v {
			return true
		}
	}
	return false
}

// PhoneBased reports whether the channel identity is an MSISDN (E.164 phone number).
func (c Channel) PhoneBased() bool {
	switch c {
	case ChannelSMS, ChannelMMS, ChannelWhatsApp, ChannelRCS, ChannelViberBM:
		return true
	}
	return false
}

// Queue is the Sinch-side priority of a message.
type Queue string

const (
	QueueNormal Queue = "NORMAL_PRIORITY"
	QueueHigh   Queue = "HIGH_PRIORITY"
)

// ProcessingStrategy overrides the app's processing mode for one message.
type ProcessingStrategy string

const (
	ProcessingDefault      ProcessingStrategy = "DEFAULT"
	ProcessingDispatchOnly ProcessingStrategy = "DISPATCH_ONLY"
)

// MetadataUpdateStrategy is conversation_metadata_update_strategy.
type MetadataUpdateStrategy string

const (
	MetadataReplace    MetadataUpdateStrategy = "REPLACE"
	MetadataMergePatch MetadataUpdateStrategy = "MERGE_PATCH"
)

// ContentType is message_content_type (used by Sinch consent management).
type ContentType string

const (
	ContentUnknown      ContentType = "CONTENT_UNKNOWN"
	ContentMarketing    ContentType = "CONTENT_MARKETING"
	ContentNotification ContentType = "CONTENT_NOTIFICATION"
)

// MessagesSource selects which store ListMessages reads.
type MessagesSource string

const (
	SourceConversation MessagesSource = "CONVERSATION_SOURCE"
	SourceDispatch     MessagesSource = "DISPATCH_SOURCE"
)

// Direction of a listed message.
type Direction string

const (
	DirectionToApp     Direction = "TO_APP"
	DirectionToContact Direction = "TO_CONTACT"
)

// View controls whether ListMessages returns metadata.
type View string

const (
	ViewWithMetadata    View = "WITH_METADATA"
	ViewWithoutMetadata View = "WITHOUT_METADATA"
)

// DeliveryStatus is the status of a MESSAGE_DELIVERY callback.
type DeliveryStatus string

const (
	StatusQueuedOnChannel  DeliveryStatus = "QUEUED_ON_CHANNEL"
	StatusDelivered        DeliveryStatus = "DELIVERED"
	StatusRead             DeliveryStatus = "READ"
	StatusFailed           DeliveryStatus = "FAILED"
	StatusSwitchingChannel DeliveryStatus = "SWITCHING_CHANNEL"
)

// Valid reports whether q is one of the enum's values.
func (q Queue) Valid() bool { return oneOf(q, QueueNormal, QueueHigh) }

// Valid reports whether s is one of the enum's values.
func (s ProcessingStrategy) Valid() bool { return oneOf(s, ProcessingDefault, ProcessingDispatchOnly) }

// Valid reports whether s is one of the enum's values.
func (s MetadataUpdateStrategy) Valid() bool { return oneOf(s, MetadataReplace, MetadataMergePatch) }

// Valid reports whether t is one of the enum's values.
func (t ContentType) Valid() bool {
	return oneOf(t, ContentUnknown, ContentMarketing, ContentNotification)
}

// Valid reports whether s is one of the enum's values.
func (s MessagesSource) Valid() bool { return oneOf(s, SourceConversation, SourceDispatch) }

// Valid reports whether d is one of the enum's values.
func (d Direction) Valid() bool { return oneOf(d, DirectionToApp, DirectionToContact) }

// Valid reports whether v is one of the enum's values.
func (v View) Valid() bool { return oneOf(v, ViewWithMetadata, ViewWithoutMetadata) }

// ProcessingMode is how the app (or one message) was processed.
type ProcessingMode string

const (
	ModeConversation ProcessingMode = "CONVERSATION"
	ModeDispatch     ProcessingMode = "DISPATCH"
)

// AgentType classifies the agent of an app message.
type AgentType string

const (
	AgentUnknown AgentType = "UNKNOWN_AGENT_TYPE"
	AgentHuman   AgentType = "HUMAN"
	AgentBot     AgentType = "BOT"
)

// Valid reports whether t is one of the enum's values.
func (t AgentType) Valid() bool { return oneOf(t, AgentUnknown, AgentHuman, AgentBot) }

// CardHeight is the display height of a card message.
type CardHeight string

const (
	CardHeightUnspecified CardHeight = "UNSPECIFIED_HEIGHT"
	CardHeightShort       CardHeight = "SHORT"
	CardHeightMedium      CardHeight = "MEDIUM"
	CardHeightTall        CardHeight = "TALL"
)

// Valid reports whether h is one of the enum's values.
func (h CardHeight) Valid() bool {
	return oneOf(h, CardHeightUnspecified, CardHeightShort, CardHeightMedium, CardHeightTall)
}

// RetentionType is how an app expires stored messages.
type RetentionType string

const (
	RetentionMessageExpire      RetentionType = "MESSAGE_EXPIRE_POLICY"
	RetentionConversationExpire RetentionType = "CONVERSATION_EXPIRE_POLICY"
	RetentionPersist            RetentionType = "PERSIST_RETENTION_POLICY"
)

// ReasonCode explains a failed delivery or a fallback message. The API may add
// codes, so unknown values are kept as they are.
type ReasonCode string

const (
	ReasonUnknown                              ReasonCode = "UNKNOWN"
	ReasonInternalError                        ReasonCode = "INTERNAL_ERROR"
	ReasonRateLimited                          ReasonCode = "RATE_LIMITED"
	ReasonRecipientInvalidChannelIdentity      ReasonCode = "RECIPIENT_INVALID_CHANNEL_IDENTITY"
	ReasonRecipientNotReachable                ReasonCode = "RECIPIENT_NOT_REACHABLE"
	ReasonRecipientNotOptedIn                  ReasonCode = "RECIPIENT_NOT_OPTED_IN"
	ReasonOutsideAllowedSendingWindow          ReasonCode = "OUTSIDE_ALLOWED_SENDING_WINDOW"
	ReasonChannelFailure                       ReasonCode = "CHANNEL_FAILURE"
	ReasonChannelBadConfiguration              ReasonCode = "CHANNEL_BAD_CONFIGURATION"
	ReasonChannelConfigurationMissing          ReasonCode = "CHANNEL_CONFIGURATION_MISSING"
	ReasonMediaTypeUnsupported                 ReasonCode = "MEDIA_TYPE_UNSUPPORTED"
	ReasonMediaTooLarge                        ReasonCode = "MEDIA_TOO_LARGE"
	ReasonMediaNotReachable                    ReasonCode = "MEDIA_NOT_REACHABLE"
	ReasonNoChannelsLeft                       ReasonCode = "NO_CHANNELS_LEFT"
	ReasonTemplateNotFound                     ReasonCode = "TEMPLATE_NOT_FOUND"
	ReasonTemplateInsufficientParameters       ReasonCode = "TEMPLATE_INSUFFICIENT_PARAMETERS"
	ReasonTemplateNonExistingLanguageOrVersion ReasonCode = "TEMPLATE_NON_EXISTING_LANGUAGE_OR_VERSION"
	ReasonDeliveryTimedOut                     ReasonCode = "DELIVERY_TIMED_OUT"
	ReasonDeliveryRejectedDueToPolicy          ReasonCode = "DELIVERY_REJECTED_DUE_TO_POLICY"
	ReasonContactNotFound                      ReasonCode = "CONTACT_NOT_FOUND"
	ReasonBadRequest                           ReasonCode = "BAD_REQUEST"
	ReasonUnknownApp                           ReasonCode = "UNKNOWN_APP"
	ReasonNoChannelIdentityForContact          ReasonCode = "NO_CHANNEL_IDENTITY_FOR_CONTACT"
	ReasonChannelReject                        ReasonCode = "CHANNEL_REJECT"
	ReasonNoPermission                         ReasonCode = "NO_PERMISSION"
	ReasonNoProfileAvailable                   ReasonCode = "NO_PROFILE_AVAILABLE"
	ReasonUnsupportedOperation                 ReasonCode = "UNSUPPORTED_OPERATION"
)

// ReasonSubCode refines a ReasonCode.
type ReasonSubCode string

const (
	SubCodeUnspecified           ReasonSubCode = "UNSPECIFIED_SUB_CODE"
	SubCodeAttachmentRejected    ReasonSubCode = "ATTACHMENT_REJECTED"
	SubCodeMediaTypeUndetermined ReasonSubCode = "MEDIA_TYPE_UNDETERMINED"
	SubCodeInactiveSender        ReasonSubCode = "INACTIVE_SENDER"
)

func oneOf[T comparable](v T, values ...T) bool {
	return slices.Contains(values, v)
}

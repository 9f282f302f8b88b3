package sinch

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

package jobs

import (
	"encoding/json"
	"strconv"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// encodeSend returns exactly json.Marshal(p), field by field instead of by
// reflection: enqueue encodes one payload per CSV row, and the reflective
// encoder (plus re-validating AppMessage's MarshalJSON output) was the
// largest share of a row's encoding cost. A text message, the common case,
// is written directly; any other message and the window go through their
// own MarshalJSON as before. TestEncodeSendIsJSONMarshal compares the two.
func encodeSend(p SendPayload) ([]byte, error) {
	b := make([]byte, 0, 192+len(p.Identity))
	b = append(b, `{"campaign_id":`...)
	b = sinch.AppendJSONString(b, p.CampaignID)
	b = append(b, `,"key":`...)
	b = sinch.AppendJSONString(b, p.Key)
	b = append(b, `,"row":`...)
	b = strconv.AppendInt(b, int64(p.Row), 10)
	b = append(b, `,"channel":`...)
	b = sinch.AppendJSONString(b, string(p.Channel))
	b = append(b, `,"identity":`...)
	b = sinch.AppendJSONString(b, p.Identity)
	b = append(b, `,"message":`...)
	if text, ok := p.Message.Text(); ok {
		b = append(b, `{"text_message":{"text":`...)
		b = sinch.AppendJSONString(b, text)
		b = append(b, `}}`...)
	} else {
		m, err := json.Marshal(p.Message)
		if err != nil {
			return nil, err
		}
		b = append(b, m...)
	}
	b = append(b, `,"queue":`...)
	b = sinch.AppendJSONString(b, string(p.Queue))
	b = append(b, `,"ttl_s":`...)
	b = strconv.AppendInt(b, p.TTLSeconds, 10)
	if p.Window != nil {
		w, err := json.Marshal(p.Window)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"window":`...)
		b = append(b, w...)
	}
	if p.SegmentPrice != 0 {
		b = append(b, `,"segment_price":`...)
		b = append(b, p.SegmentPrice.String()...) // as its MarshalJSON writes it
	}
	if p.App != "" {
		b = append(b, `,"app":`...)
		b = sinch.AppendJSONString(b, p.App)
	}
	if p.ContentType != "" {
		b = append(b, `,"content_type":`...)
		b = sinch.AppendJSONString(b, string(p.ContentType))
	}
	if p.Archive != "" {
		b = append(b, `,"archive":`...)
		b = sinch.AppendJSONString(b, p.Archive)
	}
	if len(p.Channels) > 0 {
		b = append(b, `,"channels":[`...)
		for i, ch := range p.Channels {
			if i > 0 {
				b = append(b, ',')
			}
			b = sinch.AppendJSONString(b, string(ch))
		}
		b = append(b, ']')
	}
	if len(p.Identities) > 0 {
		ids, err := json.Marshal(p.Identities) // sorted keys, as json.Marshal(p) writes them
		if err != nil {
			return nil, err
		}
		b = append(b, `,"identities":`...)
		b = append(b, ids...)
	}
	return append(b, '}'), nil
}

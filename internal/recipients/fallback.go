package recipients

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Channel fallback: a campaign that lists several channels (Options.Channels)
// sends every row on them in that order. Phone-based channels (SMS, MMS,
// WHATSAPP, RCS, VIBERBM) reach the row's phone number; every other listed
// channel reads its identity from a column named after it in lower case
// (a "messenger" column for MESSENGER).

// ParseChannels reads a comma-separated channel list ("WHATSAPP,SMS",
// case-insensitive) in order. It refuses an empty list, an unknown name and
// a repeat, naming the accepted values, not the input.
func ParseChannels(s string) ([]sinch.Channel, error) {
	var out []sinch.Channel
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			return nil, fmt.Errorf("an empty channel name in the list (want names such as WHATSAPP,SMS separated by commas)")
		}
		ch, err := ParseChannel(part)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, ch) {
			return nil, fmt.Errorf("%s is listed twice", ch)
		}
		out = append(out, ch)
	}
	return out, checkChannels(out)
}

// checkChannels is the one check of a fallback order: each channel known,
// none twice, and at least one phone-based (the phone column is the row's
// recipient).
func checkChannels(chs []sinch.Channel) error {
	if len(chs) == 0 {
		return fmt.Errorf("lists no channel")
	}
	phone := false
	for i, ch := range chs {
		if !ch.Valid() {
			return fmt.Errorf("%q is not a Sinch channel (want one of %s)", ch, strings.Join(sinch.ChannelNames(), ", "))
		}
		if slices.Contains(chs[:i], ch) {
			return fmt.Errorf("%s is listed twice", ch)
		}
		phone = phone || ch.PhoneBased()
	}
	if len(chs) > 1 && !phone {
		return fmt.Errorf("lists no phone-based channel (%s): each row's phone column is sent on them", phoneChannels())
	}
	return nil
}

func phoneChannels() string {
	var names []string
	for _, ch := range sinch.Channels {
		if ch.PhoneBased() {
			names = append(names, string(ch))
		}
	}
	return strings.Join(names, ", ")
}

// IdentityColumn is the CSV column that holds a channel's identity in a
// fallback campaign: the channel's name in lower case ("messenger").
func IdentityColumn(ch sinch.Channel) string { return strings.ToLower(string(ch)) }

// fallback reports whether rows are sent on several channels.
func (o Options) fallback() bool { return len(o.Channels) > 1 }

// fallbackHeader finds the identity column of every listed channel that is
// not phone-based. seen maps lower-cased names to column indexes.
func (r *Reader) fallbackHeader(seen map[string]int, line int) error {
	if _, ok := seen[colChannel]; ok {
		return &FatalError{Err: ErrChannelColumn, Line: line, Detail: fmt.Sprintf(
			"a %q column cannot be combined with --channels: every row is sent on %s in that order", colChannel, sinch.JoinChannels(r.opts.Channels, ","))}
	}
	r.identityIdx = make([]int, len(r.opts.Channels))
	for i, ch := range r.opts.Channels {
		r.identityIdx[i] = r.phoneIdx
		if ch.PhoneBased() {
			continue
		}
		j, ok := seen[IdentityColumn(ch)]
		if !ok {
			return &FatalError{Err: ErrNoChannelColumn, Line: line, Detail: fmt.Sprintf(
				"--channels lists %s, whose identity is read from a column named %q", ch, IdentityColumn(ch))}
		}
		r.identityIdx[i] = j
	}
	return nil
}

// identityColumn reports whether column i holds a listed channel's identity.
func (r *Reader) identityColumn(i int) bool {
	return i != r.phoneIdx && slices.Contains(r.identityIdx, i)
}

// fallbackRow validates the identity of every listed channel: the phone
// number once for the phone-based ones, the channel's column for the
// others. A row missing one is rejected, naming the column.
func (r *Reader) fallbackRow(rec []string, line int) (Row, error) {
	ids := make([]sinch.ChannelIdentity, len(r.opts.Channels))
	phone := ""
	for i, ch := range r.opts.Channels {
		col := r.identityIdx[i]
		if ch.PhoneBased() && phone != "" {
			ids[i] = sinch.ChannelIdentity{Channel: ch, Identity: phone}
			continue
		}
		id, err := NormalizeIdentity(ch, rec[col], r.opts.DefaultRegion)
		if err != nil {
			reason := err.Error()
			if !ch.PhoneBased() && strings.TrimSpace(rec[col]) == "" {
				reason = fmt.Sprintf("no %s identity: the %s column is empty (--channels lists %s)", ch, r.header[col], ch)
			}
			return Row{}, &RowError{Line: line, Column: r.header[col], Reason: reason}
		}
		if ch.PhoneBased() {
			phone = id
		}
		ids[i] = sinch.ChannelIdentity{Channel: ch, Identity: id}
	}
	return Row{Line: line, Channel: ids[0].Channel, Identity: ids[0].Identity, Identities: ids, Vars: r.vars(rec)}, nil
}

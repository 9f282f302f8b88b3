package enqueue

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Channel fallback and per-channel content (Spec.Channels, ChannelText,
// ChannelTemplate). The campaign-level parts (the order, the templates)
// are the same for every recipient; only what a row personalises (its
// identities, its rendered texts) travels per recipient.

// channels reads Spec.Channels into o: one channel is Channel, several an
// ordered fallback whose first is Channel.
func (c *check) channels(s Spec, o *Options) {
	if s.Channels == nil {
		return
	}
	if s.Channel != "" {
		c.must("channels", "cannot be combined with {channel}: give {channels} (a fallback order) or {channel}, not both")
		return
	}
	chs, err := recipients.ParseChannels(strings.Join(s.Channels, ","))
	if err != nil {
		c.fail("channels", err)
		return
	}
	o.Channel = chs[0]
	if len(chs) > 1 {
		o.Channels = chs
	}
}

// listed is every channel the upload names: the fallback order, or the
// default channel.
func (o *Options) listed() []sinch.Channel {
	if len(o.Channels) > 0 {
		return o.Channels
	}
	return []sinch.Channel{o.Channel}
}

// channelKey reads a ChannelText or ChannelTemplate key: a channel the
// upload lists.
func (c *check) channelKey(field, key string, listed []sinch.Channel) (sinch.Channel, bool) {
	ch, err := recipients.ParseChannel(key)
	if err != nil {
		c.failf(field, "%q: %w", key, err)
		return "", false
	}
	if !slices.Contains(listed, ch) {
		c.must(field, "names %s, which the upload does not send on (%s): list it in {channels}", ch, sinch.JoinChannels(listed, ","))
		return "", false
	}
	return ch, true
}

// channelContent adds the per-channel templates and texts to the message
// source (nil when the source is bad).
func (c *check) channelContent(s Spec, listed []sinch.Channel, src Source, limits recipients.TemplateOptions) Source {
	if len(s.ChannelTemplate) == 0 && len(s.ChannelText) == 0 {
		return src
	}
	templates := map[sinch.Channel]sinch.TemplateReference{}
	for _, k := range slices.Sorted(maps.Keys(s.ChannelTemplate)) {
		ch, ok := c.channelKey("channel_template", k, listed)
		if !ok {
			continue
		}
		id, lang, _ := strings.Cut(strings.TrimSpace(s.ChannelTemplate[k]), ":")
		if id == "" {
			c.must("channel_template", "%s: want a template ID, or ID:LANGUAGE such as spring_sale:en_US", ch)
			continue
		}
		templates[ch] = sinch.TemplateReference{TemplateID: id, LanguageCode: lang}
	}
	var texts []channelText
	for _, k := range slices.Sorted(maps.Keys(s.ChannelText)) {
		ch, ok := c.channelKey("channel_text", k, listed)
		if !ok {
			continue
		}
		if _, dup := templates[ch]; dup {
			c.must("channel_text", "%s: cannot be combined with a {channel_template} for %s: give one content per channel", ch, ch)
			continue
		}
		t, err := recipients.ParseTemplateWith(s.ChannelText[k], limits)
		if err != nil {
			c.failf("channel_text", "%s: %w", ch, err)
			continue
		}
		texts = append(texts, channelText{ch: ch, tmpl: t})
	}
	if len(templates) > 0 {
		// source made a channel template the template, or refused it
		// next to another message source.
		ts, ok := src.(*TemplateSource)
		if !ok {
			return nil
		}
		ts.Channels = templates
	}
	if src == nil || len(texts) == 0 {
		return src
	}
	return &ChannelTextSource{Base: src, texts: texts}
}

// channelText is one channel's text template.
type channelText struct {
	ch   sinch.Channel
	tmpl *recipients.Template
}

// ChannelTextSource sends a text of its own on some channels instead of
// Base's message: explicit_channel_omni_message, keyed by channel. A
// WhatsApp template with an SMS text for the recipients it falls back to
// is a TemplateSource with a ChannelTextSource for SMS around it.
type ChannelTextSource struct {
	Base  Source
	texts []channelText // sorted by channel
}

func (s *ChannelTextSource) Build(row recipients.Row) (sinch.AppMessage, error) {
	m, err := s.Base.Build(row)
	if err != nil {
		return m, err
	}
	for _, t := range s.texts {
		text, err := t.tmpl.Render(row.Vars)
		if err != nil {
			return m, err
		}
		m.SetTextFor(t.ch, text, true)
	}
	return m, nil
}

func (s *ChannelTextSource) Check(columns []string) error {
	if err := s.Base.Check(columns); err != nil {
		return err
	}
	for _, t := range s.texts {
		if err := t.tmpl.CheckColumns(columns); err != nil {
			return err
		}
	}
	return nil
}

// Describe is the base's, then the channels with a text of their own:
// "template:ID+SMS text".
func (s *ChannelTextSource) Describe() string {
	chs := make([]sinch.Channel, len(s.texts))
	for i, t := range s.texts {
		chs[i] = t.ch
	}
	return s.Base.Describe() + "+" + sinch.JoinChannels(chs, ",") + " text"
}

// sendsOn reports whether a row is sent on ch, first or as a fallback.
func sendsOn(row recipients.Row, ch sinch.Channel) bool {
	if row.Identities == nil {
		return row.Channel == ch
	}
	return slices.ContainsFunc(row.Identities, func(id sinch.ChannelIdentity) bool { return id.Channel == ch })
}

// otherIdentities are the identities of a fallback row that differ from
// its first (jobs.SendPayload.Identities): none when every listed channel
// is phone-based, so a WHATSAPP,SMS payload carries just the order.
func otherIdentities(row recipients.Row) map[sinch.Channel]string {
	var out map[sinch.Channel]string
	for _, id := range row.Identities {
		if id.Identity == row.Identity {
			continue
		}
		if out == nil {
			out = map[sinch.Channel]string{}
		}
		out[id.Channel] = id.Identity
	}
	return out
}

// sameChannels refuses an upload whose fallback order differs from the
// campaign's: its recipients' tasks carry the order they were enqueued with.
func sameChannels(stored, def campaign.Definition) error {
	if slices.Equal(stored.Channels, def.Channels) {
		return nil
	}
	was := "none"
	if len(stored.Channels) > 0 {
		was = sinch.JoinChannels(stored.Channels, ",")
	}
	return fmt.Errorf("campaign %s exists with channel fallback %s; use the same --channels or a new campaign ID", def.ID, was)
}

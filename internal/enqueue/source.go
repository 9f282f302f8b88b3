package enqueue

import (
	"maps"
	"slices"

	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Source builds each recipient's message from its CSV row.
type Source interface {
	// Build returns the message for one row; a *recipients.RowError rejects the row.
	Build(row recipients.Row) (sinch.AppMessage, error)
	// Check fails early when the CSV lacks a column the source needs.
	Check(columns []string) error
	// Describe names the source for status pages, e.g. "text" or "template:welcome".
	Describe() string
}

// TextSource renders a Go text/template over the row's columns.
type TextSource struct{ tmpl *recipients.Template }

// NewTextSource parses the template; a parse error is fatal for the upload.
func NewTextSource(text string) (*TextSource, error) {
	return NewTextSourceWith(text, recipients.TemplateOptions{})
}

// NewTextSourceWith is NewTextSource with limits on the template and on
// each rendered message.
func NewTextSourceWith(text string, opts recipients.TemplateOptions) (*TextSource, error) {
	t, err := recipients.ParseTemplateWith(text, opts)
	if err != nil {
		return nil, err
	}
	return &TextSource{tmpl: t}, nil
}

func (s *TextSource) Build(row recipients.Row) (sinch.AppMessage, error) {
	text, err := s.tmpl.Render(row.Vars)
	if err != nil {
		return sinch.AppMessage{}, err
	}
	return sinch.AppMessage{TextMessage: &sinch.TextMessage{Text: text}}, nil
}

func (s *TextSource) Check(columns []string) error { return s.tmpl.CheckColumns(columns) }
func (s *TextSource) Describe() string             { return "text" }

// TemplateSource sends a Sinch omni template whose parameters are the row's
// columns (other than phone, channel and identity columns), and Channels'
// templates instead of it on their channels (template_message.channel_template).
// The parameters are sent once, with the omni template, or with each
// channel template when there is no omni template (ID "").
type TemplateSource struct {
	ID, Version, Language string
	Channels              map[sinch.Channel]sinch.TemplateReference
}

func (s *TemplateSource) Build(row recipients.Row) (sinch.AppMessage, error) {
	params := make(map[string]string, len(row.Vars))
	for k, v := range row.Vars {
		params[k] = v
	}
	tm := &sinch.TemplateMessage{}
	if s.ID != "" {
		tm.OmniTemplate = &sinch.TemplateReference{TemplateID: s.ID, Version: s.Version, LanguageCode: s.Language, Parameters: params}
	}
	if len(s.Channels) > 0 {
		tm.ChannelTemplate = make(map[sinch.Channel]sinch.TemplateReference, len(s.Channels))
		for ch, ref := range s.Channels {
			if s.ID == "" {
				ref.Parameters = params
			}
			tm.ChannelTemplate[ch] = ref
		}
	}
	return sinch.AppMessage{TemplateMessage: tm}, nil
}

func (s *TemplateSource) Check([]string) error { return nil }

// Describe is "template:ID", with the channel templates after it:
// "template:ID+WHATSAPP=spring_sale".
func (s *TemplateSource) Describe() string {
	d := "template:" + s.ID
	for _, ch := range slices.Sorted(maps.Keys(s.Channels)) {
		if d != "template:" {
			d += "+"
		}
		d += string(ch) + "=" + s.Channels[ch].TemplateID
	}
	return d
}

// MediaSource sends the same media URL to every recipient.
type MediaSource struct{ URL string }

// NewMediaSource checks the URL is absolute http(s); the error is a
// *FieldError for media_url.
func NewMediaSource(raw string) (*MediaSource, error) {
	if err := checkMediaURL(raw); err != nil {
		return nil, err
	}
	return &MediaSource{URL: raw}, nil
}

func (s *MediaSource) Build(recipients.Row) (sinch.AppMessage, error) {
	return sinch.AppMessage{MediaMessage: &sinch.MediaMessage{URL: s.URL}}, nil
}

func (s *MediaSource) Check([]string) error { return nil }
func (s *MediaSource) Describe() string     { return "media" }

package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/idempotency"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// The campaign builder (/campaigns/new): upload a file, review it through
// a dry run, send a test, launch. Every step runs the upload through
// campaignctl's Create, the pipeline of the API and of `enqueue`; the
// handlers only turn forms into an enqueue.Spec and answers into pages.

const (
	// previewRows and rejectsShown bound what the review page lists; the
	// rejects CSV has them all.
	previewRows  = 10
	rejectsShown = 50
	// maxFormBytes bounds a review form: settings and a message.
	maxFormBytes = 256 << 10
	// testSuffix names a campaign's test sends: campaign "sale" tests
	// through "sale-test".
	testSuffix = "-test"
)

// Choices of the upload form.
var (
	builderDelimiters = []choice{{",", "comma ,"}, {";", "semicolon ;"}, {`\t`, "tab"}, {"|", "pipe |"}}
	builderEncodings  = []choice{{"", "UTF-8"}, {"windows-1252", "windows-1252 (Excel, Western Europe)"},
		{"iso-8859-1", "iso-8859-1 (Latin-1)"}, {"iso-8859-15", "iso-8859-15 (Latin-9)"},
		{"utf-16", "UTF-16 (Excel Unicode text)"}, {"shift_jis", "Shift JIS"}, {"gbk", "GBK"}}
)

type choice struct{ Value, Label string }

// uploadView is the upload form.
type uploadView struct {
	Refresh    int // never: the layout's auto-refresh would lose what is typed
	CSRF       string
	Error      string
	Meta       uploadMeta
	Delimiters []choice
	Encodings  []choice
	MaxUpload  string
}

func (s *Server) newUploadView(p principal) uploadView {
	return uploadView{CSRF: s.csrf.token(p), Delimiters: builderDelimiters, Encodings: builderEncodings,
		MaxUpload: enqueue.FormatSize(s.cfg.MaxUpload)}
}

// newPage is GET /campaigns/new: the upload form.
func (s *Server) newPage(w http.ResponseWriter, _ *http.Request, p principal) {
	s.pages.render(w, http.StatusOK, "new.html", s.newUploadView(p))
}

// newUpload is POST /campaigns/new: the form's fields, then the file,
// streamed to the upload directory (the body is not parsed into memory,
// so the CSRF token is a field read before the file).
func (s *Server) newUpload(w http.ResponseWriter, r *http.Request, p principal) {
	v := s.newUploadView(p)
	fail := func(status int, msg string) {
		v.Error = msg
		s.pages.render(w, status, "new.html", v)
	}
	if r.ContentLength > s.cfg.MaxUpload {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %s (the dashboard's --max-upload)", v.MaxUpload))
		return
	}
	// A file over a slow link takes longer than the server's read timeout
	// for ordinary requests; --max-upload bounds it instead.
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	mr, err := multipartReader(r)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	meta := uploadMeta{Owner: p.name}
	csrfOK := p.bearer || s.csrf.equal(r.Header.Get(csrfHeader), p)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			fail(http.StatusBadRequest, "no file: choose a CSV file to upload")
			return
		}
		if err != nil {
			fail(bodyErrorAnswer(err).status, "reading the upload: "+err.Error())
			return
		}
		if part.FormName() != "csv" {
			val, err := io.ReadAll(io.LimitReader(part, 4<<10))
			if err != nil {
				fail(http.StatusBadRequest, "reading the upload: "+err.Error())
				return
			}
			switch part.FormName() {
			case csrfField:
				csrfOK = csrfOK || s.csrf.equal(string(val), p)
			case "delimiter":
				meta.Delimiter = string(val)
			case "default_region":
				meta.DefaultRegion = strings.TrimSpace(string(val))
			case "encoding":
				meta.Encoding = string(val)
			}
			continue
		}
		v.Meta = meta
		if !csrfOK {
			fail(http.StatusForbidden, "missing or invalid CSRF token: reload the page and upload again")
			return
		}
		if msg := uploadSettingsError(meta); msg != "" {
			fail(http.StatusBadRequest, msg)
			return
		}
		if part.FileName() == "" {
			fail(http.StatusBadRequest, "no file: choose a CSV file to upload")
			return
		}
		meta.Name = part.FileName()
		id, err := s.uploads.save(part, meta)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %s (the dashboard's --max-upload)", v.MaxUpload))
				return
			}
			s.cfg.Logger.Error("upload failed", "by", p.name, "err", err)
			fail(http.StatusInternalServerError, "the upload failed (see the dashboard's log): try again")
			return
		}
		s.cfg.Logger.Info("campaign builder upload", "upload", id, "by", p.name)
		http.Redirect(w, r, "/campaigns/new/"+id, http.StatusSeeOther)
		return
	}
}

// uploadSettingsError checks the upload form's settings with the Spec's
// own checks of those fields.
func uploadSettingsError(m uploadMeta) string {
	_, err := enqueue.Spec{Delimiter: m.Delimiter, DefaultRegion: m.DefaultRegion, Encoding: m.Encoding}.Resolve(time.Now())
	var errs enqueue.Errors
	errors.As(err, &errs)
	var msgs []string
	for _, fe := range errs {
		switch fe.Field {
		case "delimiter", "default_region", "encoding":
			msgs = append(msgs, fe.In(enqueue.Keys))
		}
	}
	return strings.Join(msgs, "; ")
}

// builderForm is the review page's form: the message and the sending
// settings, as typed.
type builderForm struct {
	Campaign                                   string
	Message                                    string // text, template or media
	Text, TemplateID, TemplateVersion, TplLang string
	MediaURL                                   string
	Channel, Priority, TTL                     string
	// App, Fallback (channels in order, comma-separated) and ContentType
	// are the omnichannel settings; StrictTTL refuses a launch that
	// cannot be sent within the TTL at the app's rate.
	App, Fallback, ContentType   string
	StrictTTL                    bool
	When, At                     string // When: now or at
	Window, TZ                   string
	PricePerSegment, MaxSegments string
	GSMSafe                      bool
	TestTo                       string
	LaunchKey                    string
}

func formOf(v url.Values) builderForm {
	f := builderForm{
		Campaign: strings.TrimSpace(v.Get("campaign")), Message: v.Get("message"), Text: v.Get("text"),
		TemplateID: strings.TrimSpace(v.Get("template_id")), TemplateVersion: strings.TrimSpace(v.Get("template_version")),
		TplLang: strings.TrimSpace(v.Get("template_language")), MediaURL: strings.TrimSpace(v.Get("media_url")),
		Channel: v.Get("channel"), Priority: v.Get("priority"), TTL: strings.TrimSpace(v.Get("ttl")),
		App: strings.TrimSpace(v.Get("app")), Fallback: strings.TrimSpace(v.Get("channels")),
		ContentType: v.Get("content_type"), StrictTTL: v.Get("strict_ttl") != "",
		When: v.Get("when"), At: strings.TrimSpace(v.Get("at")), Window: strings.TrimSpace(v.Get("window")),
		TZ: strings.TrimSpace(v.Get("tz")), PricePerSegment: strings.TrimSpace(v.Get("price_per_segment")),
		MaxSegments: strings.TrimSpace(v.Get("max_segments")), GSMSafe: v.Get("gsm_safe") != "",
		TestTo: strings.TrimSpace(v.Get("test_to")), LaunchKey: v.Get("launch_key"),
	}
	if f.Message == "" {
		f.Message = "text"
	}
	if f.When == "" {
		f.When = "now"
	}
	if f.Channel == "" {
		f.Channel = string(recipients.DefaultChannel)
	}
	return f
}

// values is the form as a query, for the rejects CSV link.
func (f builderForm) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"campaign": f.Campaign, "message": f.Message, "text": f.Text,
		"template_id": f.TemplateID, "template_version": f.TemplateVersion, "template_language": f.TplLang,
		"media_url": f.MediaURL, "channel": f.Channel, "priority": f.Priority, "ttl": f.TTL, "when": f.When,
		"at": f.At, "window": f.Window, "tz": f.TZ, "price_per_segment": f.PricePerSegment, "max_segments": f.MaxSegments,
		"app": f.App, "channels": f.Fallback, "content_type": f.ContentType} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if f.GSMSafe {
		v.Set("gsm_safe", "1")
	}
	if f.StrictTTL {
		v.Set("strict_ttl", "1")
	}
	return v
}

// hasMessage reports whether the chosen message source is filled in.
func (f builderForm) hasMessage() bool {
	switch f.Message {
	case "template":
		return f.TemplateID != ""
	case "media":
		return f.MediaURL != ""
	}
	return f.Text != ""
}

// spec is the upload the form describes: only the chosen message source
// is taken, so that switching sources needs no clearing of the others.
func (f builderForm) spec(m uploadMeta) (enqueue.Spec, error) {
	sp := enqueue.Spec{Campaign: f.Campaign, Channel: f.Channel, Priority: f.Priority, TTL: f.TTL,
		Window: f.Window, TZ: f.TZ, DefaultRegion: m.DefaultRegion, Delimiter: m.Delimiter, Encoding: m.Encoding,
		PricePerSegment: f.PricePerSegment, GSMSafe: f.GSMSafe,
		App: f.App, ContentType: f.ContentType, StrictTTL: f.StrictTTL}
	if f.Fallback != "" {
		// The fallback order replaces the single channel (the Spec takes
		// one or the other).
		for ch := range strings.SplitSeq(f.Fallback, ",") {
			sp.Channels = append(sp.Channels, strings.TrimSpace(ch))
		}
		sp.Channel = ""
	}
	switch f.Message {
	case "template":
		sp.TemplateID, sp.TemplateVersion, sp.TemplateLanguage = f.TemplateID, f.TemplateVersion, f.TplLang
	case "media":
		sp.MediaURL = f.MediaURL
	default:
		sp.Text = f.Text
	}
	if f.When == "at" {
		sp.At = f.At
	}
	if f.MaxSegments != "" {
		n, err := strconv.Atoi(f.MaxSegments)
		if err != nil {
			return sp, enqueue.Errors{{Field: "max_segments", Msg: fmt.Sprintf("want a whole number, got %q", f.MaxSegments)}}
		}
		sp.MaxSegments = &n
	}
	return sp, nil
}

// previewRow is one personalised message of the preview.
type previewRow struct {
	Row        string `json:"row"`
	Channel    string `json:"channel"`
	Identity   string `json:"identity"`
	Encoding   string `json:"encoding"`
	Segments   string `json:"segments"`
	Characters string `json:"characters"`
	Text       string `json:"text"`
}

// rejectRow is one rejected row of the rejects CSV.
type rejectRow struct {
	Row    string `json:"row"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// review is what a dry run of the upload with the form's settings found.
type review struct {
	Summary  enqueue.Summary   `json:"summary"`
	Valid    int64             `json:"valid"`
	SMS      string            `json:"sms,omitempty"`
	Cost     string            `json:"cost,omitempty"`
	Preview  []previewRow      `json:"preview"`
	Rejects  []rejectRow       `json:"rejects"`
	Error    string            `json:"error,omitempty"`  // the upload cannot run as set
	Fields   map[string]string `json:"fields,omitempty"` // errors by spec key
	NoText   bool              `json:"no_message,omitempty"`
	Internal bool              `json:"-"`
}

// dryRun runs the upload with the form's settings as a dry run. Without a
// message yet, the recipients are still checked, with a stand-in source
// that renders nothing.
func (s *Server) dryRun(ctx context.Context, id string, m uploadMeta, f builderForm, rejects io.Writer) review {
	var rv review
	sp, err := f.spec(m)
	if err != nil {
		rv.setError(err)
		return rv
	}
	if !f.hasMessage() {
		rv.NoText = true
		sp.Text, sp.TemplateID, sp.TemplateVersion, sp.TemplateLanguage, sp.MediaURL = "", "recipients-only", "", "", ""
	}
	if sp.Campaign == "" {
		sp.Campaign = "preview" // the ID does not change a dry run; it is checked at launch
	}
	file, err := s.uploads.open(id)
	if err != nil {
		rv.setError(err)
		return rv
	}
	defer file.Close()
	preview := &head{max: 1 << 20}
	rejectsHead := &head{max: 64 << 10}
	var rw io.Writer = rejectsHead
	if rejects != nil {
		rw = io.MultiWriter(rejectsHead, rejects)
	}
	sum, err := s.cfg.Campaigns.Create(ctx, sp, enqueue.Input{CSV: file, CSVName: m.Name, DryRun: true, Preview: preview, Rejects: rw})
	rv.Summary = sum
	if err != nil {
		rv.setError(err)
		if rv.Internal {
			s.cfg.Logger.Error("campaign builder dry run failed", "upload", id, "err", err)
		}
		return rv
	}
	rv.Valid = sum.Enqueued
	if sum.SMS != nil {
		rv.SMS = sum.SMS.String()
	}
	if sum.Cost != nil {
		rv.Cost = sum.Cost.String()
	}
	if !rv.NoText {
		for _, rec := range preview.records(previewRows) {
			if len(rec) == len(enqueue.PreviewHeader) {
				rv.Preview = append(rv.Preview, previewRow{rec[0], rec[1], unescape(rec[2]), rec[3], rec[4], rec[5], unescape(rec[6])})
			}
		}
	}
	for _, rec := range rejectsHead.records(rejectsShown) {
		if len(rec) == 3 {
			rv.Rejects = append(rv.Rejects, rejectRow{rec[0], unescape(rec[1]), unescape(rec[2])})
		}
	}
	return rv
}

// setError says why the upload cannot run: a spec field, the file, or an
// internal error (logged, not shown).
func (rv *review) setError(err error) {
	var fields enqueue.Errors
	var fe *enqueue.FieldError
	var fatal *recipients.FatalError
	switch {
	case errors.As(err, &fields):
		rv.Fields = map[string]string{}
		for _, f := range fields {
			rv.Fields[f.Field] = f.In(enqueue.Keys)
		}
		rv.Error = "Fix the settings: " + fields.In(enqueue.Keys)
	case errors.As(err, &fe):
		rv.Fields = map[string]string{fe.Field: fe.In(enqueue.Keys)}
		rv.Error = "Fix the settings: " + fe.In(enqueue.Keys)
	case errors.As(err, &fatal), errors.Is(err, recipients.ErrTooLarge):
		rv.Error = "The file cannot be read with these settings: " + err.Error()
	case errors.Is(err, errUploadGone), errors.Is(err, enqueue.ErrRedisFull):
		rv.Error = err.Error()
	default:
		rv.Error, rv.Internal = "internal error (see the dashboard's log)", true
	}
}

// unescape undoes recipients.EscapeFormula, which the preview and
// rejects CSVs apply for spreadsheets: a page shows the value as is.
func unescape(v string) string {
	if rest, ok := strings.CutPrefix(v, "'"); ok && recipients.EscapeFormula(rest) == v {
		return rest
	}
	return v
}

// head keeps the first max bytes written to it and drops the rest, so
// that a dry run's preview and rejects of a million rows cost a page.
type head struct {
	max int
	buf bytes.Buffer
}

func (h *head) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// records parses up to n whole CSV records after the header (the cut one
// at the end is dropped).
func (h *head) records(n int) [][]string {
	cr := csv.NewReader(bytes.NewReader(h.buf.Bytes()))
	cr.FieldsPerRecord = -1
	if _, err := cr.Read(); err != nil {
		return nil
	}
	var out [][]string
	for len(out) < n {
		rec, err := cr.Read()
		if err != nil {
			break
		}
		out = append(out, rec)
	}
	return out
}

// columns reads the upload's header: the recipient column, the channel
// column if any, and the template variables.
type columns struct {
	Phone, Channel string
	Vars           []string
}

// readColumns reads the header and the first valid row of the upload.
func (s *Server) readColumns(id string, m uploadMeta) (columns, *recipients.Row, error) {
	f, err := s.uploads.open(id)
	if err != nil {
		return columns{}, nil, err
	}
	defer f.Close()
	delim := rune(recipients.DefaultDelimiter)
	if m.Delimiter != "" {
		if delim, err = recipients.ParseDelimiter(m.Delimiter); err != nil {
			return columns{}, nil, err
		}
	}
	rd, err := recipients.NewReader(f, recipients.Options{Delimiter: delim, Encoding: m.Encoding, DefaultRegion: m.DefaultRegion})
	if err != nil {
		return columns{}, nil, err
	}
	c := columns{Phone: rd.PhoneColumn(), Channel: rd.ChannelColumn(), Vars: rd.Columns()}
	for {
		row, err := rd.Next()
		var rowErr *recipients.RowError
		switch {
		case err == nil:
			return c, &row, nil
		case errors.As(err, &rowErr):
			continue
		case errors.Is(err, io.EOF):
			return c, nil, nil
		default:
			return c, nil, err
		}
	}
}

// reviewView is the review page.
type reviewView struct {
	Refresh    int // never, as uploadView
	Upload     string
	Meta       uploadMeta
	CSRF       string
	Form       builderForm
	Columns    columns
	ColumnsErr string
	Review     review
	RejectsURL string
	Channels   []sinch.Channel
	Test       *testView
	Note       string // a campaign of that ID exists
	Error      string // launch or test refused
}

// testView is the test campaign's state.
type testView struct {
	Campaign string
	Sent     string // what this request did, if it sent one
	State    campaign.State
	Pending  int64
	Sent1    int64
	Failed   int64
	Errors   []count
}

// reviewPage is GET /campaigns/new/{upload}.
func (s *Server) reviewPage(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("upload")
	m, err := s.uploads.meta(id, p.name)
	if err != nil {
		s.builderGone(w, r, err)
		return
	}
	f := formOf(url.Values{})
	f.Campaign = suggestID(m.Name)
	s.renderReview(w, r, p, id, m, f, http.StatusOK, "", "")
}

// builderGone answers a missing upload (404) or a failure to read it.
func (s *Server) builderGone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errUploadGone) {
		s.pages.render(w, http.StatusNotFound, "error.html", errorView{Status: http.StatusNotFound, Message: err.Error()})
		return
	}
	s.pageError(w, r, err)
}

func (s *Server) renderReview(w http.ResponseWriter, r *http.Request, p principal, id string, m uploadMeta, f builderForm, status int, testSent, problem string) {
	if f.LaunchKey == "" {
		f.LaunchKey = rand.Text()
	}
	v := reviewView{Upload: id, Meta: m, CSRF: s.csrf.token(p), Form: f, Channels: sinch.Channels, Error: problem}
	cols, _, err := s.readColumns(id, m)
	if err != nil {
		v.ColumnsErr = err.Error()
	}
	v.Columns = cols
	v.Review = s.dryRun(r.Context(), id, m, f, nil)
	v.RejectsURL = "/campaigns/new/" + id + "/rejects.csv?" + f.values().Encode()
	if f.Campaign != "" && campaign.ValidateID(f.Campaign) == nil {
		if sum, err := s.cfg.Campaigns.Status(r.Context(), f.Campaign); err == nil {
			v.Note = fmt.Sprintf("Campaign %s exists (%s, %d recipients): launching adds only the recipients it does not have yet.", f.Campaign, sum.State, sum.Total)
		}
		v.Test = s.testState(r.Context(), f.Campaign+testSuffix)
	}
	if v.Test != nil {
		v.Test.Sent = testSent
	} else if testSent != "" {
		v.Test = &testView{Campaign: f.Campaign + testSuffix, Sent: testSent}
	}
	s.pages.render(w, status, "review.html", v)
}

// testState reads the test campaign's counts; nil if there is none.
func (s *Server) testState(ctx context.Context, id string) *testView {
	sum, err := s.cfg.Campaigns.Status(ctx, id)
	if err != nil {
		return nil
	}
	t := &testView{Campaign: id, State: sum.State, Pending: sum.Pending, Sent1: sum.Sent, Failed: sum.Failed}
	if errs, ok, err := s.cfg.Campaigns.SendFailures(ctx, sum); err == nil && ok {
		t.Errors = countsOf(errs)
	}
	return t
}

// suggestID makes a campaign ID from the file's name: "Spring sale.csv"
// is spring-sale.
func suggestID(name string) string {
	name = strings.TrimSuffix(name, ".csv")
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	id := strings.Trim(b.String(), "-.")
	if len(id) > campaign.MaxIDLen-len(testSuffix) {
		id = id[:campaign.MaxIDLen-len(testSuffix)]
	}
	return id
}

// reviewPost is POST /campaigns/new/{upload}: the review form's buttons
// (op=preview, test or launch).
func (s *Server) reviewPost(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("upload")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !s.csrf.valid(r, p) {
		s.pages.render(w, http.StatusForbidden, "error.html", errorView{Status: http.StatusForbidden,
			Message: "missing or invalid CSRF token: reload the page"})
		return
	}
	f := formOf(r.PostForm)
	switch r.PostFormValue("op") {
	case "launch":
		s.launch(w, r, p, id, f)
		return
	case "test":
		m, err := s.uploads.meta(id, p.name)
		if err != nil {
			s.builderGone(w, r, err)
			return
		}
		sent, problem := s.sendTest(r, id, m, f)
		status := http.StatusOK
		if problem != "" {
			status = http.StatusBadRequest
		}
		s.renderReview(w, r, p, id, m, f, status, sent, problem)
		return
	}
	m, err := s.uploads.meta(id, p.name)
	if err != nil {
		s.builderGone(w, r, err)
		return
	}
	s.renderReview(w, r, p, id, m, f, http.StatusOK, "", "")
}

// previewJSON is POST /campaigns/new/{upload}/preview: the review's dry
// run as JSON, for the page's script to refresh the preview as one types.
func (s *Server) previewJSON(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("upload")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !s.csrf.valid(r, p) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or invalid CSRF token: reload the page"})
		return
	}
	m, err := s.uploads.meta(id, p.name)
	if errors.Is(err, errUploadGone) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.dryRun(r.Context(), id, m, formOf(r.PostForm), nil))
}

// rejectsCSV is GET /campaigns/new/{upload}/rejects.csv?settings: every
// rejected row of a dry run with those settings.
func (s *Server) rejectsCSV(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("upload")
	m, err := s.uploads.meta(id, p.name)
	if err != nil {
		s.builderGone(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.TrimSuffix(m.Name, ".csv")+"-rejects.csv"))
	if rv := s.dryRun(r.Context(), id, m, formOf(r.URL.Query()), w); rv.Error != "" {
		// Headers are gone once rows streamed: the file ends short; log why.
		s.cfg.Logger.Warn("rejects CSV cut short", "upload", id, "err", rv.Error)
	}
}

// sendTest sends the message to the typed number through the normal
// send path: campaign ID-test, one row made of the number and the first
// valid row's other columns, at high priority, now. It returns what it
// did, or why it did not.
func (s *Server) sendTest(r *http.Request, id string, m uploadMeta, f builderForm) (sent, problem string) {
	if f.TestTo == "" {
		return "", "Type a phone number to send the test to."
	}
	if f.Campaign == "" {
		return "", "Give the campaign an ID first: the test goes to campaign ID" + testSuffix + "."
	}
	cols, first, err := s.readColumns(id, m)
	if err != nil {
		return "", "The file cannot be read with these settings: " + err.Error()
	}
	if first == nil {
		return "", "The file has no valid row to take the test's other columns from."
	}
	sp, err := f.spec(m)
	if err != nil {
		return "", err.Error()
	}
	sp.Campaign, sp.Priority = f.Campaign+testSuffix, "high"
	sp.At, sp.Window, sp.TZ = "", "", ""
	sp.Delimiter, sp.Encoding = "", "" // the test row is written as UTF-8 CSV
	header, row := []string{cols.Phone}, []string{f.TestTo}
	if cols.Channel != "" {
		header, row = append(header, cols.Channel), append(row, string(first.Channel))
	}
	for _, c := range cols.Vars {
		header, row = append(header, c), append(row, first.Vars[c])
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(header)
	cw.Write(row)
	cw.Flush()
	sum, err := s.cfg.Campaigns.Create(context.WithoutCancel(r.Context()), sp, enqueue.Input{CSV: &buf, CSVName: "test"})
	if err != nil {
		var rv review
		rv.setError(err)
		if rv.Internal {
			s.cfg.Logger.Error("campaign builder test failed", "campaign_id", sp.Campaign, "err", err)
		}
		s.recordAudit(r, sp.Campaign, "test", http.StatusBadRequest)
		return "", "Test not sent: " + rv.Error
	}
	s.recordAudit(r, sp.Campaign, "test", http.StatusCreated)
	switch {
	case sum.Enqueued == 1:
		return "Test queued to the typed number.", ""
	case sum.AlreadyEnqueued+sum.Duplicates > 0:
		return "", "This number already had the test: campaign " + sp.Campaign + " sends once per number."
	case sum.Suppressed > 0:
		return "", "This number is on the suppression list: nothing sent."
	case len(sum.FirstRejects) > 0:
		return "", "Test not sent: " + sum.FirstRejects[0].Reason
	}
	return "", "Test not sent."
}

// launch is the review form's Launch button: the upload through Create,
// once per launch key (the form's Idempotency-Key: a double click or a
// resubmitted form goes to the campaign launched the first time).
func (s *Server) launch(w http.ResponseWriter, r *http.Request, p principal, id string, f builderForm) {
	ctx := r.Context()
	fp := idempotency.NewFingerprint()
	fp.Part("upload", []byte(id))
	fp.Part("form", []byte(f.values().Encode()))
	claim, prev, err := s.cfg.Idempotency.Begin(ctx, p.name, "builder:"+f.LaunchKey)
	for errors.Is(err, idempotency.ErrInFlight) {
		// The first click is still launching: wait for its answer.
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		claim, prev, err = s.cfg.Idempotency.Begin(ctx, p.name, "builder:"+f.LaunchKey)
	}
	switch {
	case errors.Is(err, idempotency.ErrBadKey):
		s.pages.render(w, http.StatusBadRequest, "error.html", errorView{Status: http.StatusBadRequest,
			Message: "the form has no launch key: reload the review page"})
		return
	case err != nil:
		s.pageError(w, r, err)
		return
	case prev != nil:
		if prev.Matches(fp.Sum()) != nil {
			s.pages.render(w, http.StatusUnprocessableEntity, "error.html", errorView{Status: http.StatusUnprocessableEntity,
				Message: "this form was already launched with other settings (" + prev.Location + "): upload the file again for another campaign"})
			return
		}
		http.Redirect(w, r, prev.Location, http.StatusSeeOther)
		return
	}
	// The launch runs to its end even if the browser gives up on it (a
	// second click cancels the first request): the claim says it is done.
	ctx = context.WithoutCancel(ctx)
	http.NewResponseController(w).SetWriteDeadline(time.Time{}) // a large file takes a while
	stop := claim.Keep(ctx)
	loc, m, problem := s.runLaunch(r, ctx, p, id, f)
	stop()
	if problem != "" {
		claim.Release(ctx) // nothing launched: the same form may try again
		if m == nil {
			s.pages.render(w, http.StatusNotFound, "error.html", errorView{Status: http.StatusNotFound, Message: problem})
			return
		}
		s.renderReview(w, r, p, id, *m, f, http.StatusBadRequest, "", problem)
		return
	}
	if err := claim.Complete(ctx, idempotency.Response{Fingerprint: fp.Sum(), Status: http.StatusSeeOther, Location: loc}); err != nil {
		s.cfg.Logger.Error("idempotency: launch not stored", "err", err)
	}
	s.uploads.remove(id)
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// runLaunch creates the campaign; it returns its page, or why not (m is
// nil when the upload is gone).
func (s *Server) runLaunch(r *http.Request, ctx context.Context, p principal, id string, f builderForm) (string, *uploadMeta, string) {
	m, err := s.uploads.meta(id, p.name)
	if err != nil {
		var rv review
		rv.setError(err)
		return "", nil, rv.Error
	}
	if !f.hasMessage() {
		s.recordAudit(r, f.Campaign, "launch", http.StatusBadRequest)
		return "", &m, "Write the message (or choose a template or a media URL) before launching."
	}
	sp, err := f.spec(m)
	if err != nil {
		s.recordAudit(r, f.Campaign, "launch", http.StatusBadRequest)
		return "", &m, err.Error()
	}
	file, err := s.uploads.open(id)
	if err != nil {
		return "", nil, err.Error()
	}
	defer file.Close()
	sum, err := s.cfg.Campaigns.Create(ctx, sp, enqueue.Input{CSV: file, CSVName: m.Name})
	if err != nil {
		var rv review
		rv.setError(err)
		if rv.Internal {
			s.cfg.Logger.Error("campaign builder launch failed", "campaign_id", sp.Campaign, "rows", sum.Rows, "err", err)
			rv.Error += "; launching again finishes the upload (nobody is sent twice)"
		}
		status := http.StatusBadRequest
		if rv.Internal {
			status = http.StatusInternalServerError
		}
		s.recordAudit(r, sp.Campaign, "launch", status)
		return "", &m, "Not launched: " + rv.Error
	}
	s.recordAudit(r, sum.CampaignID, "launch", http.StatusCreated)
	s.cfg.Logger.Info("campaign launched", "campaign_id", sum.CampaignID, "by", p.name, "enqueued", sum.Enqueued)
	return "/campaigns/" + url.PathEscape(sum.CampaignID) + "?" + url.Values{"launched": {strconv.FormatInt(sum.Enqueued, 10)}}.Encode(), &m, ""
}

// uploadDir makes the default upload directory.
func uploadDir() (string, error) { return os.MkdirTemp("", "sinch-dispatch-uploads-") }

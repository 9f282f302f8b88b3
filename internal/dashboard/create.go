package dashboard

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
	"github.com/sinch-dispatch/sinch-dispatch/internal/idempotency"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
)

// DefaultMaxUpload bounds one POST /api/campaigns, as enqueue's
// --max-bytes bounds a file.
const DefaultMaxUpload = recipients.DefaultMaxBytes

// maxSpecBytes bounds the spec part: it is a small JSON object.
const maxSpecBytes = 64 << 10

// Errors of a create request, answered 400 unless said otherwise.
var (
	errNotMultipart = errors.New("the request must be multipart/form-data with a spec part and a csv part")
	errPartOrder    = errors.New("the spec part must come before the csv part (the CSV is read as it streams)")
	errNoSpec       = errors.New("no spec part: a JSON object of the upload's settings")
	errNoCSV        = errors.New("no csv part: the recipients file")
	errUnknownPart  = errors.New("unknown part: only spec and csv are read")
	errSpecTooLarge = fmt.Errorf("the spec part is larger than %d bytes", maxSpecBytes)
)

// apiCreate is POST /api/campaigns: an upload through the same pipeline
// as `enqueue`, streamed (the file is never held in memory), safe to retry
// with an Idempotency-Key.
func (s *Server) apiCreate(w http.ResponseWriter, r *http.Request, p principal) {
	// Multipart bodies are not parsed into a form, so the token can only
	// come in its header; bearer clients need none.
	if !p.bearer && !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf.token(p))) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or invalid CSRF token (X-CSRF-Token header)"})
		return
	}
	if r.ContentLength > s.cfg.MaxUpload {
		s.uploadTooLarge(w)
		return
	}
	// An upload of millions of rows outlasts the server's read and write
	// timeouts, which are for every other route; the size bound above and
	// the client's own connection bound this one.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.cfg.Logger.Warn("upload: cannot lift the read deadline", "err", err)
	}
	rc.SetWriteDeadline(time.Time{})
	dryRun, err := strconv.ParseBool(cmp.Or(r.URL.Query().Get("dry_run"), "false"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "dry_run: want true or false"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)

	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		s.writeCreated(w, s.create(r, dryRun, nil))
		return
	}
	claim, prev, err := s.cfg.Idempotency.Begin(r.Context(), p.name, key)
	switch {
	case errors.Is(err, idempotency.ErrBadKey):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, idempotency.ErrInFlight):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	case err != nil:
		s.apiError(w, r, err)
		return
	case prev != nil:
		// The key was answered: read this request only to tell whether it
		// is the same one.
		fp, ans := s.fingerprintOnly(r, dryRun)
		if ans != nil {
			s.writeCreated(w, ans)
			return
		}
		if err := prev.Matches(fp); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		s.writeCreated(w, &createAnswer{status: prev.Status, location: prev.Location, body: prev.Body})
		return
	}
	stop := claim.Keep(r.Context())
	fp := idempotency.NewFingerprint()
	ans := s.create(r, dryRun, fp)
	stop()
	if ans.status >= 500 {
		claim.Release(r.Context()) // a retry may well succeed: let it run
	} else if err := claim.Complete(r.Context(), idempotency.Response{
		Fingerprint: fp.Sum(), Status: ans.status, Location: ans.location, Body: ans.body,
	}); err != nil {
		s.cfg.Logger.Error("idempotency: response not stored", "err", err)
	}
	s.writeCreated(w, ans)
}

// createAnswer is a create request's response, kept whole so that it can
// be stored for a retry with the same Idempotency-Key.
type createAnswer struct {
	status   int
	location string
	body     []byte
}

func jsonAnswer(status int, v any) *createAnswer {
	b, _ := json.Marshal(v)
	return &createAnswer{status: status, body: append(b, '\n')}
}

func (s *Server) writeCreated(w http.ResponseWriter, a *createAnswer) {
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func (s *Server) uploadTooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
		"error": fmt.Sprintf("the upload is larger than %s (the dashboard's --max-upload)", enqueue.FormatSize(s.cfg.MaxUpload))})
}

// create reads the spec, then streams the csv part through the pipeline.
// fp, when set, is fed the request's parts as they are read.
func (s *Server) create(r *http.Request, dryRun bool, fp *idempotency.Fingerprint) *createAnswer {
	mr, err := multipartReader(r)
	if err != nil {
		return jsonAnswer(http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	if fp != nil {
		fp.Part("dry_run", []byte(strconv.FormatBool(dryRun)))
	}
	spec, specPart, ans := s.readSpec(mr)
	if ans != nil {
		return ans
	}
	if fp != nil {
		fp.Part("spec", specPart)
	}
	part, ans := nextPart(mr, "csv")
	if ans != nil {
		return ans
	}
	var csv io.Reader = part
	if fp != nil {
		csv = io.TeeReader(part, fp)
	}
	sum, err := s.cfg.Campaigns.Create(r.Context(), spec, enqueue.Input{CSV: csv, CSVName: part.FileName(), DryRun: dryRun})
	if err != nil {
		return s.createError(err, sum)
	}
	if dryRun {
		return jsonAnswer(http.StatusOK, sum)
	}
	s.recordAudit(r, sum.CampaignID, "create", http.StatusCreated)
	a := jsonAnswer(http.StatusCreated, sum)
	a.location = "/api/campaigns/" + sum.CampaignID
	return a
}

// fingerprintOnly reads a repeated request whole, creating nothing, and
// returns its fingerprint, or the answer to a request that is malformed.
func (s *Server) fingerprintOnly(r *http.Request, dryRun bool) (string, *createAnswer) {
	mr, err := multipartReader(r)
	if err != nil {
		return "", jsonAnswer(http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	fp := idempotency.NewFingerprint()
	fp.Part("dry_run", []byte(strconv.FormatBool(dryRun)))
	_, specPart, ans := s.readSpec(mr)
	if ans != nil {
		return "", ans
	}
	fp.Part("spec", specPart)
	part, ans := nextPart(mr, "csv")
	if ans != nil {
		return "", ans
	}
	if _, err := io.Copy(fp, part); err != nil {
		return "", bodyErrorAnswer(err)
	}
	return fp.Sum(), nil
}

func multipartReader(r *http.Request) (*multipart.Reader, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, errNotMultipart
	}
	return r.MultipartReader()
}

// readSpec reads the first part, which must be the spec.
func (s *Server) readSpec(mr *multipart.Reader) (enqueue.Spec, []byte, *createAnswer) {
	part, ans := nextPart(mr, "spec")
	if ans != nil {
		return enqueue.Spec{}, nil, ans
	}
	raw, err := io.ReadAll(io.LimitReader(part, maxSpecBytes+1))
	if err != nil {
		return enqueue.Spec{}, nil, bodyErrorAnswer(err)
	}
	if len(raw) > maxSpecBytes {
		return enqueue.Spec{}, nil, jsonAnswer(http.StatusBadRequest, map[string]string{"error": errSpecTooLarge.Error()})
	}
	spec, err := enqueue.DecodeSpecJSON(bytes.NewReader(raw))
	if err != nil {
		return enqueue.Spec{}, nil, specErrorAnswer(err)
	}
	return spec, raw, nil
}

// nextPart returns the next part, which must be named want (parts after
// the csv part are never read).
func nextPart(mr *multipart.Reader, want string) (*multipart.Part, *createAnswer) {
	part, err := mr.NextPart()
	if errors.Is(err, io.EOF) {
		missing := errNoCSV
		if want == "spec" {
			missing = errNoSpec
		}
		return nil, jsonAnswer(http.StatusBadRequest, map[string]string{"error": missing.Error()})
	}
	if err != nil {
		return nil, bodyErrorAnswer(err)
	}
	switch name := part.FormName(); {
	case name == want:
		return part, nil
	case want == "spec" && name == "csv":
		return nil, jsonAnswer(http.StatusBadRequest, map[string]string{"error": errPartOrder.Error()})
	default:
		return nil, jsonAnswer(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%v: %q", errUnknownPart, name)})
	}
}

// specErrorAnswer is a 400 naming every bad field by its key.
func specErrorAnswer(err error) *createAnswer {
	body := map[string]any{"error": err.Error()}
	var fields enqueue.Errors
	if errors.As(err, &fields) {
		list := make([]map[string]string, len(fields))
		for i, f := range fields {
			list[i] = map[string]string{"field": f.Field, "error": f.In(enqueue.Keys)}
		}
		body["fields"] = list
	}
	return jsonAnswer(http.StatusBadRequest, body)
}

// createError maps an upload's error to its answer: the caller's mistakes
// are 400 (413 over the size bound), the rest 500 with the rows done so far.
func (s *Server) createError(err error, sum enqueue.Summary) *createAnswer {
	var fe *enqueue.FieldError
	var fields enqueue.Errors
	var fatal *recipients.FatalError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, recipients.ErrTooLarge):
		return jsonAnswer(http.StatusRequestEntityTooLarge, map[string]any{"error": err.Error(), "rows": sum.Rows})
	case errors.As(err, &fields), errors.As(err, &fe):
		return specErrorAnswer(err)
	case errors.As(err, &fatal):
		return jsonAnswer(http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, enqueue.ErrRedisFull):
		// The message says how far the upload got and what to do; sending
		// the same request again after making room finishes it.
		s.cfg.Logger.Error("create campaign: redis has no room", "campaign_id", sum.CampaignID, "rows", sum.Rows, "err", err)
		return jsonAnswer(http.StatusInsufficientStorage, map[string]any{"error": err.Error(), "rows": sum.Rows})
	}
	s.cfg.Logger.Error("create campaign failed", "campaign_id", sum.CampaignID, "rows", sum.Rows, "err", err)
	return jsonAnswer(http.StatusInternalServerError, map[string]any{
		"error": "internal error (see the dashboard's log); sending the same request again finishes the upload (nobody is sent twice)",
		"rows":  sum.Rows})
}

func bodyErrorAnswer(err error) *createAnswer {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return jsonAnswer(http.StatusRequestEntityTooLarge, map[string]string{"error": "the upload is larger than the dashboard's --max-upload"})
	}
	return jsonAnswer(http.StatusBadRequest, map[string]string{"error": "reading the request: " + err.Error()})
}

// apiReport is GET /api/campaigns/{id}/report: the report CSV, streamed.
func (s *Server) apiReport(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("id")
	rep, err := s.cfg.Campaigns.Report(r.Context(), id)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+"-report.csv"))
	if _, err := rep.WriteCSV(r.Context(), w); err != nil {
		// Headers are gone: the client sees a cut file; say so in the log.
		s.cfg.Logger.Error("report stream failed", "campaign_id", id, "err", err)
	}
}

package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// auditOnPage is how many audit entries the campaign page shows; the API
// has them all (campaign.AuditLimit).
const auditOnPage = 50

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the upload
// route lifts its deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// audited records each request to a campaign action route in the
// campaign's audit log once it is answered: who, which action, from where,
// and the status, refusals included (a viewer's 403, a missing CSRF
// token). Requests for an unknown action or campaign are not recorded:
// there is no campaign to keep them with.
func (s *Server) audited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		id, action := r.PathValue("id"), r.PathValue("action")
		if !actions[action] {
			return
		}
		s.recordAudit(r, id, action, cmp.Or(sw.status, http.StatusOK))
	})
}

// recordAudit writes one action on campaign id to its audit log.
func (s *Server) recordAudit(r *http.Request, id, action string, status int) {
	if campaign.ValidateID(id) != nil {
		return
	}
	p := principalOf(r.Context())
	e := campaign.AuditEntry{At: time.Now().UTC(), User: p.name, Role: p.role.String(), Action: action,
		Addr: clientIP(r), Status: status, Result: auditResult(status)}
	err := s.cfg.Campaigns.Record(context.WithoutCancel(r.Context()), id, e)
	if err != nil && !errors.Is(err, campaign.ErrNotFound) {
		s.cfg.Logger.Error("audit log write failed", "campaign_id", id, "action", action, "by", p.name, "err", err)
	}
	if e.Status >= 400 {
		s.cfg.Logger.Warn("campaign action refused", "campaign_id", id, "action", action, "by", p.name,
			"addr", e.Addr, "status", e.Status)
	}
}

// auditResult is how an action ended, in words: "ok" or the HTTP status'
// text ("forbidden", "conflict", ...).
func auditResult(code int) string {
	if code < 400 {
		return "ok"
	}
	return strings.ToLower(http.StatusText(code))
}

// apiAudit is the campaign's audit log, newest first.
func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("id")
	entries, err := s.cfg.Campaigns.Audit(r.Context(), id, 0)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

// auditRow is one audit entry on the campaign page.
type auditRow struct {
	campaign.AuditEntry
	When string
}

// auditRows reads the newest entries of the campaign's audit log for its
// page.
func (s *Server) auditRows(ctx context.Context, id string) ([]auditRow, error) {
	entries, err := s.cfg.Campaigns.Audit(ctx, id, auditOnPage)
	if err != nil {
		return nil, err
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		rows[i] = auditRow{AuditEntry: e, When: e.At.UTC().Format("2006-01-02 15:04:05")}
	}
	return rows, nil
}

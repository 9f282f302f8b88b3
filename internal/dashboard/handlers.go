package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/campaignctl"
)

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// authed adapts a handler that needs the request's principal (set by the
// auth middleware).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(principalKey{}).(principal)
		h(w, r, p)
	})
}

// Actions on a campaign, as in `campaign pause|resume|cancel|retry`.
var actions = map[string]bool{"pause": true, "resume": true, "cancel": true, "retry": true}

// actionResult is the JSON answer to an action: what it did and the
// campaign after it.
type actionResult struct {
	Action   string           `json:"action"`
	Result   any              `json:"result,omitempty"`
	Campaign campaign.Summary `json:"campaign"`
}

// done is what an action did, carried to the page in the redirect's query
// (numbers and flags only: a crafted link cannot put words on the page).
type done struct {
	Action  string
	N, Left int64
	Paused  bool
	// Refused: the campaign is cancelled, so the action did nothing.
	Refused bool
}

func (d done) query() string {
	q := url.Values{"did": {d.Action}, "n": {strconv.FormatInt(d.N, 10)}, "left": {strconv.FormatInt(d.Left, 10)}}
	if d.Paused {
		q.Set("paused", "1")
	}
	if d.Refused {
		q.Set("refused", "1")
	}
	return q.Encode()
}

func doneFromQuery(q url.Values) (done, bool) {
	d := done{Action: q.Get("did"), Paused: q.Get("paused") == "1", Refused: q.Get("refused") == "1"}
	d.N, _ = strconv.ParseInt(q.Get("n"), 10, 64)
	d.Left, _ = strconv.ParseInt(q.Get("left"), 10, 64)
	return d, actions[d.Action]
}

// String is the line the page shows.
func (d done) String() string {
	if d.Refused {
		return fmt.Sprintf("Could not %s: the campaign is cancelled, and a cancelled campaign stays cancelled.", d.Action)
	}
	switch d.Action {
	case "pause":
		return "Paused: workers stop sending within about a second; nothing is lost."
	case "resume":
		return "Resumed."
	case "cancel":
		return fmt.Sprintf("Cancelled: %d pending recipients cancelled.", d.N)
	}
	note := fmt.Sprintf("Re-queued %d failed sends.", d.N)
	if d.Left > 0 {
		note += fmt.Sprintf(" %d could not be: their archived task is gone.", d.Left)
	}
	if d.Paused {
		note += " The campaign is paused: they are sent once it is resumed."
	}
	return note
}

// runAction runs one action and returns its result (nil for pause and
// resume) and what it did.
func (s *Server) runAction(r *http.Request, id, action string) (result any, d done, err error) {
	ctx, reason := r.Context(), r.FormValue("reason")
	d.Action = action
	if utf8.RuneCountInString(reason) > maxReason {
		return nil, d, errLongReason
	}
	switch action {
	case "pause":
		return nil, d, s.cfg.Campaigns.Pause(ctx, id, reason)
	case "resume":
		return nil, d, s.cfg.Campaigns.Resume(ctx, id)
	case "cancel":
		res, err := s.cfg.Campaigns.Cancel(ctx, id, reason)
		d.N = res.Cancelled
		return res, d, err
	case "retry":
		res, err := s.cfg.Campaigns.Retry(ctx, id)
		d.N, d.Left, d.Paused = res.Requeued, res.FailedLeft, res.Paused
		return res, d, err
	}
	return nil, d, errUnknownAction
}

var errUnknownAction = errors.New("unknown action: use pause, resume, cancel or retry")

// maxReason bounds the reason an operator types: it is stored and shown.
const maxReason = 200

var errLongReason = fmt.Errorf("reason: at most %d characters", maxReason)

// errorStatus maps an operation's error to an HTTP status and a message
// safe to show (internal errors are logged, not shown).
func (s *Server) errorStatus(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, campaign.ErrNotFound), errors.Is(err, campaignctl.ErrInvalidID), errors.Is(err, errUnknownAction):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, campaign.ErrCancelled), errors.Is(err, campaignctl.ErrTrackingBusy):
		return http.StatusConflict, err.Error()
	case errors.Is(err, errLongReason):
		return http.StatusBadRequest, err.Error()
	}
	s.cfg.Logger.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "internal error (see the dashboard's log)"
}

// checkAction validates an action request: known action, CSRF token.
func (s *Server) checkAction(w http.ResponseWriter, r *http.Request, p principal) (action string, ok bool) {
	action = r.PathValue("action")
	if !actions[action] {
		http.Error(w, errUnknownAction.Error(), http.StatusNotFound)
		return "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !s.csrf.valid(r, p) {
		http.Error(w, "missing or invalid CSRF token (csrf_token field or X-CSRF-Token header)", http.StatusForbidden)
		return "", false
	}
	return action, true
}

// --- JSON API ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := s.errorStatus(r, err)
	writeJSON(w, code, map[string]string{"error": msg})
}

// apiList is `campaign list --json`. API reads hand out the CSRF token in
// a header, for Basic-auth scripts (a cross-site page cannot read it).
func (s *Server) apiList(w http.ResponseWriter, r *http.Request, p principal) {
	w.Header().Set(csrfHeader, s.csrf.token(p))
	sums, err := s.cfg.Campaigns.List(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sums)
}

// apiCampaign is `campaign status ID --json`.
func (s *Server) apiCampaign(w http.ResponseWriter, r *http.Request, p principal) {
	w.Header().Set(csrfHeader, s.csrf.token(p))
	sum, err := s.cfg.Campaigns.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request, p principal) {
	action, ok := s.checkAction(w, r, p)
	if !ok {
		return
	}
	id := r.PathValue("id")
	res, _, err := s.runAction(r, id, action)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	sum, err := s.cfg.Campaigns.Status(r.Context(), id)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.cfg.Logger.Info("campaign action", "campaign", id, "action", action, "by", p.name)
	writeJSON(w, http.StatusOK, actionResult{Action: action, Result: res, Campaign: sum})
}

// --- pages ---

func (s *Server) listPage(w http.ResponseWriter, r *http.Request, p principal) {
	sums, err := s.cfg.Campaigns.List(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.pages.render(w, http.StatusOK, "list.html", listView{Refresh: s.refreshSeconds(), Campaigns: rowsOf(sums), CanCreate: p.may(actionRole)})
}

func (s *Server) campaignPage(w http.ResponseWriter, r *http.Request, p principal) {
	sum, err := s.cfg.Campaigns.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	series, start, err := s.cfg.Campaigns.SendSeries(r.Context(), sum)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	sendErrors, grouped, err := s.cfg.Campaigns.SendFailures(r.Context(), sum)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := campaignViewOf(sum, series, start)
	v.SendErrors, v.SendErrorsSkipped = countsOf(sendErrors), !grouped
	v.CSRF, v.CanAct = s.csrf.token(p), p.may(actionRole)
	if v.Audit, err = s.auditRows(r.Context(), sum.CampaignID); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d, ok := doneFromQuery(r.URL.Query()); ok {
		v.Note, v.Refused = d.String(), d.Refused
	} else if n, err := strconv.ParseInt(r.URL.Query().Get("launched"), 10, 64); err == nil {
		v.Note = fmt.Sprintf("Launched: %d recipients queued.", n)
	}
	if !v.Finished {
		v.Refresh = s.refreshSeconds()
	}
	s.pages.render(w, http.StatusOK, "campaign.html", v)
}

// formAction runs an action from a page's button and goes back to the
// page with what it did (POST, redirect, GET: a reload does not repeat it).
func (s *Server) formAction(w http.ResponseWriter, r *http.Request, p principal) {
	action, ok := s.checkAction(w, r, p)
	if !ok {
		return
	}
	id := r.PathValue("id")
	_, d, err := s.runAction(r, id, action)
	if errors.Is(err, campaign.ErrCancelled) {
		// Said on the campaign's page, which shows it cancelled.
		d.Refused = true
		http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?"+d.query(), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.cfg.Logger.Info("campaign action", "campaign", id, "action", action, "by", p.name)
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?"+d.query(), http.StatusSeeOther)
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := s.errorStatus(r, err)
	s.pages.render(w, code, "error.html", errorView{Status: code, Message: msg})
}

func (s *Server) refreshSeconds() int { return max(1, int(s.cfg.Refresh.Seconds())) }

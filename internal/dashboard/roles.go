package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// route is one route behind auth and the least role it needs. New serves
// every route of its table through require: this table is the one place
// that decides who may do what.
type route struct {
	pattern string
	role    Role
	handler http.Handler
	// audit marks a campaign action: each request, allowed or not, is
	// recorded in the campaign's audit log.
	audit bool
}

// actionRole may change campaigns: every campaign action (and any added
// later, such as creating one) needs it. The campaign page shows action
// buttons to this role only.
const actionRole = RoleOperator

// principalOf is the request's principal, as the auth middleware set it.
func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// require answers 403 to a principal whose role is below need.
func (s *Server) require(need Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := principalOf(r.Context()); !p.may(need) {
			msg := fmt.Sprintf("forbidden: this needs the %s role; you are %s", need, p.role)
			if isAPI(r.URL.Path) {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": msg})
			} else {
				s.pages.render(w, http.StatusForbidden, "error.html", errorView{Status: http.StatusForbidden, Message: msg})
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isAPI reports whether path is a JSON API's: the dashboard's or asynqmon's.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, monitoringPath+"api/")
}

package dashboard

import (
	"net/http"
	"strings"
)

// Content-Security-Policy of the dashboard's own pages: no script at all
// (auto-refresh is a meta refresh, the chart is inline SVG), styles from
// the embedded stylesheet only, forms post to this origin only.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// builderCSP is pageCSP with the campaign builder's script (served from
// /static/, never inline) and its fetches of the preview.
const builderCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// asynqmon's prebuilt UI starts with inline scripts and injects styles at
// run time, so /monitoring/ needs 'unsafe-inline' for both; everything
// else stays same-origin (its Prometheus charts are proxied by its API).
const monitoringCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'self'"

// secureHeaders sets the security headers on every response, before the
// handler runs (so they are on 401s and errors too).
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		csp := pageCSP
		switch {
		case strings.HasPrefix(r.URL.Path, monitoringPath):
			csp = monitoringCSP
		case r.URL.Path == builderPath || strings.HasPrefix(r.URL.Path, builderPath+"/"):
			csp = builderCSP
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store") // campaign data and tokens stay out of caches
		next.ServeHTTP(w, r)
	})
}

// Package dashboard serves the web front door: campaign pages and their
// JSON API, asynqmon at /monitoring/, and the routes other packages provide
// (the Sinch webhook, Prometheus metrics). Everything but the webhook is
// behind auth; every response carries security headers; actions are
// POST-only with CSRF protection.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/hibiken/asynqmon"
)

// Routes.
const (
	monitoringPath = "/monitoring/"
	WebhookPath    = "/webhooks/sinch"
	MetricsPath    = "/metrics"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the dashboard's http.Handler.
type Server struct {
	cfg     Config
	handler http.Handler
	auth    *authenticator
	csrf    *csrfTokens
	pages   *pages
	monitor *asynqmon.HTTPHandler
}

// New builds the dashboard. Close releases asynqmon's Redis connections.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, auth: newAuthenticator(cfg.Auth), csrf: newCSRFTokens(), pages: pg}
	s.monitor = asynqmon.New(asynqmon.Options{
		RootPath:          monitoringPath[:len(monitoringPath)-1],
		RedisConnOpt:      cfg.RedisOpt,
		ReadOnly:          !cfg.Admin,
		PrometheusAddress: cfg.PrometheusURL,
	})

	// Behind auth.
	app := http.NewServeMux()
	app.Handle("GET /{$}", http.RedirectHandler("/campaigns", http.StatusSeeOther))
	app.Handle("GET /campaigns", s.authed(s.listPage))
	app.Handle("GET /campaigns/{id}", s.authed(s.campaignPage))
	app.Handle("POST /campaigns/{id}/{action}", s.authed(s.formAction))
	app.Handle("GET /api/campaigns", s.authed(s.apiList))
	app.Handle("GET /api/campaigns/{id}", s.authed(s.apiCampaign))
	app.Handle("POST /api/campaigns/{id}/{action}", s.authed(s.apiAction))
	static, _ := fs.Sub(staticFS, "static")
	app.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	app.Handle("GET /monitoring", http.RedirectHandler(monitoringPath, http.StatusMovedPermanently))
	app.Handle(monitoringPath, s.readOnlyGuard(s.monitor))
	if cfg.Metrics != nil {
		app.Handle("GET "+MetricsPath, cfg.Metrics)
	}
	// Browsers mark cross-site requests (Sec-Fetch-Site, Origin): refuse
	// every unsafe one, asynqmon's included.
	protected := http.NewCrossOriginProtection().Handler(app)

	root := http.NewServeMux()
	if cfg.Webhook != nil {
		// Sinch cannot log in: the webhook checks Sinch's signature.
		root.Handle("POST "+WebhookPath, cfg.Webhook)
	}
	root.Handle("/", s.auth.middleware(func(w http.ResponseWriter, r *http.Request, p principal) {
		protected.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	}))
	s.handler = secureHeaders(root)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close closes asynqmon's connections.
func (s *Server) Close() error { return s.monitor.Close() }

// readOnlyGuard enforces asynqmon's ReadOnly on the server: asynqmon only
// hides its buttons, its API would still run, delete or archive tasks.
func (s *Server) readOnlyGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Admin && r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the task monitor is read-only: start the dashboard with --admin to change tasks", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

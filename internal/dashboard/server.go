// Package dashboard serves the web front door: campaign pages and their
// JSON API, asynqmon at /monitoring/, and the routes other packages provide
// (the Sinch webhook, Prometheus metrics). Everything but the webhook is
// behind auth; every response carries security headers; actions are
// POST-only with CSRF protection.
package dashboard

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"

	"github.com/hibiken/asynqmon"
)

// Routes.
const (
	monitoringPath = "/monitoring/"
	WebhookPath    = "/webhooks/sinch"
	MetricsPath    = "/metrics"
	builderPath    = "/campaigns/new"
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
	uploads *uploads
	// tmpUploads is the upload directory New made (removed by Close).
	tmpUploads string
	// monitor is asynqmon without its write buttons; writer, with --admin
	// only, is asynqmon with them, for admins.
	monitor, writer *asynqmon.HTTPHandler
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
	if cfg.UploadDir == "" {
		if cfg.UploadDir, err = uploadDir(); err != nil {
			return nil, fmt.Errorf("upload directory: %w", err)
		}
		s.tmpUploads = cfg.UploadDir
	}
	s.uploads = newUploads(cfg.UploadDir, cfg.UploadTTL, cfg.Logger)
	asynqmonWith := func(readOnly bool) *asynqmon.HTTPHandler {
		return asynqmon.New(asynqmon.Options{
			RootPath:          monitoringPath[:len(monitoringPath)-1],
			RedisConnOpt:      cfg.RedisOpt,
			ReadOnly:          readOnly,
			PrometheusAddress: cfg.PrometheusURL,
		})
	}
	s.monitor = asynqmonWith(true)
	if cfg.Admin {
		s.writer = asynqmonWith(false)
	}

	static, _ := fs.Sub(staticFS, "static")
	routes := []route{
		{pattern: "GET /{$}", role: RoleViewer, handler: http.RedirectHandler("/campaigns", http.StatusSeeOther)},
		{pattern: "GET /campaigns", role: RoleViewer, handler: s.authed(s.listPage)},
		{pattern: "GET /campaigns/{id}", role: RoleViewer, handler: s.authed(s.campaignPage)},
		// The campaign builder: every step can create a campaign.
		{pattern: "GET /campaigns/new", role: actionRole, handler: s.authed(s.newPage)},
		{pattern: "POST /campaigns/new", role: actionRole, handler: s.authed(s.newUpload)},
		{pattern: "GET /campaigns/new/{upload}", role: actionRole, handler: s.authed(s.reviewPage)},
		{pattern: "POST /campaigns/new/{upload}", role: actionRole, handler: s.authed(s.reviewPost)},
		{pattern: "POST /campaigns/new/{upload}/preview", role: actionRole, handler: s.authed(s.previewJSON)},
		{pattern: "GET /campaigns/new/{upload}/rejects.csv", role: actionRole, handler: s.authed(s.rejectsCSV)},
		{pattern: "POST /campaigns/{id}/{action}", role: actionRole, handler: s.authed(s.formAction), audit: true},
		{pattern: "GET /api/campaigns", role: RoleViewer, handler: s.authed(s.apiList)},
		{pattern: "GET /api/campaigns/{id}", role: RoleViewer, handler: s.authed(s.apiCampaign)},
		{pattern: "GET /api/campaigns/{id}/audit", role: RoleViewer, handler: s.authed(s.apiAudit)},
		{pattern: "GET /api/campaigns/{id}/report", role: RoleViewer, handler: s.authed(s.apiReport)},
		{pattern: "POST /api/campaigns", role: actionRole, handler: s.authed(s.apiCreate)},
		{pattern: "POST /api/campaigns/{id}/{action}", role: actionRole, handler: s.authed(s.apiAction), audit: true},
		{pattern: "GET /static/", role: RoleViewer, handler: http.StripPrefix("/static/", http.FileServerFS(static))},
		{pattern: "GET /monitoring", role: RoleViewer, handler: http.RedirectHandler(monitoringPath, http.StatusMovedPermanently)},
		// Everyone reads the task monitor; its other methods change tasks.
		{pattern: "GET " + monitoringPath, role: RoleViewer, handler: http.HandlerFunc(s.monitorUI)},
		{pattern: monitoringPath, role: RoleAdmin, handler: s.readOnlyGuard()},
	}
	if cfg.Metrics != nil {
		routes = append(routes, route{pattern: "GET " + MetricsPath, role: RoleViewer, handler: cfg.Metrics})
	}
	app := http.NewServeMux()
	for _, rt := range routes {
		h := s.require(rt.role, rt.handler)
		if rt.audit {
			h = s.audited(h)
		}
		app.Handle(rt.pattern, h)
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

// Close closes asynqmon's connections, stops the upload sweeper and
// removes the upload directory New made.
func (s *Server) Close() error {
	s.uploads.close()
	if s.tmpUploads != "" {
		os.RemoveAll(s.tmpUploads)
	}
	err := s.monitor.Close()
	if s.writer != nil {
		err = errors.Join(err, s.writer.Close())
	}
	return err
}

// monitorUI serves asynqmon's pages and reads: with its write buttons to
// admins when the dashboard runs with --admin, without them otherwise.
func (s *Server) monitorUI(w http.ResponseWriter, r *http.Request) {
	if s.writer != nil && principalOf(r.Context()).may(RoleAdmin) {
		s.writer.ServeHTTP(w, r)
		return
	}
	s.monitor.ServeHTTP(w, r)
}

// readOnlyGuard serves asynqmon's write requests (admins only, by the
// route table) with --admin, and refuses them without: asynqmon's
// ReadOnly only hides its buttons, its API would still run, delete or
// archive tasks.
func (s *Server) readOnlyGuard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.writer == nil {
			http.Error(w, "the task monitor is read-only: start the dashboard with --admin to change tasks", http.StatusForbidden)
			return
		}
		p := principalOf(r.Context())
		sw := &statusWriter{ResponseWriter: w}
		s.writer.ServeHTTP(sw, r)
		s.cfg.Logger.Info("task monitor action", "method", r.Method, "path", r.URL.Path, "by", p.name,
			"addr", clientIP(r), "status", cmp.Or(sw.status, http.StatusOK))
	})
}

// Package web is Firebreak's read-only web view: the incidents list, one
// page per incident with its timeline drawn, and an overview of how fast
// incidents are acknowledged, mitigated and resolved.
//
// Data comes from incidents.Store read transactions only (and
// Service.Postmortem for the postmortem); nothing here changes an
// incident. Pages are rendered on the server with html/template, charts
// are SVG drawn in Go, and the only other file served is an embedded
// style sheet, so the Content-Security-Policy allows no script at all.
//
// The list and the overview read an in-memory summary of every incident
// (see index) instead of decoding incidents from the store per request.
//
// The view is off unless a password is configured
// (FIREBREAK_WEB_PASSWORD); see ConfigFromEnv.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak/firebreak/incidents"
)

// Prefix is the path the web view is mounted under on FIREBREAK_LISTEN.
const Prefix = "/web"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// MinPasswordLength is the shortest FIREBREAK_WEB_PASSWORD accepted.
const MinPasswordLength = 12

// Postmortems renders an incident's postmortem as Markdown;
// *incidents.Service implements it.
type Postmortems interface {
	Postmortem(ctx context.Context, n uint64, w io.Writer) error
}

var _ Postmortems = (*incidents.Service)(nil)

// Config configures the web view.
type Config struct {
	// Store is read for incidents and timelines.
	Store incidents.Store
	// Postmortems renders postmortems; nil hides them.
	Postmortems Postmortems
	// Password is the shared login password. Empty refuses New: the web
	// view stays off until it is configured.
	Password string
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// SecureCookie marks the session cookie Secure; set it when the view
	// is reached over https (ConfigFromEnv does when FIREBREAK_PUBLIC_URL
	// is https).
	SecureCookie bool
	// FailDelay slows every refused login (default 500ms).
	FailDelay time.Duration
	// Refresh is how often the incident index is brought up to date at
	// most (default 2s): a new incident shows up within that time.
	Refresh time.Duration
	// Now is the clock for sessions, sign-in limits, charts and the
	// overview's period (default time.Now).
	Now func() time.Time
	// Logger receives refused sign-ins and read errors (default: discard).
	Logger *slog.Logger
}

// ConfigFromEnv reads FIREBREAK_WEB_PASSWORD and FIREBREAK_PUBLIC_URL. ok
// is false when no password is set: the web view is off.
// A malformed FIREBREAK_PUBLIC_URL is an error even then, since chat
// cards link it.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	if pub := getenv("FIREBREAK_PUBLIC_URL"); pub != "" {
		u, err := ParsePublicURL(pub)
		if err != nil {
			return cfg, false, err
		}
		cfg.SecureCookie = u.Scheme == "https"
	}
	cfg.Password = getenv("FIREBREAK_WEB_PASSWORD")
	if cfg.Password == "" {
		return cfg, false, nil
	}
	if len(cfg.Password) < MinPasswordLength {
		return cfg, false, fmt.Errorf("FIREBREAK_WEB_PASSWORD is %d characters; the web view wants at least %d", len(cfg.Password), MinPasswordLength)
	}
	return cfg, true, nil
}

// ParsePublicURL checks FIREBREAK_PUBLIC_URL: an absolute http or https URL.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("FIREBREAK_PUBLIC_URL %q: want an absolute http or https URL such as https://firebreak.example.com", s)
	}
	return u, nil
}

// IncidentURL returns the function chat cards use to link an incident's
// page under publicURL (FIREBREAK_PUBLIC_URL), or nil when it is empty.
func IncidentURL(publicURL string) func(number uint64) string {
	if publicURL == "" {
		return nil
	}
	base := strings.TrimRight(publicURL, "/") + Prefix + "/incidents/"
	return func(n uint64) string { return base + strconv.FormatUint(n, 10) }
}

// Server serves the web view under Prefix. It is an http.Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	sessions sessions
	limiter  *limiter
	index    *index
	marks    *markCache
	views    *viewCache
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

var _ http.Handler = (*Server)(nil)

// New builds the web view. The session key is random per process, so a
// restart signs everyone out.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web view: no store")
	}
	if cfg.Password == "" {
		return nil, errors.New("web view: no password configured (FIREBREAK_WEB_PASSWORD)")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.FailDelay == 0 {
		cfg.FailDelay = 500 * time.Millisecond
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("web view: session key: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		sessions: sessions{key: key, ttl: cfg.SessionTTL, secure: cfg.SecureCookie},
		limiter:  &limiter{max: 5, window: time.Minute},
		index:    &index{store: cfg.Store, every: cfg.Refresh, now: time.Now},
		marks:    newMarkCache(16),
		views:    newViewCache(16),
		pages:    pages,
	}
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/static/style.css", s.style)
	m.HandleFunc("GET "+Prefix+"/login", s.loginPage)
	// Signing in and out are the only requests that change anything; a
	// cross-site form must not do either (login CSRF, forced sign-out).
	csrf := http.NewCrossOriginProtection()
	m.Handle("POST "+Prefix+"/login", csrf.Handler(http.HandlerFunc(s.login)))
	m.Handle("POST "+Prefix+"/logout", csrf.Handler(http.HandlerFunc(s.logout)))
	m.Handle("GET "+Prefix+"/{$}", s.auth(http.RedirectHandler(Prefix+"/incidents", http.StatusSeeOther)))
	m.Handle("GET "+Prefix+"/incidents", s.auth(http.HandlerFunc(s.list)))
	m.Handle("GET "+Prefix+"/incidents/{n}", s.auth(http.HandlerFunc(s.incident)))
	m.Handle("GET "+Prefix+"/incidents/{n}/postmortem.md", s.auth(http.HandlerFunc(s.postmortemMD)))
	m.Handle("GET "+Prefix+"/overview", s.auth(http.HandlerFunc(s.overview)))
	m.Handle(Prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "No such page.")
	}))
	s.mux = m
	return s, nil
}

// Warm builds the incident index now, so the first visitor does not wait
// for the scan of a large database.
func (s *Server) Warm(ctx context.Context) error {
	_, err := s.index.get(ctx)
	return err
}

// ServeHTTP sets the security headers on every response and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// auth sends visitors without a valid session to the login page.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sessions.valid(r, s.now()) {
			http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(styleCSS)
}

type loginData struct {
	Next  string
	Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", "Sign in", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	addr := clientAddr(r)
	next := safeNext(r.FormValue("next"))
	if wait, blocked := s.limiter.blocked(addr, s.now()); blocked {
		w.Header().Set("Retry-After", retryAfter(wait))
		s.render(w, r, http.StatusTooManyRequests, "login", "Sign in", loginData{Next: next,
			Error: "Too many failed sign-ins from your address. Try again in " + retryAfter(wait) + " seconds."})
		return
	}
	if !passwordOK(r.FormValue("password"), s.cfg.Password) {
		s.limiter.fail(addr, s.now())
		s.log.Warn("web view: refused sign-in", "addr", addr)
		select {
		case <-time.After(s.cfg.FailDelay):
		case <-r.Context().Done():
		}
		s.render(w, r, http.StatusUnauthorized, "login", "Sign in", loginData{Next: next, Error: "Wrong password."})
		return
	}
	http.SetCookie(w, s.sessions.issue(s.now()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessions.clear())
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// page is what every page template gets.
type page struct {
	Title    string
	Prefix   string
	LoggedIn bool
	Nav      string
	Data     any
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	p := page{Title: title, Prefix: Prefix, LoggedIn: s.sessions.valid(r, s.now()), Nav: name, Data: data}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("web view: rendering", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see the log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type errorData struct{ Message string }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", http.StatusText(status), errorData{Message: msg})
}

// internal logs err and shows a short message; details stay in the log.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("web view", "path", r.URL.Path, "err", err)
	s.fail(w, r, http.StatusInternalServerError, "Reading the database failed; the log says why.")
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/svg.html")
	if err != nil {
		return nil, fmt.Errorf("web view templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "error", "list", "incident", "overview"} {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web view template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

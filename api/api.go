// Package api is the station's HTTP side, on echo: the central API
// (intake, status, change feed, acknowledgement), the technician panel
// (server-rendered pages, live over server-sent events, Vietnamese and
// English), authentication (pinned client certificates, bearer tokens, panel
// accounts with sessions), /metrics, /livez and /readyz.
//
// It holds no business rules: intake validation and storage are the
// station's (Control.Intake), states and their transitions the queue's
// (Store). What it adds is who may do what (roles.go), limits, and the
// shapes on the wire, described by the embedded OpenAPI document
// (openapi.yaml) that the tests hold every route and every response to.
//
// The daemon builds it with New, serves it with NewServer/Listen (timeouts,
// TLS with optional client certificates), and feeds the Metrics it passes in
// (station.Observer). Tokens and accounts live in the Auth store
// (OpenAuth), which stationctl manages.
package api

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// Control is the running station as the API drives it; *station.Station
// implements it.
type Control interface {
	Snapshot() station.Snapshot // readers, signer, queue counts, draining
	Changed() <-chan struct{}   // closed at the next change (then a new one)
	Pause(reader string) error  // station.ErrNoReader
	Resume(reader string) error
	Drain(on bool) // stop claiming new work (before maintenance); cards in hand finish
	// Intake validates and stores applications; IntakeResult.Err is
	// queue.ErrConflict or station.ErrUnidentifiable.
	Intake(ctx context.Context, docs [][]byte) ([]station.IntakeResult, error)
}

var _ Control = (*station.Station)(nil)

// Store is what the API reads from and asks of the job store; *queue.Store
// implements it.
type Store interface {
	Status(ctx context.Context, id string) (*queue.Status, error)
	Search(ctx context.Context, f queue.SearchFilter) ([]queue.Status, int, error)
	Events(ctx context.Context, after int64, limit int) ([]queue.Event, error)
	LastEvent(ctx context.Context) (int64, error)
	Ack(ctx context.Context, cursor int64) (int, error)
	Cancel(ctx context.Context, id string) (queue.State, error)
	Retry(ctx context.Context, id string) (queue.State, error)
	Cards(ctx context.Context, f queue.CardFilter) ([]queue.Card, error)
	MarkDestroyed(ctx context.Context, serial, by string) error
	Audit(ctx context.Context, action, subject, detail string) error
	AuditLog(ctx context.Context, f queue.AuditFilter) ([]queue.AuditEntry, error)
	VerifyAudit(ctx context.Context) (queue.AuditReport, error)
	CountByState(ctx context.Context) (map[queue.State]int, error)
	Changed() <-chan struct{}
	// PersonalData is the application as central sent it (decrypted);
	// queue.ErrNotFound once purged.
	PersonalData(ctx context.Context, id string) ([]byte, error)
}

// Options assemble the API.
type Options struct {
	Store   Store   // required
	Control Control // required
	Auth    *Auth   // required: tokens, accounts, sessions
	// Metrics the station feeds (station.Observer); New adds the
	// scrape-time gauges. Default: a new one.
	Metrics *Metrics
	Log     *slog.Logger // default: discarded

	// ClientCertPins are the SHA-256 fingerprints (hex, colons allowed) of
	// the client certificates that authenticate as central (mutual TLS;
	// serve with TLSConfig). Empty: no certificate is accepted.
	ClientCertPins []string
	// CentralCertOnly refuses bearer tokens of role central: central must
	// present a pinned certificate (deployments with mutual TLS only).
	CentralCertOnly bool

	// Config is what the panel's configuration page shows: the daemon's
	// configuration with secrets already removed. Fields whose names look
	// like secrets (pin, password, secret, token, key) are blanked again
	// here, as a second line.
	Config any

	MaxIntakeBytes int64 // body of POST /api/v1/applications; default 16 MiB
	MaxBodyBytes   int64 // every other body; default 64 KiB
	MaxBatch       int   // applications per batch; default 500
	// RateLimit per client (token, certificate, session, or address when
	// unauthenticated), requests per second with a burst; default 300/s,
	// burst 600 (central polling at 200/s fits). Logins have their own
	// limit per address.
	RateLimit float64
	RateBurst int
	// LiveDebounce: the live overview re-renders at most this often;
	// default 200 ms.
	LiveDebounce time.Duration
	// LiveStreamsPerSession bounds the live overviews one session may hold
	// open (besides the station's 64); default 4.
	LiveStreamsPerSession int
	// LiveSessionCheck: how often a live stream reads its session again,
	// for changes made by another process (stationctl disabling a user);
	// logout and changes made on this panel end the streams at once.
	// Default 2 s.
	LiveSessionCheck time.Duration

	Version string           // shown on the panel
	Now     func() time.Time // default time.Now
}

// API is the HTTP handler of the station.
type API struct {
	o       Options
	e       *echo.Echo
	log     *slog.Logger
	store   Store
	ctrl    Control
	auth    *Auth
	metrics *Metrics
	pins    map[[sha256.Size]byte]bool
	limit   *limiter // per client
	logins  *limiter // login attempts per address
	panel   *panel
	live    chan struct{} // bounds concurrent live streams
	// intakes bounds the intake requests read and validated at once (one
	// per core: validation is CPU-bound): a 16 MiB batch is held in memory
	// several times over while it is decoded, validated and sealed, and
	// more at once would not finish sooner. Others wait, their bodies unread.
	intakes chan struct{}
	streams liveStreams // live streams per session
	table   []Route

	closing   chan struct{} // closed by Close: live streams and long polls end
	closeOnce sync.Once
}

// New checks the options and builds the API.
func New(o Options) (*API, error) {
	if o.Store == nil || o.Control == nil || o.Auth == nil {
		return nil, errors.New("api: Store, Control and Auth are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.MaxIntakeBytes <= 0 {
		o.MaxIntakeBytes = 16 << 20
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 300
	}
	if o.RateBurst <= 0 {
		o.RateBurst = max(1, 2*int(o.RateLimit))
	}
	if o.LiveDebounce <= 0 {
		o.LiveDebounce = 200 * time.Millisecond
	}
	if o.LiveStreamsPerSession <= 0 {
		o.LiveStreamsPerSession = 4
	}
	if o.LiveSessionCheck <= 0 {
		o.LiveSessionCheck = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{
		o: o, log: o.Log, store: o.Store, ctrl: o.Control, auth: o.Auth, metrics: o.Metrics,
		pins:    map[[sha256.Size]byte]bool{},
		limit:   newLimiter(o.RateLimit, o.RateBurst),
		logins:  newLimiter(10.0/60, 10), // 10 attempts a minute per address, on top of the per-account lockout
		live:    make(chan struct{}, 64),
		intakes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		closing: make(chan struct{}),
	}
	for _, p := range o.ClientCertPins {
		fp, err := ParseFingerprint(p)
		if err != nil {
			return nil, err
		}
		a.pins[fp] = true
	}
	if err := a.metrics.watch(o.Control); err != nil {
		return nil, err
	}
	p, err := newPanel(a)
	if err != nil {
		return nil, err
	}
	a.panel = p
	a.e = a.routes()
	return a, nil
}

// Close ends the live streams and long polls in progress (and any that
// start later): an http.Server's Shutdown waits for requests to finish, and
// these would not by themselves. NewServer arranges for Shutdown to call
// it; ordinary requests in flight finish normally.
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closing) }) }

// ServeHTTP serves every route.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.e.ServeHTTP(w, r) }

// Route is a registered route: method, path (echo syntax: ":id", "*") and
// the permission it requires.
type Route struct {
	Method, Path string
	Permission   Permission
}

// Routes lists every route (the OpenAPI test holds them to the document,
// permissions included).
func (a *API) Routes() []Route { return slices.Clone(a.table) }

// EchoRoutes lists what echo itself has registered (the test checks it
// against Routes, so that no route escapes the table).
func (a *API) EchoRoutes() []Route {
	var out []Route
	for _, r := range a.e.Routes() {
		if strings.HasPrefix(r.Method, "echo_route_") { // echo's internal any/not-found entries
			continue
		}
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}

// Pseudo-permissions of the route table: public routes, and routes any
// authenticated principal may use (log out, language, session check).
const (
	permNone          Permission = "none"
	permAuthenticated Permission = "authenticated"
)

// handle registers a route with its permission: require(perm) runs after
// the other middleware (body limit), so that a refused request is refused
// before its handler reads anything.
func (a *API) handle(e *echo.Echo, method, path string, perm Permission, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	if perm != permNone {
		mw = append(mw, a.require(perm))
	}
	e.Add(method, path, h, mw...)
	a.table = append(a.table, Route{Method: method, Path: path, Permission: perm})
}

func (a *API) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.IPExtractor = echo.ExtractIPDirect() // never trust X-Forwarded-For: no proxy in front
	e.HTTPErrorHandler = a.errorHandler
	e.Pre(a.recoverer, a.securityHeaders)
	e.Use(a.instrument, a.authenticate, a.rateLimit)

	small, intake := a.bodyLimit(a.o.MaxBodyBytes), a.bodyLimit(a.o.MaxIntakeBytes)

	// Operations: no authentication (scraped and probed on the station
	// network); no personal data in any of them.
	a.handle(e, http.MethodGet, "/livez", permNone, a.livez)
	a.handle(e, http.MethodGet, "/readyz", permNone, a.readyz)
	a.handle(e, http.MethodGet, "/metrics", permNone, a.metricsHandler())
	a.handle(e, http.MethodGet, "/", permNone, func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/panel/") })

	// The central API.
	a.handle(e, http.MethodGet, "/api/v1/openapi.yaml", permNone, a.openapi)
	a.handle(e, http.MethodPost, "/api/v1/applications", PermIntake, a.postApplications, intake)
	a.handle(e, http.MethodGet, "/api/v1/applications/:id", PermStatus, a.getApplication)
	a.handle(e, http.MethodPost, "/api/v1/applications/:id/cancel", PermCancel, a.cancelApplication, small)
	a.handle(e, http.MethodGet, "/api/v1/events", PermEvents, a.getEvents)
	a.handle(e, http.MethodPost, "/api/v1/events/ack", PermEvents, a.ackEvents, small)
	// For scripts on the station network (tokens with a panel role).
	a.handle(e, http.MethodGet, "/api/v1/station", PermView, a.getStation)
	a.handle(e, http.MethodPost, "/api/v1/station/readers/pause", PermReaders, a.postReader(true), small)
	a.handle(e, http.MethodPost, "/api/v1/station/readers/resume", PermReaders, a.postReader(false), small)
	a.handle(e, http.MethodPost, "/api/v1/station/drain", PermDrain, a.postDrain, small)
	a.handle(e, http.MethodGet, "/api/v1/audit/verify", PermAudit, a.getAuditVerify)

	a.panel.routes(e, small)
	return e
}

// recoverer turns a panic into a 500 without logging its value (it could
// hold anything); the stack says where.
func (a *API) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				a.log.Error("panic in handler", append(logAttrs(c), "type", fmt.Sprintf("%T", r))...)
				err = internal(errors.New("panic"))
			}
		}()
		return next(c)
	}
}

// securityHeaders: no framing, no sniffing, no referrer, and a content
// security policy with nothing from elsewhere (the panel works offline).
func (a *API) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// bodyLimit refuses bodies larger than n: at once by Content-Length,
// otherwise when reading crosses it (*http.MaxBytesError → 413).
func (a *API) bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > n {
				return apiErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body larger than %d bytes", n))
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			return next(c)
		}
	}
}

// openapi serves the document the tests hold the routes to.
func (a *API) openapi(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/yaml", OpenAPI)
}

// OpenAPI is the OpenAPI 3 document of every route.
//
//go:embed openapi.yaml
var OpenAPI []byte

package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// panel is the technician panel: server-rendered pages, a little
// JavaScript for live updates and in-place actions, everything embedded.
type panel struct {
	a     *API
	pages map[string]*template.Template
}

// pageNames are the templates rendered as whole pages.
var pageNames = []string{"login", "overview", "applications", "application", "cards", "audit", "config", "users", "error"}

func newPanel(a *API) (*panel, error) {
	p := &panel{a: a, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"time":     fmtTime,
		"timep":    func(t *time.Time) string { return fmtTimePtr(t) },
		"states":   func() []queue.State { return queueStates },
		"roles":    func() []Role { return PanelRoles },
		"readerUp": readerUp,
		"date":     func(t time.Time) string { return t.In(application.Vietnam).Format(time.DateOnly) },
		"mib":      func(n uint64) uint64 { return n >> 20 },
		"short": func(h string) string {
			if len(h) > 12 {
				return h[:12]
			}
			return h
		},
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", "web/templates/live.html", "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("panel template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(application.Vietnam).Format("2006-01-02 15:04:05")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

func (p *panel) routes(e *echo.Echo, small echo.MiddlewareFunc) {
	a := p.a
	static, _ := fs.Sub(staticFS, "web/static")
	a.handle(e, http.MethodGet, "/panel/static/*", permNone, echo.WrapHandler(http.StripPrefix("/panel/static/", staticHandler(static))))
	a.handle(e, http.MethodGet, "/panel/login", permNone, p.loginPage)
	a.handle(e, http.MethodPost, "/panel/login", permNone, p.login, small)
	a.handle(e, http.MethodPost, "/panel/logout", permAuthenticated, p.logout, small)
	a.handle(e, http.MethodPost, "/panel/lang", permAuthenticated, p.setLang, small)
	a.handle(e, http.MethodGet, "/panel/ping", permAuthenticated, p.ping)

	a.handle(e, http.MethodGet, "/panel/", PermView, p.overview)
	a.handle(e, http.MethodGet, "/panel/events", PermView, p.events)
	a.handle(e, http.MethodPost, "/panel/readers", PermReaders, p.readerAction, small)
	a.handle(e, http.MethodPost, "/panel/drain", PermDrain, p.drainAction, small)

	a.handle(e, http.MethodGet, "/panel/applications", PermView, p.applications)
	a.handle(e, http.MethodGet, "/panel/applications/:id", PermView, p.application)
	a.handle(e, http.MethodPost, "/panel/applications/:id/personal-data", PermPersonalData, p.personalData, small)
	a.handle(e, http.MethodPost, "/panel/applications/:id/retry", PermRetry, p.retry, small)
	a.handle(e, http.MethodPost, "/panel/applications/:id/cancel", PermCancel, p.cancel, small)

	a.handle(e, http.MethodGet, "/panel/cards", PermView, p.cards)
	a.handle(e, http.MethodPost, "/panel/cards/destroyed", PermDestroyed, p.destroyed, small)

	a.handle(e, http.MethodGet, "/panel/audit", PermAudit, p.auditLog)
	a.handle(e, http.MethodPost, "/panel/audit/verify", PermAudit, p.auditVerify, small)

	a.handle(e, http.MethodGet, "/panel/config", PermView, p.config)

	a.handle(e, http.MethodGet, "/panel/users", PermUsers, p.users)
	a.handle(e, http.MethodPost, "/panel/users", PermUsers, p.addUser, small)
	a.handle(e, http.MethodPost, "/panel/users/:name/disable", PermUsers, p.userAction("disable"), small)
	a.handle(e, http.MethodPost, "/panel/users/:name/enable", PermUsers, p.userAction("enable"), small)
	a.handle(e, http.MethodPost, "/panel/users/:name/password", PermUsers, p.userAction("password"), small)
}

// isStream: routes answered 401 rather than a login redirect (their
// callers are scripts: the live stream and the session check).
func (p *panel) isStream(route string) bool {
	return route == "/panel/events" || route == "/panel/ping"
}

func staticHandler(fsys fs.FS) http.Handler {
	h := http.FileServer(http.FS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Lang    Lang
	User    string
	Role    Role
	CSRF    string
	Nav     string // the active section
	Title   string // catalogue key
	Flash   string // catalogue key of a message after an action
	Error   string // catalogue key of an error
	Version string
	Data    any
}

// T translates a catalogue key into the page's language.
func (pg *page) T(key string) string { return T(pg.Lang, key) }

// Can reports whether the user may do something (templates show only the
// buttons that would work).
func (pg *page) Can(perm string) bool { return pg.Role.Can(Permission(perm)) }

// AppID is an application id as the user may see it (masked unless the
// role sees ids: Role.seesApplicationIDs); every page shows ids through it.
func (pg *page) AppID(id string) string { return pg.Role.applicationID(id) }

// SeesIDs: the user sees application ids whole, so pages may link to them
// (a link would carry the id).
func (pg *page) SeesIDs() bool { return pg.Role.seesApplicationIDs() }

// Other is the language the switch offers.
func (pg *page) Other() Lang {
	if pg.Lang == LangVI {
		return LangEN
	}
	return LangVI
}

func (p *panel) newPage(c echo.Context, nav, title string) *page {
	pg := &page{Lang: negotiate(c.Request().Header.Get("Accept-Language")), Nav: nav, Title: title, Version: p.a.o.Version}
	if pr := principalOf(c); pr != nil && pr.Session != nil {
		pg.User, pg.Role, pg.CSRF = pr.Name, pr.Role, pr.Session.CSRF
		if pr.Session.Lang.valid() {
			pg.Lang = pr.Session.Lang
		}
	}
	if m := c.QueryParam("msg"); m != "" && hasKey("msg."+m) {
		pg.Flash = "msg." + m
	}
	return pg
}

func (p *panel) render(c echo.Context, status int, name string, pg *page) error {
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", pg); err != nil {
		return internal(fmt.Errorf("render %s: %w", name, err))
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", string(pg.Lang))
	return c.HTMLBlob(status, buf.Bytes())
}

// panelError shows an error on the panel: the login page for 401, a page
// in the user's language otherwise; script callers get JSON.
func (a *API) panelError(c echo.Context, e *Error) {
	r := c.Request()
	if e.Status == http.StatusUnauthorized && r.Method == http.MethodPost && r.Header.Get("X-CSRF-Token") == "" {
		_ = c.Redirect(http.StatusSeeOther, "/panel/login")
		return
	}
	pg := a.panel.newPage(c, "", "error.title")
	if r.Header.Get("X-CSRF-Token") != "" || a.panel.isStream(c.Path()) {
		msg := e.Message
		if hasKey("error." + e.Code) {
			msg = pg.T("error." + e.Code)
		}
		_ = c.JSON(e.Status, ErrorBody{ErrorDetail{Code: e.Code, Message: msg}})
		return
	}
	pg.Error = "error." + e.Code
	if !hasKey(pg.Error) {
		pg.Error = "error.internal"
	}
	if err := a.panel.render(c, e.Status, "error", pg); err != nil {
		_ = c.String(e.Status, e.Message)
	}
}

// back redirects after an action, with a message key; scripted
// submissions (panel.js) get the message as JSON instead, and the live view
// shows the change.
func (p *panel) back(c echo.Context, to, msg string) error {
	if to == "" {
		to = "/panel/"
	}
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	if msg != "" {
		to += sep + "msg=" + url.QueryEscape(msg)
	}
	if c.Request().Header.Get("X-CSRF-Token") != "" {
		pg := p.newPage(c, "", "")
		return c.JSON(http.StatusOK, map[string]string{"message": pg.T("msg." + msg)})
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// localNext accepts only panel paths as a place to go after login or an
// action (no open redirect).
func localNext(next string) string {
	if strings.HasPrefix(next, "/panel/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/panel/"
}

// ---- login ----

const loginCookie = "station_login"

func (p *panel) loginPage(c echo.Context) error {
	tok, err := randomToken()
	if err != nil {
		return internal(err)
	}
	c.SetCookie(&http.Cookie{Name: loginCookie, Value: tok, Path: "/panel/login", HttpOnly: true,
		Secure: c.Request().TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	pg := p.newPage(c, "", "login.title")
	pg.CSRF = tok
	pg.Data = localNext(c.QueryParam("next"))
	if e := c.QueryParam("error"); e != "" && hasKey("login."+e) {
		pg.Error = "login." + e
	}
	return p.render(c, http.StatusOK, "login", pg)
}

// login checks the form against the login cookie (CSRF before a session
// exists), the address's attempt rate and the account; every attempt is
// audited.
func (p *panel) login(c echo.Context) error {
	a := p.a
	r := c.Request()
	ck, err := c.Cookie(loginCookie)
	if !sameOrigin(r) || err != nil || ck.Value == "" ||
		subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.FormValue("csrf"))) != 1 {
		return c.Redirect(http.StatusSeeOther, "/panel/login?error=expired")
	}
	name, password := c.FormValue("user"), c.FormValue("password")
	next := localNext(c.FormValue("next"))
	ip := c.RealIP()
	addr := LoginAddr(ip)
	anon := queue.WithActor(r.Context(), "anonymous")
	if !a.logins.allow("login:" + addr) {
		_ = a.store.Audit(anon, "login", "", "result="+string(LoginThrottled)+" ip="+ip)
		return c.Redirect(http.StatusSeeOther, "/panel/login?error=throttled")
	}
	u, result, err := a.auth.Login(r.Context(), name, password, addr)
	if err != nil && !errors.Is(err, ErrBadLogin) {
		return internal(err)
	}
	// Attempts on an account are recorded under its name (actor and
	// subject), successful or not; an unknown name is not recorded at all
	// (it may be a password typed into the wrong box).
	actx, subject := anon, ""
	if result != LoginUnknownUser {
		actx, subject = queue.WithActor(r.Context(), name), name
	}
	if aerr := a.store.Audit(actx, "login", subject, "result="+string(result)+" ip="+ip); aerr != nil {
		return internal(fmt.Errorf("audit login: %w", aerr))
	}
	if err != nil {
		// One answer for every failure (unknown name, wrong password,
		// disabled or locked account): the audit log keeps the difference.
		return c.Redirect(http.StatusSeeOther, "/panel/login?error=failed&next="+url.QueryEscape(next))
	}
	cookie, _, err := a.auth.newSession(r.Context(), u.Name)
	if err != nil {
		return internal(err)
	}
	c.SetCookie(&http.Cookie{Name: loginCookie, Path: "/panel/login", MaxAge: -1})
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: cookie, Path: "/panel", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(SessionMax / time.Second)})
	return c.Redirect(http.StatusSeeOther, next)
}

func (p *panel) logout(c echo.Context) error {
	pr := principalOf(c)
	if err := p.a.auth.endSession(c.Request().Context(), pr.Session); err != nil {
		return internal(err)
	}
	if err := p.a.audit(c, "logout", pr.Name, ""); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Path: "/panel", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, "/panel/login")
}

func (p *panel) setLang(c echo.Context) error {
	l := Lang(c.FormValue("lang"))
	if !l.valid() {
		return apiErr(http.StatusBadRequest, CodeBadParameter, "unknown language")
	}
	if err := p.a.auth.SetLang(principalOf(c).Name, l); err != nil {
		return internal(err)
	}
	return c.Redirect(http.StatusSeeOther, localNext(c.FormValue("next")))
}

// ping: the live script asks whether its session still holds before it
// reconnects.
func (p *panel) ping(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"user": principalOf(c).Name})
}

// ---- overview ----

// overviewData is the live part of the overview.
type overviewData struct {
	Snap         station.Snapshot
	Queue        []stateCount
	Waiting      int // validated + prepared
	IssuedHour   int
	ReadersUp    int
	Holding      int // readers holding an unrecorded card (alarm)
	RenderedAt   time.Time
	QueueUnknown bool
}

type stateCount struct {
	State queue.State
	N     int
}

func (p *panel) overviewData(ctx context.Context, role Role) overviewData {
	snap := p.a.ctrl.Snapshot()
	d := overviewData{Snap: snap, ReadersUp: readersUp(snap), RenderedAt: p.a.o.Now()}
	counts := snap.Queue
	if counts == nil {
		var err error
		if counts, err = p.a.store.CountByState(ctx); err != nil {
			p.a.log.Warn("panel: queue counts", "err", err)
			d.QueueUnknown = true
		}
	}
	for _, st := range queueStates {
		d.Queue = append(d.Queue, stateCount{st, counts[st]})
	}
	d.Waiting = counts[queue.StateValidated] + counts[queue.StatePrepared]
	for _, r := range snap.Readers {
		d.IssuedHour += r.IssuedThisHour
		if r.State == station.ReaderHoldingCard {
			d.Holding++
		}
	}
	return d
}

func (p *panel) overview(c echo.Context) error {
	pg := p.newPage(c, "overview", "overview.title")
	pg.Data = p.overviewData(c.Request().Context(), pg.Role)
	return p.render(c, http.StatusOK, "overview", pg)
}

// readerAction pauses or resumes a reader.
func (p *panel) readerAction(c echo.Context) error {
	reader, action := c.FormValue("reader"), c.FormValue("action")
	if reader == "" || (action != "pause" && action != "resume") {
		return apiErr(http.StatusBadRequest, CodeBadParameter, "reader and action (pause, resume) are required")
	}
	if err := p.a.pauseReader(c, reader, action == "pause"); err != nil {
		return err
	}
	return p.back(c, "/panel/", "reader_"+action)
}

func (p *panel) drainAction(c echo.Context) error {
	on := c.FormValue("on") == "1"
	if err := p.a.drain(c, on); err != nil {
		return err
	}
	msg := "drain_off"
	if on {
		msg = "drain_on"
	}
	return p.back(c, "/panel/", msg)
}

// ---- applications ----

type applicationsData struct {
	Query    string
	State    queue.State
	Results  []queue.Status
	Total    int
	Offset   int
	Next     int
	Prev     int
	Searched bool
}

const pageSize = 50

var searchPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{0,64}$`)

func (p *panel) applications(c echo.Context) error {
	pg := p.newPage(c, "applications", "applications.title")
	d := applicationsData{Query: strings.TrimSpace(c.QueryParam("q")), State: queue.State(c.QueryParam("state")), Prev: -1, Next: -1}
	if !searchPattern.MatchString(d.Query) {
		pg.Error = "applications.bad_query"
		d.Query = ""
	}
	if d.State != "" && !slices.Contains(queueStates, d.State) {
		d.State = ""
	}
	d.Offset, _ = strconv.Atoi(c.QueryParam("offset"))
	if d.Offset < 0 || d.Offset > 1_000_000 {
		d.Offset = 0
	}
	if d.Query != "" && !pg.SeesIDs() {
		// A prefix search would reveal masked ids a character at a time:
		// these roles find an application by its whole id only.
		st, err := p.a.store.Status(c.Request().Context(), d.Query)
		switch {
		case errors.Is(err, queue.ErrNotFound):
		case err != nil:
			return internal(fmt.Errorf("search applications: %w", err))
		case d.State == "" || st.State == d.State:
			return c.Redirect(http.StatusSeeOther, "/panel/applications/"+url.PathEscape(d.Query))
		}
		d.Searched = true
		pg.Data = d
		return p.render(c, http.StatusOK, "applications", pg)
	}
	res, total, err := p.a.store.Search(c.Request().Context(), queue.SearchFilter{IDPrefix: d.Query, State: d.State, Limit: pageSize, Offset: d.Offset})
	if err != nil {
		return internal(fmt.Errorf("search applications: %w", err))
	}
	d.Results, d.Total, d.Searched = res, total, true
	if d.Offset+len(res) < total {
		d.Next = d.Offset + pageSize
	}
	if d.Offset > 0 {
		d.Prev = max(0, d.Offset-pageSize)
	}
	// One exact match: straight to it.
	if total == 1 && len(res) == 1 && res[0].ApplicationID == d.Query {
		return c.Redirect(http.StatusSeeOther, "/panel/applications/"+url.PathEscape(d.Query))
	}
	pg.Data = d
	return p.render(c, http.StatusOK, "applications", pg)
}

// personView is the personal data the panel may show: masked (initials,
// last three digits) or, for roles allowed and on request, in full.
type personView struct {
	Masked      bool
	Purged      bool
	FullName    string
	PersonalID  string
	DateOfBirth string
	Sex         string
	Nationality string
	Ethnicity   string
	Origin      string
	Residence   string
	IssueDate   string
	ExpiryDate  string
	Face        template.URL // data: URL of the JPEG, unmasked only
}

type applicationData struct {
	Status *queue.Status
	Person personView
}

func (p *panel) loadApplication(c echo.Context, unmask bool) (*applicationData, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	st, err := p.a.store.Status(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, apiErr(http.StatusNotFound, CodeNotFound, "no such application")
	}
	if err != nil {
		return nil, internal(fmt.Errorf("application status: %w", err))
	}
	d := &applicationData{Status: st}
	raw, err := p.a.store.PersonalData(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		d.Person = personView{Purged: true, Masked: true}
	case err != nil:
		return nil, internal(fmt.Errorf("personal data: %w", err))
	default:
		d.Person = viewPerson(raw, unmask)
	}
	return d, nil
}

// viewPerson reads the fields the panel shows from the application JSON
// (which may be invalid: rejected applications are stored as sent).
func viewPerson(raw []byte, unmask bool) personView {
	var w struct {
		FullName    any `json:"full_name"`
		PersonalID  any `json:"personal_id"`
		DateOfBirth any `json:"date_of_birth"`
		Sex         any `json:"sex"`
		Nationality any `json:"nationality"`
		Ethnicity   any `json:"ethnicity"`
		Origin      any `json:"place_of_origin"`
		Residence   any `json:"place_of_residence"`
		IssueDate   any `json:"issue_date"`
		ExpiryDate  any `json:"expiry_date"`
		Face        any `json:"face_image"`
	}
	_ = json.Unmarshal(raw, &w)
	str := func(v any) string { s, _ := v.(string); return s }
	v := personView{Masked: !unmask}
	if !unmask {
		v.FullName, v.PersonalID = MaskName(str(w.FullName)), MaskPersonalID(str(w.PersonalID))
		return v
	}
	v.FullName, v.PersonalID, v.DateOfBirth, v.Sex = str(w.FullName), str(w.PersonalID), str(w.DateOfBirth), str(w.Sex)
	v.Nationality, v.Ethnicity, v.Origin, v.Residence = str(w.Nationality), str(w.Ethnicity), str(w.Origin), str(w.Residence)
	v.IssueDate, v.ExpiryDate = str(w.IssueDate), str(w.ExpiryDate)
	if f := str(w.Face); f != "" {
		if b, err := base64.StdEncoding.DecodeString(f); err == nil && len(b) > 3 && b[0] == 0xFF && b[1] == 0xD8 {
			v.Face = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b))
		}
	}
	return v
}

func (p *panel) application(c echo.Context) error {
	d, err := p.loadApplication(c, false)
	if err != nil {
		return err
	}
	pg := p.newPage(c, "applications", "application.title")
	pg.Data = d
	return p.render(c, http.StatusOK, "application", pg)
}

// personalData shows the personal data unmasked: allowed roles only,
// every view audited before it is shown.
func (p *panel) personalData(c echo.Context) error {
	d, err := p.loadApplication(c, true)
	if err != nil {
		return err
	}
	if err := p.a.audit(c, "personal_data_view", d.Status.ApplicationID, ""); err != nil {
		return err
	}
	pg := p.newPage(c, "applications", "application.title")
	pg.Data = d
	return p.render(c, http.StatusOK, "application", pg)
}

func (p *panel) retry(c echo.Context) error {
	return p.applicationAction(c, "retry", p.a.store.Retry)
}

func (p *panel) cancel(c echo.Context) error {
	return p.applicationAction(c, "cancel", p.a.store.Cancel)
}

func (p *panel) applicationAction(c echo.Context, action string, f func(context.Context, string) (queue.State, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	to := "/panel/applications/" + url.PathEscape(id)
	_, err = f(c.Request().Context(), id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return apiErr(http.StatusNotFound, CodeNotFound, "no such application")
	case errors.Is(err, queue.ErrTooLate):
		return p.back(c, to, action+"_refused")
	case err != nil:
		return internal(fmt.Errorf("%s: %w", action, err))
	}
	// The store records the state change with the user as actor; the
	// audit line says it was asked for from the panel.
	if err := p.a.audit(c, "application_"+action, id, "panel"); err != nil {
		return err
	}
	return p.back(c, to, action+"_done")
}

// ---- spoiled cards ----

func (p *panel) cards(c echo.Context) error {
	pg := p.newPage(c, "cards", "cards.title")
	cards, err := p.a.store.Cards(c.Request().Context(), queue.CardFilter{State: queue.CardSpoiled, Limit: 500})
	if err != nil {
		return internal(fmt.Errorf("spoiled cards: %w", err))
	}
	pg.Data = cards
	return p.render(c, http.StatusOK, "cards", pg)
}

var serialPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// destroyed records the operator's word that a spoiled card was destroyed.
func (p *panel) destroyed(c echo.Context) error {
	serial := c.FormValue("serial")
	if !serialPattern.MatchString(serial) {
		return apiErr(http.StatusBadRequest, CodeBadParameter, "serial: a card serial is required")
	}
	pr := principalOf(c)
	// The store audits the confirmation, with the user as actor.
	err := p.a.store.MarkDestroyed(c.Request().Context(), serial, pr.Name)
	switch {
	case errors.Is(err, queue.ErrNoCard):
		return apiErr(http.StatusNotFound, CodeNotFound, "no such card")
	case errors.Is(err, queue.ErrNotSpoiled):
		return p.back(c, "/panel/cards", "destroyed_refused")
	case err != nil:
		return internal(fmt.Errorf("mark destroyed: %w", err))
	}
	return p.back(c, "/panel/cards", "destroyed_done")
}

// ---- audit ----

type auditData struct {
	Filter  queue.AuditFilter
	Entries []queue.AuditEntry
	Next    int64
	Report  *queue.AuditReport
}

func (p *panel) auditLog(c echo.Context) error {
	pg := p.newPage(c, "audit", "audit.title")
	d, err := p.loadAudit(c)
	if err != nil {
		return err
	}
	pg.Data = d
	return p.render(c, http.StatusOK, "audit", pg)
}

func (p *panel) loadAudit(c echo.Context) (*auditData, error) {
	f := queue.AuditFilter{Limit: 100, Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), Subject: c.QueryParam("subject")}
	for _, s := range []string{f.Actor, f.Action, f.Subject} {
		if len(s) > 200 {
			return nil, apiErr(http.StatusBadRequest, CodeBadParameter, "filter too long")
		}
	}
	f.After, _ = strconv.ParseInt(c.QueryParam("after"), 10, 64)
	if f.After < 0 {
		f.After = 0
	}
	entries, err := p.a.store.AuditLog(c.Request().Context(), f)
	if err != nil {
		return nil, internal(fmt.Errorf("audit log: %w", err))
	}
	role := principalOf(c).Role
	for i := range entries {
		entries[i] = auditEntryFor(role, entries[i])
	}
	d := &auditData{Filter: f, Entries: entries, Next: -1}
	if len(entries) == f.Limit {
		d.Next = entries[len(entries)-1].Seq
	}
	return d, nil
}

func (p *panel) auditVerify(c echo.Context) error {
	rep, err := p.a.verifyAudit(c)
	if err != nil {
		return err
	}
	d, err := p.loadAudit(c)
	if err != nil {
		return err
	}
	d.Report = &rep
	pg := p.newPage(c, "audit", "audit.title")
	pg.Data = d
	return p.render(c, http.StatusOK, "audit", pg)
}

// ---- configuration ----

// secretKey: configuration keys blanked on the configuration page whatever
// the daemon passed.
var secretKey = regexp.MustCompile(`(?i)(pin|passw|secret|token|private|credential|key$|_key|apikey)`)

func (p *panel) config(c echo.Context) error {
	pg := p.newPage(c, "config", "config.title")
	text, err := redactedYAML(p.a.o.Config)
	if err != nil {
		return internal(err)
	}
	pg.Data = text
	return p.render(c, http.StatusOK, "config", pg)
}

// redactedYAML renders a configuration as YAML, after blanking every value
// under a key that looks like a secret.
func redactedYAML(cfg any) (string, error) {
	if cfg == nil {
		return "", nil
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("configuration view: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("configuration view: %w", err)
	}
	v = redact(v)
	out, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("configuration view: %w", err)
	}
	return string(out), nil
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretKey.MatchString(k) {
				if x != nil && x != "" {
					t[k] = "[redacted]"
				}
				continue
			}
			t[k] = redact(x)
		}
	case []any:
		for i := range t {
			t[i] = redact(t[i])
		}
	}
	return v
}

// ---- users ----

func (p *panel) users(c echo.Context) error {
	pg := p.newPage(c, "users", "users.title")
	us, err := p.a.auth.Users()
	if err != nil {
		return internal(err)
	}
	pg.Data = usersData{Users: us, Now: p.a.o.Now()}
	return p.render(c, http.StatusOK, "users", pg)
}

type usersData struct {
	Users []UserInfo
	Now   time.Time
}

func (p *panel) addUser(c echo.Context) error {
	name, role, pw := c.FormValue("name"), Role(c.FormValue("role")), c.FormValue("password")
	err := p.a.auth.AddUser(name, role, pw)
	if msg := userErrMsg(err); msg != "" {
		return p.back(c, "/panel/users", msg)
	}
	if err != nil {
		return internal(err)
	}
	if err := p.a.audit(c, "user_add", name, "role="+string(role)); err != nil {
		return err
	}
	return p.back(c, "/panel/users", "user_added")
}

func userErrMsg(err error) string {
	switch {
	case errors.Is(err, ErrExists):
		return "user_exists"
	case errors.Is(err, ErrBadName):
		return "user_bad_name"
	case errors.Is(err, ErrBadRole):
		return "user_bad_role"
	case errors.Is(err, ErrWeakPassword):
		return "user_weak_password"
	case errors.Is(err, ErrUnknown):
		return "user_unknown"
	}
	return ""
}

func (p *panel) userAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("name")
		if !namePattern.MatchString(name) {
			return apiErr(http.StatusNotFound, CodeNotFound, "no such user")
		}
		if name == principalOf(c).Name && action == "disable" {
			return p.back(c, "/panel/users", "user_self")
		}
		var err error
		switch action {
		case "disable":
			err = p.a.auth.DisableUser(name)
		case "enable":
			err = p.a.auth.EnableUser(name)
		case "password":
			err = p.a.auth.SetPassword(name, c.FormValue("password"))
		}
		if msg := userErrMsg(err); msg != "" {
			return p.back(c, "/panel/users", msg)
		}
		if err != nil {
			return internal(err)
		}
		if err := p.a.audit(c, "user_"+action, name, ""); err != nil {
			return err
		}
		return p.back(c, "/panel/users", "user_"+action)
	}
}

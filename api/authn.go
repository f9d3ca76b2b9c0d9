package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/queue"
)

// Principal is who a request comes from.
type Principal struct {
	Kind    string // "certificate", "token", "session"
	Name    string // "central", the token name, the user name
	Role    Role
	Session *Session // panel sessions
}

// Actor is the name the audit log records for the principal: "central" for
// central (certificate or token), "token:NAME" for a script's token, the
// user name for a panel user.
func (p *Principal) Actor() string {
	switch {
	case p.Role == RoleCentral:
		return "central"
	case p.Kind == "token":
		return "token:" + p.Name
	}
	return p.Name
}

// rateKey identifies the client for the rate limit.
func (p *Principal) rateKey() string { return p.Kind + ":" + p.Name }

const principalKey = "principal"

func principalOf(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// authenticate finds the principal: on /api a pinned client certificate or
// a bearer token (never a cookie, so that a browser cannot be made to call
// the API), on the panel a session cookie (never a token). Routes decide
// with require whether one is needed; the queue hears who acts.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var p *Principal
		var err error
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/"):
			p, err = a.apiPrincipal(r)
		case isPanel(r.URL.Path):
			p, err = a.panelPrincipal(c)
		}
		if err != nil {
			return internal(err)
		}
		if p != nil {
			c.Set(principalKey, p)
			c.SetRequest(r.WithContext(queue.WithActor(r.Context(), p.Actor())))
		}
		return next(c)
	}
}

func (a *API) apiPrincipal(r *http.Request) (*Principal, error) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		now := a.o.Now()
		if a.pins[sha256.Sum256(cert.Raw)] && !now.Before(cert.NotBefore) && !now.After(cert.NotAfter) {
			return &Principal{Kind: "certificate", Name: "central", Role: RoleCentral}, nil
		}
	}
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, nil
	}
	name, role, ok, err := a.auth.lookupToken(r.Context(), strings.TrimSpace(token))
	if err != nil || !ok {
		return nil, err
	}
	if role == RoleCentral && a.o.CentralCertOnly {
		return nil, nil
	}
	return &Principal{Kind: "token", Name: name, Role: role}, nil
}

const sessionCookie = "station_session"

func (a *API) panelPrincipal(c echo.Context) (*Principal, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	s, err := a.auth.session(c.Request().Context(), ck.Value)
	if err != nil || s == nil {
		return nil, err
	}
	return &Principal{Kind: "session", Name: s.User, Role: s.Role, Session: s}, nil
}

// require admits principals whose role has the permission (any principal
// for permAuthenticated): 401 without
// one (the panel sends people to its login page instead), 403 with the
// wrong role. State-changing panel requests must also carry the session's
// CSRF token.
func (a *API) require(perm Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principalOf(c)
			panel := isPanel(c.Request().URL.Path)
			if p == nil {
				if panel && c.Request().Method == http.MethodGet && !a.panel.isStream(c.Path()) {
					return c.Redirect(http.StatusSeeOther, "/panel/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return apiErr(http.StatusUnauthorized, CodeUnauthenticated, "authentication required")
			}
			if panel && c.Request().Method == http.MethodPost {
				if err := checkCSRF(c, p.Session.CSRF); err != nil {
					return err
				}
			}
			if perm != permAuthenticated && !p.Role.Can(perm) {
				return apiErr(http.StatusForbidden, CodeForbidden, "not allowed for this role")
			}
			return next(c)
		}
	}
}

// checkCSRF: the request comes from our own pages (Fetch Metadata and
// Origin, where the browser sends them) and carries the token (form field
// or X-CSRF-Token header), compared in constant time.
func checkCSRF(c echo.Context, want string) error {
	r := c.Request()
	if !sameOrigin(r) {
		return apiErr(http.StatusForbidden, CodeCSRF, "cross-site request refused")
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = c.FormValue("csrf")
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return apiErr(http.StatusForbidden, CodeCSRF, "missing or wrong CSRF token; reload the page")
	}
	return nil
}

func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

// rateLimit allows each client its rate: by principal, or by address when
// there is none.
func (a *API) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := "ip:" + c.RealIP()
		if p := principalOf(c); p != nil {
			key = p.rateKey()
		}
		if !a.limit.allow(key) {
			return apiErr(http.StatusTooManyRequests, CodeRateLimited, "too many requests; slow down")
		}
		return next(c)
	}
}

// Fingerprint is the SHA-256 of a DER certificate, as ClientCertPins lists
// it (lower-case hex).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint reads a SHA-256 fingerprint: 64 hex digits, upper or
// lower case, with or without colons, optionally prefixed "sha256:".
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	t := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	t = strings.ReplaceAll(t, ":", "")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return fp, errors.New("api: a certificate pin is the SHA-256 of the certificate: 64 hex digits")
	}
	copy(fp[:], b)
	return fp, nil
}

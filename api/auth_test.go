package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiCall is a well-formed request to one API route, so that what decides
// its outcome is only who sends it.
type apiCall struct {
	method, path string
	body         []byte
	perm         Permission
}

func apiCalls(t *testing.T, e *env) []apiCall {
	doc := app(t, 30)
	// An application to look at and cancel.
	e.central().postJSON("/api/v1/applications", app(t, 31)).want(t, http.StatusCreated)
	other := appID(t, app(t, 31))
	return []apiCall{
		{"POST", "/api/v1/applications", doc, PermIntake},
		{"GET", "/api/v1/applications/" + other, nil, PermStatus},
		{"POST", "/api/v1/applications/" + other + "/cancel", nil, PermCancel},
		{"GET", "/api/v1/events", nil, PermEvents},
		{"POST", "/api/v1/events/ack", []byte(`{"cursor":0}`), PermEvents},
		{"GET", "/api/v1/station", nil, PermView},
		{"POST", "/api/v1/station/readers/pause", []byte(`{"reader":"Reader A"}`), PermReaders},
		{"POST", "/api/v1/station/readers/resume", []byte(`{"reader":"Reader A"}`), PermReaders},
		{"POST", "/api/v1/station/drain", []byte(`{"on":false}`), PermDrain},
		{"GET", "/api/v1/audit/verify", nil, PermAudit},
	}
}

func (c *client) call(ac apiCall) *response {
	ct := ""
	if ac.body != nil {
		ct = "application/json"
	}
	return c.do(bg, ac.method, ac.path, ct, ac.body)
}

// TestEveryAPIRouteRefusesWhoMayNot: with no credentials 401, with a role
// lacking the permission 403, with one holding it neither — for every
// route of /api/v1 that needs a permission, and every role's token.
func TestEveryAPIRouteRefusesWhoMayNot(t *testing.T) {
	e := newEnv(t, envOptions{})
	calls := apiCalls(t, e)
	tested := map[string]bool{}
	for _, ac := range calls {
		tested[string(ac.perm)] = true
	}
	for _, r := range e.api.Routes() {
		if strings.HasPrefix(r.Path, "/api/") && r.Permission != permNone && !tested[string(r.Permission)] {
			t.Errorf("no call in the test for %s %s (%s)", r.Method, r.Path, r.Permission)
		}
	}
	anon := e.client()
	for _, ac := range calls {
		t.Run(ac.method+" "+ac.path, func(t *testing.T) {
			r := anon.do(invalid(bg), ac.method, ac.path, ctOf(ac), ac.body).want(t, http.StatusUnauthorized)
			if code := r.errCode(t); code != CodeUnauthenticated {
				t.Errorf("code %q", code)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			for _, role := range Roles {
				r := e.client(withToken(e.tokens[role])).call(ac)
				switch {
				case role.Can(ac.perm) && (r.StatusCode == 401 || r.StatusCode == 403):
					t.Errorf("%s may %s but got %d: %s", role, ac.perm, r.StatusCode, r.body)
				case !role.Can(ac.perm) && r.StatusCode != 403:
					t.Errorf("%s may not %s but got %d: %s", role, ac.perm, r.StatusCode, r.body)
				case !role.Can(ac.perm) && r.errCode(t) != CodeForbidden:
					t.Errorf("403 with code %q", r.errCode(t))
				}
			}
		})
	}
}

func ctOf(ac apiCall) string {
	if ac.body != nil {
		return "application/json"
	}
	return ""
}

func TestWrongAndRevokedTokensAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	for name, tok := range map[string]string{
		"random":           "cst_" + strings.Repeat("A", 43),
		"not a token":      "hunter2",
		"token of another": e.tokens[RoleCentral] + "x",
		"empty":            "",
	} {
		ctx := bg
		if tok == "" {
			ctx = invalid(bg) // no credentials at all
		}
		r := e.client(withToken(tok)).do(ctx, "GET", "/api/v1/events", "", nil)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: status %d", name, r.StatusCode)
		}
	}
	tok, err := e.auth.AddToken("central-2", RoleCentral)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(withToken(tok))
	c.get("/api/v1/events").want(t, http.StatusOK)
	if err := e.auth.RevokeToken("central-2"); err != nil {
		t.Fatal(err)
	}
	c.get("/api/v1/events").want(t, http.StatusUnauthorized)
	if err := e.auth.RevokeToken("central-2"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := e.auth.RevokeToken("nobody"); !errors.Is(err, ErrUnknown) {
		t.Errorf("revoking an unknown token: %v", err)
	}
	// A cookie is no way into the API.
	panel := e.user("op", RoleOperator)
	panel.do(invalid(bg), "GET", "/api/v1/station", "", nil).want(t, http.StatusUnauthorized)
}

func TestPinnedClientCertificateAuthenticatesCentral(t *testing.T) {
	e := newEnv(t, envOptions{})
	pinned := e.client(withCert(e.pinned))
	pinned.postJSON("/api/v1/applications", app(t, 32)).want(t, http.StatusCreated)
	pinned.get("/api/v1/events").want(t, http.StatusOK)
	// Central by certificate is central: no panel-role routes.
	pinned.do(invalid(bg), "GET", "/api/v1/station", "", nil).want(t, http.StatusForbidden)
	if !e.auditHas("central", "", "") {
		t.Error("no audit entry with actor central after an intake by certificate")
	}

	unpinned := e.client(withCert(e.other))
	unpinned.do(bg, "GET", "/api/v1/events", "", nil).want(t, http.StatusUnauthorized)

	expired := clientCertValid(t, "central", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	e2 := newEnv(t, envOptions{mutate: func(o *Options) { o.ClientCertPins = append(o.ClientCertPins, Fingerprint(expired.Certificate[0])) }})
	e2.client(withCert(expired)).do(bg, "GET", "/api/v1/events", "", nil).want(t, http.StatusUnauthorized)
}

func TestCentralCertOnlyRefusesCentralTokens(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.CentralCertOnly = true }})
	e.central().get("/api/v1/events").want(t, http.StatusUnauthorized)
	e.client(withCert(e.pinned)).get("/api/v1/events").want(t, http.StatusOK)
	// Tokens of panel roles still serve scripts.
	e.client(withToken(e.tokens[RoleTechnician])).get("/api/v1/station").want(t, http.StatusOK)
}

func clientCertValid(t *testing.T, cn string, from, to time.Time) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: to,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestParseFingerprintAcceptsTheCommonSpellings(t *testing.T) {
	der := []byte("certificate")
	want := Fingerprint(der)
	colons := ""
	for i := 0; i < len(want); i += 2 {
		if i > 0 {
			colons += ":"
		}
		colons += strings.ToUpper(want[i : i+2])
	}
	for _, s := range []string{want, strings.ToUpper(want), colons, "sha256:" + want, " " + want + "\n"} {
		fp, err := ParseFingerprint(s)
		if err != nil || fmt.Sprintf("%x", fp) != want {
			t.Errorf("ParseFingerprint(%q) = %x, %v", s, fp, err)
		}
	}
	for _, s := range []string{"", want[:62], want + "00", "zz" + want[2:]} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", s)
		}
	}
}

func TestRateLimitPerClientAnswers429(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.RateLimit, o.RateBurst = 0.01, 3 }})
	c := e.central()
	for i := 0; i < 3; i++ {
		c.get("/api/v1/events").want(t, http.StatusOK)
	}
	r := c.get("/api/v1/events").want(t, http.StatusTooManyRequests)
	if r.errCode(t) != CodeRateLimited || r.Header.Get("Retry-After") == "" {
		t.Errorf("429: %s %v", r.body, r.Header)
	}
	// Another client has its own bucket.
	e.client(withToken(e.tokens[RoleTechnician])).get("/api/v1/station").want(t, http.StatusOK)
}

func TestTokensAreStoredHashedAndListed(t *testing.T) {
	dir := t.TempDir()
	a := openTestAuth(t, filepath.Join(dir, "auth.db"))
	tok, err := a.AddToken("central", RoleCentral)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) < 40 {
		t.Errorf("token %d characters", len(tok))
	}
	if _, err := a.AddToken("central", RoleCentral); !errors.Is(err, ErrExists) {
		t.Errorf("second token of the same name: %v", err)
	}
	if _, err := a.AddToken("Bad Name", RoleCentral); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := a.AddToken("x", "root"); !errors.Is(err, ErrBadRole) {
		t.Errorf("bad role: %v", err)
	}
	name, role, ok, err := a.lookupToken(bg, tok)
	if err != nil || !ok || name != "central" || role != RoleCentral {
		t.Fatalf("lookup: %s %s %v %v", name, role, ok, err)
	}
	list, err := a.Tokens()
	if err != nil || len(list) != 1 || list[0].Name != "central" || list[0].LastUsed == nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	a.Close()
	for _, f := range []string{"auth.db", "auth.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok[len(tokenPrefix):])) {
			t.Errorf("%s holds the token in clear", f)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "auth.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.db mode %v %v", fi.Mode(), err)
	}
}

// Addresses of the login tests (documentation ranges, RFC 5737/3849).
const (
	addrA = "192.0.2.10"
	addrB = "198.51.100.20"
)

func TestPasswordsAreArgon2idAndLoginLocksAfterFiveFailures(t *testing.T) {
	a := openTestAuth(t, filepath.Join(t.TempDir(), "auth.db"))
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	if err := a.AddUser("lan", RoleOperator, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("weak password: %v", err)
	}
	if err := a.AddUser("lan", RoleCentral, "a long enough password"); !errors.Is(err, ErrBadRole) {
		t.Errorf("panel user with role central: %v", err)
	}
	const pw = "mật khẩu dài đủ rồi"
	if err := a.AddUser("lan", RoleOperator, pw); err != nil {
		t.Fatal(err)
	}
	var stored string
	a.db.QueryRow(`SELECT password FROM users WHERE name = 'lan'`).Scan(&stored)
	if !strings.HasPrefix(stored, "$argon2id$v=19$") || strings.Contains(stored, pw) {
		t.Errorf("stored password %q", stored[:min(20, len(stored))])
	}
	if _, res, err := a.Login(bg, "nobody", pw, addrA); !errors.Is(err, ErrBadLogin) || res != LoginUnknownUser {
		t.Errorf("unknown user: %s %v", res, err)
	}
	for i := 1; i <= LockAfter; i++ {
		_, res, err := a.Login(bg, "lan", "wrong password!", addrA)
		want := LoginBadPassword
		if i == LockAfter {
			want = LoginLockedNow
		}
		if res != want || !errors.Is(err, ErrBadLogin) {
			t.Fatalf("failure %d: %s %v", i, res, err)
		}
	}
	if _, res, err := a.Login(bg, "lan", pw, addrA); !errors.Is(err, ErrBadLogin) || res != LoginLocked {
		t.Fatalf("right password while locked: %s %v", res, err)
	}
	if us, _ := a.Users(); len(us) != 1 || !us[0].Locked(now) {
		t.Errorf("the user list does not show the lockout: %+v", us)
	}
	now = now.Add(LockFor + time.Second)
	u, res, err := a.Login(bg, "lan", pw, addrA)
	if err != nil || res != LoginOK || u.Name != "lan" || u.Role != RoleOperator || u.Lang != LangVI {
		t.Fatalf("after the lockout: %+v %s %v", u, res, err)
	}
	// A success resets the count: four more failures do not lock.
	for i := 0; i < LockAfter-1; i++ {
		a.Login(bg, "lan", "wrong password!", addrA)
	}
	if _, _, err := a.Login(bg, "lan", pw, addrA); err != nil {
		t.Fatalf("locked before %d failures in a row: %v", LockAfter, err)
	}
	// Failures older than the lockout are forgotten.
	for i := 0; i < LockAfter-1; i++ {
		a.Login(bg, "lan", "wrong password!", addrA)
	}
	now = now.Add(LockFor + time.Second)
	if _, res, _ := a.Login(bg, "lan", "wrong password!", addrA); res != LoginBadPassword {
		t.Fatalf("a failure after old ones: %s", res)
	}
	if _, _, err := a.Login(bg, "lan", pw, addrA); err != nil {
		t.Fatalf("old failures counted: %v", err)
	}
	if err := a.DisableUser("lan"); err != nil {
		t.Fatal(err)
	}
	if _, res, err := a.Login(bg, "lan", pw, addrA); !errors.Is(err, ErrBadLogin) || res != LoginDisabled {
		t.Errorf("disabled: %s %v", res, err)
	}
	if err := a.EnableUser("lan"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPassword("lan", "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Login(bg, "lan", pw, addrA); err == nil {
		t.Error("the old password still works")
	}
	if _, _, err := a.Login(bg, "lan", "another long password", addrA); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := a.SetPassword("nobody", "another long password"); !errors.Is(err, ErrUnknown) {
		t.Errorf("password of an unknown user: %v", err)
	}
}

// TestAStrangerLocksOutOnlyTheirOwnAddress: five wrong passwords for an
// administrator's name from one address lock that address out of the
// account; the administrator, at another address, logs in. Setting the
// password or enabling the account lifts the lockout.
func TestAStrangerLocksOutOnlyTheirOwnAddress(t *testing.T) {
	a := openTestAuth(t, filepath.Join(t.TempDir(), "auth.db"))
	const pw = "the administrator's password"
	if err := a.AddUser("boss", RoleAdmin, pw); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*LockAfter; i++ {
		a.Login(bg, "boss", fmt.Sprintf("guess %d", i), addrA)
	}
	if _, res, _ := a.Login(bg, "boss", pw, addrA); res != LoginLocked {
		t.Fatalf("the stranger's address is not locked out: %s", res)
	}
	u, res, err := a.Login(bg, "boss", pw, addrB)
	if err != nil || res != LoginOK || u.Name != "boss" {
		t.Fatalf("the administrator at another address: %s %v", res, err)
	}
	// Still locked for the stranger after the administrator's success.
	if _, res, _ := a.Login(bg, "boss", pw, addrA); res != LoginLocked {
		t.Errorf("a success elsewhere unlocked the stranger's address: %s", res)
	}
	// IPv6 addresses of one /64 are one address.
	for i := 0; i < LockAfter; i++ {
		a.Login(bg, "boss", "guess", LoginAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
	}
	if _, res, _ := a.Login(bg, "boss", pw, LoginAddr("2001:db8:1:2:ffff::9")); res != LoginLocked {
		t.Errorf("another address of the same /64: %s", res)
	}
	if _, res, _ := a.Login(bg, "boss", pw, LoginAddr("2001:db8:1:3::1")); res != LoginOK {
		t.Errorf("an address of another /64: %s", res)
	}
	if err := a.SetPassword("boss", pw); err != nil {
		t.Fatal(err)
	}
	if _, res, _ := a.Login(bg, "boss", pw, addrA); res != LoginOK {
		t.Errorf("setting the password did not lift the lockout: %s", res)
	}
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"}, {"::ffff:192.0.2.1", "192.0.2.1"}, {"2001:db8::1", "2001:db8::/64"},
		{"fe80::1%eth0", "fe80::/64"}, {"not an address", "not an address"},
	} {
		if got := LoginAddr(tc.in); got != tc.want {
			t.Errorf("LoginAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGuessesSentInParallelFromOneAddressAreAllCounted: a burst of wrong
// passwords at once locks the address as surely as one after another.
func TestGuessesSentInParallelFromOneAddressAreAllCounted(t *testing.T) {
	a := openTestAuth(t, filepath.Join(t.TempDir(), "auth.db"))
	if err := a.AddUser("boss", RoleAdmin, "the administrator's password"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2*LockAfter; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); a.Login(bg, "boss", fmt.Sprintf("guess %d", i), addrA) }()
	}
	wg.Wait()
	if _, res, _ := a.Login(bg, "boss", "the administrator's password", addrA); res != LoginLocked {
		t.Errorf("after %d guesses at once: %s, want %s", 2*LockAfter, res, LoginLocked)
	}
}

// TestEveryLoginPathVerifiesExactlyOneArgon2Hash: an unknown name, a
// locked, a disabled account, a wrong and a right password each cost one
// argon2id verification — none answers sooner (timing is not measured: a
// loaded machine would make that flaky; the work done is what decides it).
func TestEveryLoginPathVerifiesExactlyOneArgon2Hash(t *testing.T) {
	a := openTestAuth(t, filepath.Join(t.TempDir(), "auth.db"))
	for _, u := range []string{"lan", "locked", "gone"} {
		if err := a.AddUser(u, RoleOperator, "password of "+u+"!"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < LockAfter; i++ {
		a.Login(bg, "locked", "wrong password", addrA)
	}
	if err := a.DisableUser("gone"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, password string
		want                 LoginResult
	}{
		{"unknown name", "nobody", "password of nobody!", LoginUnknownUser},
		{"locked account, right password", "locked", "password of locked!", LoginLocked},
		{"locked account, wrong password", "locked", "wrong password", LoginLocked},
		{"disabled account", "gone", "password of gone!", LoginDisabled},
		{"wrong password", "lan", "wrong password", LoginBadPassword},
		{"right password", "lan", "password of lan!", LoginOK},
	} {
		before := a.verifications.Load()
		_, res, _ := a.Login(bg, tc.user, tc.password, addrA)
		if res != tc.want {
			t.Errorf("%s: result %s, want %s", tc.name, res, tc.want)
		}
		if n := a.verifications.Load() - before; n != 1 {
			t.Errorf("%s: %d argon2id verifications, want 1", tc.name, n)
		}
	}
}

func TestDefaultArgon2idCostIsOWASPGrade(t *testing.T) {
	if defaultArgon.memory < 19*1024 || defaultArgon.time < 2 {
		t.Errorf("argon2id m=%d KiB t=%d: below OWASP's minimum (19 MiB, 2)", defaultArgon.memory, defaultArgon.time)
	}
	a := &Auth{argon: argonParams{time: 1, memory: 64, threads: 1}, hashing: make(chan struct{}, 1)}
	h, err := a.hashPassword("pw of twelve+")
	if err != nil || !a.verifyPassword(h, "pw of twelve+") || a.verifyPassword(h, "pw of twelve-") {
		t.Fatalf("hash round trip: %v", err)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaA"} {
		if a.verifyPassword(bad, "x") {
			t.Errorf("verified against %q", bad)
		}
	}
}

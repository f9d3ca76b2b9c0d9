package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

func TestPanelSendsStrangersToTheLoginPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	r := c.do(invalid(bg), "GET", "/panel/applications?q=T", "", nil).want(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/panel/login?next="+url.QueryEscape("/panel/applications?q=T") {
		t.Errorf("redirect to %q", loc)
	}
	c.do(invalid(bg), "GET", "/panel/", "", nil).want(t, http.StatusSeeOther)
	c.get("/").want(t, http.StatusSeeOther)
	// Posts without a session go to the login page too; the live stream
	// and the session check answer 401.
	r = c.do(invalid(bg), "POST", "/panel/readers", "application/x-www-form-urlencoded", []byte("reader=Reader+A&action=pause"))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/panel/login") {
		t.Errorf("anonymous post: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if code := c.do(invalid(bg), "GET", "/panel/events", "", nil).want(t, http.StatusUnauthorized).errCode(t); code != CodeUnauthenticated {
		t.Errorf("code %q", code)
	}
	c.do(invalid(bg), "GET", "/panel/ping", "", nil).want(t, http.StatusUnauthorized)
	if e.ctrl.Snapshot().Readers[0].Paused {
		t.Fatal("an anonymous post paused a reader")
	}
}

func TestLoginSetsAStrictSessionCookieAndEveryAttemptIsAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.auth.AddUser("hoa", RoleTechnician, "mật khẩu của Hoa 2026"); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	page := c.get("/panel/login").want(t, http.StatusOK)
	csrf := formValue(t, page.body, "csrf")

	r := c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {"hoa"}, "password": {"wrong"}, "next": {"/panel/cards"}})
	if loc := r.want(t, http.StatusSeeOther).Header.Get("Location"); !strings.HasPrefix(loc, "/panel/login?error=failed") {
		t.Fatalf("failed login went to %q", loc)
	}
	if !e.auditHas("hoa", "login", "hoa") {
		t.Error("the failed login is not in the audit log")
	}
	// A password typed into the user field is not written anywhere.
	c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {"mật khẩu của Hoa 2026"}, "password": {"x"}})
	entries, _ := e.store.AuditLog(bg, queue.AuditFilter{Action: "login", Limit: 100})
	for _, en := range entries {
		if strings.Contains(en.Subject+en.Detail, "mật khẩu") {
			t.Errorf("an unknown user name reached the audit log: %+v", en)
		}
	}

	r = c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {"hoa"}, "password": {"mật khẩu của Hoa 2026"}, "next": {"/panel/cards"}})
	if loc := r.want(t, http.StatusSeeOther).Header.Get("Location"); loc != "/panel/cards" {
		t.Fatalf("login went to %q", loc)
	}
	var sess *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/panel" {
		t.Fatalf("session cookie %+v", sess)
	}
	entries, _ = e.store.AuditLog(bg, queue.AuditFilter{Actor: "hoa", Action: "login", Limit: 100})
	if len(entries) != 2 || !strings.HasPrefix(entries[1].Detail, "result=ok ") {
		t.Errorf("the login is not in the audit log: %+v", entries)
	}
	c.get("/panel/cards").want(t, http.StatusOK)

	// No open redirect.
	c2 := e.client()
	csrf2 := formValue(t, c2.get("/panel/login").body, "csrf")
	r = c2.postForm("/panel/login", url.Values{"csrf": {csrf2}, "user": {"hoa"}, "password": {"mật khẩu của Hoa 2026"}, "next": {"//evil.example/panel/"}})
	if loc := r.Header.Get("Location"); loc != "/panel/" {
		t.Errorf("next=//evil.example went to %q", loc)
	}

	// Logout ends the session for good.
	csrfS := c.csrf()
	c.postForm("/panel/logout", url.Values{"csrf": {csrfS}}).want(t, http.StatusSeeOther)
	c.do(invalid(bg), "GET", "/panel/cards", "", nil).want(t, http.StatusSeeOther)
	if !e.auditHas("hoa", "logout", "hoa") {
		t.Error("the logout is not in the audit log")
	}
}

func TestLoginWithoutTheLoginPageCookieIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.auth.AddUser("hoa", RoleTechnician, "mật khẩu của Hoa 2026")
	c := e.client()
	r := c.postForm("/panel/login", url.Values{"csrf": {"forged"}, "user": {"hoa"}, "password": {"mật khẩu của Hoa 2026"}})
	if loc := r.want(t, http.StatusSeeOther).Header.Get("Location"); loc != "/panel/login?error=expired" {
		t.Errorf("login without the page's cookie went to %q", loc)
	}
}

func TestFiveFailedLoginsLockTheAddressOutOfTheAccountAndTheAuditSaysSo(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.auth.AddUser("minh", RoleOperator, "mật khẩu của Minh 2026")
	c := e.client()
	csrf := formValue(t, c.get("/panel/login").body, "csrf")
	for i := 0; i < LockAfter; i++ {
		c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {"minh"}, "password": {"guess"}}).want(t, http.StatusSeeOther)
	}
	r := c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {"minh"}, "password": {"mật khẩu của Minh 2026"}})
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/panel/login?error=failed") {
		t.Fatalf("the right password from a locked address went to %q", loc)
	}
	entries, _ := e.store.AuditLog(bg, queue.AuditFilter{Action: "login", Subject: "minh", Limit: 100})
	var results []string
	for _, en := range entries {
		results = append(results, strings.Fields(en.Detail)[0])
	}
	want := "result=bad_password result=bad_password result=bad_password result=bad_password result=locked_now result=locked"
	if strings.Join(results, " ") != want {
		t.Errorf("audit of the attempts:\n got  %s\n want %s", strings.Join(results, " "), want)
	}
	// From another address the account works (the lockout is the
	// address's, not the account's).
	if _, res, err := e.auth.Login(bg, "minh", "mật khẩu của Minh 2026", "192.0.2.99"); err != nil || res != LoginOK {
		t.Errorf("login from another address: %s %v", res, err)
	}
}

// TestFailedLoginsLookTheSameWhateverTheReason: an unknown name, a wrong
// password, a disabled and a locked account get the same answer — status,
// Location, body, no cookie — and the login page the same message.
func TestFailedLoginsLookTheSameWhateverTheReason(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, u := range []string{"lan", "locked", "gone"} {
		if err := e.auth.AddUser(u, RoleOperator, "password of "+u+"!"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < LockAfter; i++ {
		e.auth.Login(bg, "locked", "wrong password", LoginAddr("127.0.0.1"))
	}
	if err := e.auth.DisableUser("gone"); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status          int
		location, body  string
		cookies, verify int
	}
	attempt := func(user, password string) answer {
		c := e.client()
		csrf := formValue(t, c.get("/panel/login").body, "csrf")
		before := e.auth.verifications.Load()
		r := c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {user}, "password": {password}, "next": {"/panel/cards"}})
		return answer{r.StatusCode, r.Header.Get("Location"), string(r.body), len(r.Header.Values("Set-Cookie")),
			int(e.auth.verifications.Load() - before)}
	}
	want := attempt("lan", "wrong password")
	if want.status != http.StatusSeeOther || !strings.HasPrefix(want.location, "/panel/login?error=failed") || want.cookies != 0 || want.verify != 1 {
		t.Fatalf("wrong password: %+v", want)
	}
	for name, got := range map[string]answer{
		"unknown name":                   attempt("nobody", "password of nobody!"),
		"locked account, right password": attempt("locked", "password of locked!"),
		"disabled account":               attempt("gone", "password of gone!"),
	} {
		if got != want {
			t.Errorf("%s: answer %+v, a wrong password's %+v", name, got, want)
		}
	}
	page := e.client().get(want.location).want(t, http.StatusOK)
	if !bytes.Contains(page.body, []byte(T(LangVI, "login.failed"))) {
		t.Errorf("the login page does not say the login failed:\n%s", clip(page.body))
	}
}

func TestLoginAttemptsArePacedPerAddress(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	csrf := formValue(t, c.get("/panel/login").body, "csrf")
	var last string
	for i := 0; i < 12; i++ {
		r := c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {fmt.Sprintf("u%d", i)}, "password": {"x"}})
		last = r.Header.Get("Location")
	}
	if last != "/panel/login?error=throttled" {
		t.Errorf("the 12th attempt in a row went to %q", last)
	}
}

func TestPanelRefusesWrongRolesAndForgedRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.user("op", RoleOperator)
	aud := e.user("aud", RoleAuditor)
	csrf := op.csrf()

	r := op.get("/panel/audit").want(t, http.StatusForbidden)
	if !strings.Contains(r.Header.Get("Content-Type"), "text/html") || !bytes.Contains(r.body, []byte("Vai trò của bạn")) {
		t.Errorf("403 page: %s %s", r.Header.Get("Content-Type"), clip(r.body))
	}
	op.get("/panel/users").want(t, http.StatusForbidden)
	op.postForm("/panel/drain", url.Values{"csrf": {csrf}, "on": {"1"}}).want(t, http.StatusForbidden)
	aud.postForm("/panel/readers", url.Values{"csrf": {aud.csrf()}, "reader": {"Reader A"}, "action": {"pause"}}).want(t, http.StatusForbidden)
	aud.get("/panel/audit").want(t, http.StatusOK)
	if e.ctrl.Snapshot().Draining || e.ctrl.Snapshot().Readers[0].Paused {
		t.Fatal("a refused request changed the station")
	}

	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no token":         {url.Values{"reader": {"Reader A"}, "action": {"pause"}}, nil},
		"wrong token":      {url.Values{"csrf": {csrf + "x"}, "reader": {"Reader A"}, "action": {"pause"}}, nil},
		"other origin":     {url.Values{"csrf": {csrf}, "reader": {"Reader A"}, "action": {"pause"}}, []string{"Origin", "https://evil.example"}},
		"cross-site fetch": {url.Values{"csrf": {csrf}, "reader": {"Reader A"}, "action": {"pause"}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"token of another": {url.Values{"csrf": {aud.csrf()}, "reader": {"Reader A"}, "action": {"pause"}}, nil},
	} {
		r := op.postForm("/panel/readers", tc.form, tc.hdr...)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d", name, r.StatusCode)
		}
	}
	if e.ctrl.Snapshot().Readers[0].Paused {
		t.Fatal("a forged request paused a reader")
	}
	// The same from the page itself works.
	op.postForm("/panel/readers", url.Values{"csrf": {csrf}, "reader": {"Reader A"}, "action": {"pause"}}, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin").
		want(t, http.StatusSeeOther)
	if !e.ctrl.Snapshot().Readers[0].Paused {
		t.Fatal("the operator could not pause a reader")
	}
}

func TestPanelPagesFollowTheLanguageOfTheUserOrTheBrowser(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	vi := c.get("/panel/login").want(t, http.StatusOK)
	if !bytes.Contains(vi.body, []byte("Đăng nhập")) || vi.Header.Get("Content-Language") != "vi" {
		t.Errorf("default login page is not Vietnamese")
	}
	en := c.do(bg, "GET", "/panel/login", "", nil, "Accept-Language", "en-US,en;q=0.9").want(t, http.StatusOK)
	if !bytes.Contains(en.body, []byte("Log in")) || en.Header.Get("Content-Language") != "en" {
		t.Errorf("English browser got:\n%s", clip(en.body))
	}
	fr := c.do(bg, "GET", "/panel/login", "", nil, "Accept-Language", "fr-FR,de;q=0.5").want(t, http.StatusOK)
	if fr.Header.Get("Content-Language") != "vi" {
		t.Errorf("French browser got %s, want vi", fr.Header.Get("Content-Language"))
	}

	u := e.user("lan", RoleTechnician)
	if p := u.get("/panel/"); !bytes.Contains(p.body, []byte("Tổng quan trạm")) {
		t.Errorf("overview not in Vietnamese")
	}
	u.postForm("/panel/lang", url.Values{"csrf": {u.csrf()}, "lang": {"en"}, "next": {"/panel/"}}).want(t, http.StatusSeeOther)
	if p := u.do(bg, "GET", "/panel/", "", nil, "Accept-Language", "vi").want(t, http.StatusOK); !bytes.Contains(p.body, []byte("Station overview")) {
		t.Errorf("after choosing English the overview is not in English")
	}
	us, _ := e.auth.Users()
	if us[0].Lang != LangEN {
		t.Errorf("the preference was not stored: %+v", us[0])
	}
	u.do(invalid(bg), "POST", "/panel/lang", "application/x-www-form-urlencoded", []byte(url.Values{"csrf": {u.csrf()}, "lang": {"fr"}}.Encode())).
		want(t, http.StatusBadRequest)
}

// TestEveryPageRendersInBothLanguagesWithEveryLabel renders each page for
// an admin in Vietnamese and English and looks for labels missing from the
// catalogue.
func TestEveryPageRendersInBothLanguagesWithEveryLabel(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, serial := e.spoiledCard(t, 40)
	for _, lang := range []Lang{LangVI, LangEN} {
		admin := e.user("admin-"+string(lang), RoleAdmin)
		admin.postForm("/panel/lang", url.Values{"csrf": {admin.csrf()}, "lang": {string(lang)}, "next": {"/panel/"}})
		pages := []*response{
			admin.get("/panel/"), admin.get("/panel/applications"), admin.get("/panel/applications?q=T&state=prepared"),
			admin.get("/panel/applications/" + id), admin.get("/panel/cards"), admin.get("/panel/audit"),
			admin.get("/panel/config"), admin.get("/panel/users"),
			admin.postForm("/panel/applications/"+id+"/personal-data", url.Values{"csrf": {admin.csrf()}}),
			admin.postForm("/panel/audit/verify", url.Values{"csrf": {admin.csrf()}}),
			admin.get("/panel/applications/NOPE-1"),
		}
		for _, p := range pages {
			if bytes.Contains(p.body, []byte("⟦")) {
				i := bytes.Index(p.body, []byte("⟦"))
				t.Errorf("%s %s (%s): a label is missing from the catalogue: %s", p.Request.Method, p.Request.URL.Path, lang, p.body[i:min(i+60, len(p.body))])
			}
			if p.Header.Get("Content-Language") != string(lang) {
				t.Errorf("%s (%s): Content-Language %q", p.Request.URL.Path, lang, p.Header.Get("Content-Language"))
			}
		}
		if !bytes.Contains(pages[4].body, []byte(serial)) {
			t.Errorf("the spoiled card %s is not listed", serial)
		}
	}
}

func TestCatalogueHasEveryKeyInBothLanguages(t *testing.T) {
	for k, v := range catalog {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("%s: %q / %q", k, v[0], v[1])
		}
	}
	// Every state, reader state, card state, role and error code has its label.
	var keys []string
	for _, s := range queueStates {
		keys = append(keys, "state."+string(s))
	}
	for _, s := range []string{"waiting_card", "waiting_work", "personalizing", "verifying", "remove_card", "paused", "error", "recovering", "stopped"} {
		keys = append(keys, "reader."+s)
	}
	for _, s := range []queue.CardState{queue.CardClaimed, queue.CardWriting, queue.CardLocked, queue.CardVerified, queue.CardSpoiled, queue.CardReleased} {
		keys = append(keys, "card."+string(s))
	}
	for _, r := range Roles {
		keys = append(keys, "role."+string(r))
	}
	for _, c := range []string{CodeBadRequest, CodeMalformedJSON, CodeUnknownField, CodeMissingID, CodeDuplicateID, CodeEmptyBatch,
		CodeBatchTooLarge, CodeBodyTooLarge, CodeUnsupportedMedia, CodeBadParameter, CodeBadCursor, CodeUnauthenticated,
		CodeForbidden, CodeCSRF, CodeNotFound, CodeNoSuchReader, CodeConflict, CodeTooLate, CodeMethodNotAllowed,
		CodeRateLimited, CodeTooManyStreams, CodeRequestTimeout, CodeUnavailable, CodeInternal} {
		keys = append(keys, "error."+c)
	}
	for _, k := range keys {
		if !hasKey(k) {
			t.Errorf("no label for %s", k)
		}
	}
}

// spoiledCard takes an application through the store to a spoiled card.
func (e *env) spoiledCard(t *testing.T, n int) (id, serial string) {
	t.Helper()
	doc := app(t, n)
	id = appID(t, doc)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	if err := e.store.SetPrepared(bg, id, []byte("chip image")); err != nil {
		t.Fatal(err)
	}
	serial = fmt.Sprintf("SN%06d", n)
	cl, err := e.store.Claim(bg, "Reader A", serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkWriting(bg, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.MarkSpoiled(bg, cl, "write_failed: test"); err != nil {
		t.Fatal(err)
	}
	return id, serial
}

func TestPersonalDataIsMaskedUnlessTheRoleMayAndUnmaskingIsAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	doc := app(t, 41)
	id := appID(t, doc)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	var person struct {
		FullName   string `json:"full_name"`
		PersonalID string `json:"personal_id"`
	}
	json.Unmarshal(doc, &person)

	op := e.user("op", RoleOperator)
	p := op.get("/panel/applications/"+id).want(t, http.StatusOK)
	if bytes.Contains(p.body, []byte(person.FullName)) || bytes.Contains(p.body, []byte(person.PersonalID)) {
		t.Fatal("an operator sees personal data unmasked")
	}
	if !bytes.Contains(p.body, []byte(MaskName(person.FullName))) || !bytes.Contains(p.body, []byte(MaskPersonalID(person.PersonalID))) {
		t.Errorf("the masked view lacks the initials or last digits")
	}
	if bytes.Contains(p.body, []byte(`id="unmask"`)) {
		t.Error("an operator is offered to unmask")
	}
	op.postForm("/panel/applications/"+id+"/personal-data", url.Values{"csrf": {op.csrf()}}).want(t, http.StatusForbidden)
	aud := e.user("aud", RoleAuditor)
	aud.postForm("/panel/applications/"+id+"/personal-data", url.Values{"csrf": {aud.csrf()}}).want(t, http.StatusForbidden)
	if e.auditHas("", "personal_data_view", id) {
		t.Fatal("a refused unmasking was audited as a view")
	}

	tech := e.user("tech", RoleTechnician)
	p = tech.get("/panel/applications/"+id).want(t, http.StatusOK)
	if bytes.Contains(p.body, []byte(person.PersonalID)) || !bytes.Contains(p.body, []byte(`id="unmask"`)) {
		t.Fatal("a technician sees personal data before asking, or cannot ask")
	}
	p = tech.postForm("/panel/applications/"+id+"/personal-data", url.Values{"csrf": {tech.csrf()}}).want(t, http.StatusOK)
	if !bytes.Contains(p.body, []byte(person.FullName)) || !bytes.Contains(p.body, []byte(person.PersonalID)) {
		t.Fatal("the unmasked view lacks the personal data")
	}
	if !bytes.Contains(p.body, []byte("data:image/jpeg;base64,")) {
		t.Error("the unmasked view lacks the face")
	}
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("personal data served with Cache-Control %q", p.Header.Get("Cache-Control"))
	}
	if !e.auditHas("tech", "personal_data_view", id) {
		t.Error("the view is not in the audit log")
	}
}

func TestMaskingKeepsOnlyInitialsAndLastDigits(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Nguyễn Văn An", "N. V. A."}, {"H'Hen Niê", "H. N."}, {"đặng thị ngọc", "Đ. T. N."}, {"", ""},
	} {
		if got := MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := MaskPersonalID("001099012345"); got != "•••••••••345" {
		t.Errorf("MaskPersonalID = %q", got)
	}
	if got := MaskApplicationID("DEMO-2026-0000042"); got != "•••••••••••••0042" {
		t.Errorf("MaskApplicationID = %q", got)
	}
	if got := MaskApplicationID("AB"); got != "•B" {
		t.Errorf("MaskApplicationID(short) = %q", got)
	}
}

func TestPanelActionsChangeTheStationAndAreAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	tech := e.user("tech", RoleTechnician)
	csrf := tech.csrf()

	// Scripted (panel.js): JSON in the user's language.
	r := tech.postForm("/panel/readers", url.Values{"csrf": {csrf}, "reader": {"Reader B"}, "action": {"pause"}}, "X-CSRF-Token", csrf).want(t, http.StatusOK)
	var msg map[string]string
	r.json(t, &msg)
	if msg["message"] != T(LangVI, "msg.reader_pause") {
		t.Errorf("message %q", msg["message"])
	}
	if !e.ctrl.Snapshot().Readers[1].Paused || !e.auditHas("tech", "reader_pause", "Reader B") {
		t.Fatal("pause not done or not audited")
	}
	tech.postForm("/panel/readers", url.Values{"csrf": {csrf}, "reader": {"Reader B"}, "action": {"resume"}}).want(t, http.StatusSeeOther)
	if e.ctrl.Snapshot().Readers[1].Paused || !e.auditHas("tech", "reader_resume", "Reader B") {
		t.Fatal("resume not done or not audited")
	}
	r = tech.postForm("/panel/readers", url.Values{"csrf": {csrf}, "reader": {"Reader Z"}, "action": {"pause"}}, "X-CSRF-Token", csrf).want(t, http.StatusNotFound)
	if r.errCode(t) != CodeNoSuchReader {
		t.Errorf("unknown reader: %s", r.body)
	}

	tech.postForm("/panel/drain", url.Values{"csrf": {csrf}, "on": {"1"}}).want(t, http.StatusSeeOther)
	if !e.ctrl.Snapshot().Draining || !e.auditHas("tech", "drain", "station") {
		t.Fatal("drain not done or not audited")
	}
	tech.postForm("/panel/drain", url.Values{"csrf": {csrf}, "on": {"0"}}).want(t, http.StatusSeeOther)
	if e.ctrl.Snapshot().Draining {
		t.Fatal("undrain not done")
	}

	doc := app(t, 42)
	id := appID(t, doc)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	r = tech.postForm("/panel/applications/"+id+"/retry", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/panel/applications/"+id+"?msg=retry_refused" {
		t.Errorf("retry of a validated application went to %q", loc)
	}
	tech.postForm("/panel/applications/"+id+"/cancel", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	if st, _ := e.store.Status(bg, id); st.State != queue.StateCancelled {
		t.Fatalf("cancel from the panel: %s", st.State)
	}
	if !e.auditHas("tech", "application_cancel", id) || !e.auditHas("tech", "state", id) {
		t.Error("the cancellation is not in the audit log with the user as actor")
	}
	p := tech.get("/panel/applications/"+id+"?msg=cancel_done").want(t, http.StatusOK)
	if !bytes.Contains(p.body, []byte(T(LangVI, "msg.cancel_done"))) {
		t.Error("no message after the cancellation")
	}
	tech.postForm("/panel/applications/NOPE-9/retry", url.Values{"csrf": {csrf}}).want(t, http.StatusNotFound)
}

func TestRetryOfAnApplicationThatNeedsAttention(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, _ := e.spoiledCard(t, 43)
	// Spoil two more cards: three attempts exhaust it.
	for i := 0; i < 2; i++ {
		if err := e.store.SetPrepared(bg, id, []byte("chip image")); err != nil {
			t.Fatal(err)
		}
		cl, err := e.store.Claim(bg, "Reader A", fmt.Sprintf("SNX%d", i))
		if err != nil {
			t.Fatal(err)
		}
		e.store.MarkWriting(bg, cl)
		e.store.MarkSpoiled(bg, cl, "write_failed")
	}
	if st, _ := e.store.Status(bg, id); st.State != queue.StateNeedsAttention {
		t.Fatalf("after three spoiled cards: %s", st.State)
	}
	op := e.user("op", RoleOperator)
	op.postForm("/panel/applications/"+id+"/retry", url.Values{"csrf": {op.csrf()}}).want(t, http.StatusForbidden)
	tech := e.user("tech", RoleTechnician)
	page := tech.get("/panel/applications/"+id).want(t, http.StatusOK)
	if !bytes.Contains(page.body, []byte(`id="retry"`)) {
		t.Error("no retry button on an application that needs attention")
	}
	tech.postForm("/panel/applications/"+id+"/retry", url.Values{"csrf": {tech.csrf()}}).want(t, http.StatusSeeOther)
	if st, _ := e.store.Status(bg, id); st.State != queue.StateValidated {
		t.Fatalf("after retry: %s", st.State)
	}
}

func TestOperatorConfirmsASpoiledCardDestroyed(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, serial := e.spoiledCard(t, 44)
	op := e.user("op", RoleOperator)
	page := op.get("/panel/cards").want(t, http.StatusOK)
	if !bytes.Contains(page.body, []byte(serial)) || !bytes.Contains(page.body, []byte("write_failed: test")) {
		t.Fatalf("spoiled card not listed:\n%s", clip(page.body))
	}
	aud := e.user("aud", RoleAuditor)
	aud.postForm("/panel/cards/destroyed", url.Values{"csrf": {aud.csrf()}, "serial": {serial}}).want(t, http.StatusForbidden)
	op.postForm("/panel/cards/destroyed", url.Values{"csrf": {op.csrf()}, "serial": {serial}}).want(t, http.StatusSeeOther)
	cards, _ := e.store.Cards(bg, queue.CardFilter{State: queue.CardSpoiled})
	if len(cards) != 1 || cards[0].Destroyed == nil || cards[0].DestroyedBy != "op" {
		t.Fatalf("card after confirmation: %+v", cards)
	}
	if !e.auditHas("op", "card_destroyed", serial) {
		t.Error("the confirmation is not in the audit log")
	}
	op.postForm("/panel/cards/destroyed", url.Values{"csrf": {op.csrf()}, "serial": {"NOPE"}}).want(t, http.StatusNotFound)
	op.postForm("/panel/cards/destroyed", url.Values{"csrf": {op.csrf()}, "serial": {"bad serial!"}}).want(t, http.StatusBadRequest)
}

func TestAuditLogPageFiltersAndVerifiesTheChain(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.central().postJSON("/api/v1/applications", app(t, 45)).want(t, http.StatusCreated)
	aud := e.user("aud", RoleAuditor)
	p := aud.get("/panel/audit?actor=central").want(t, http.StatusOK)
	if !bytes.Contains(p.body, []byte("<td>central</td>")) || bytes.Contains(p.body, []byte("<td>anonymous</td>")) {
		t.Errorf("the filter by actor does not hold:\n%s", clip(p.body))
	}
	p = aud.postForm("/panel/audit/verify", url.Values{"csrf": {aud.csrf()}}).want(t, http.StatusOK)
	if !bytes.Contains(p.body, []byte(`id="verify-report" data-ok="true"`)) {
		t.Errorf("no good verification report:\n%s", clip(p.body))
	}
	if !e.auditHas("aud", "audit_verify", "audit_log") {
		t.Error("the verification is not in the audit log")
	}
	var rep queue.AuditReport
	e.client(withToken(e.tokens[RoleAuditor])).get("/api/v1/audit/verify").want(t, http.StatusOK).json(t, &rep)
	if !rep.OK || rep.Entries == 0 {
		t.Errorf("report %+v", rep)
	}
	aud.do(invalid(bg), "GET", "/panel/audit?actor="+strings.Repeat("x", 300), "", nil).want(t, http.StatusBadRequest)
}

func TestConfigurationPageHidesSecrets(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.user("op", RoleOperator)
	p := op.get("/panel/config").want(t, http.StatusOK)
	if bytes.Contains(p.body, []byte("123456")) || bytes.Contains(p.body, []byte("/secret/key")) {
		t.Fatalf("a secret is on the configuration page:\n%s", clip(p.body))
	}
	if !bytes.Contains(p.body, []byte("station_id: test")) || !bytes.Contains(p.body, []byte("[redacted]")) {
		t.Errorf("configuration page:\n%s", clip(p.body))
	}
}

func TestAdminManagesUsersOnThePanel(t *testing.T) {
	e := newEnv(t, envOptions{})
	admin := e.user("boss", RoleAdmin)
	csrf := admin.csrf()
	r := admin.postForm("/panel/users", url.Values{"csrf": {csrf}, "name": {"new-op"}, "role": {"operator"}, "password": {"a password for the new op"}})
	if loc := r.want(t, http.StatusSeeOther).Header.Get("Location"); loc != "/panel/users?msg=user_added" {
		t.Fatalf("add user went to %q", loc)
	}
	r = admin.postForm("/panel/users", url.Values{"csrf": {csrf}, "name": {"x"}, "role": {"operator"}, "password": {"short"}})
	if loc := r.Header.Get("Location"); loc != "/panel/users?msg=user_weak_password" {
		t.Errorf("weak password went to %q", loc)
	}
	newOp := e.login("new-op", "a password for the new op")
	newOp.get("/panel/").want(t, http.StatusOK)
	admin.postForm("/panel/users/new-op/disable", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	newOp.get("/panel/").want(t, http.StatusSeeOther) // the session ended (the cookie is stale)
	admin.postForm("/panel/users/new-op/enable", url.Values{"csrf": {csrf}}).want(t, http.StatusSeeOther)
	admin.postForm("/panel/users/new-op/password", url.Values{"csrf": {csrf}, "password": {"another password for op"}}).want(t, http.StatusSeeOther)
	e.login("new-op", "another password for op")
	r = admin.postForm("/panel/users/boss/disable", url.Values{"csrf": {csrf}})
	if loc := r.Header.Get("Location"); loc != "/panel/users?msg=user_self" {
		t.Errorf("self-disable went to %q", loc)
	}
	r = admin.postForm("/panel/users/ghost/enable", url.Values{"csrf": {csrf}})
	if loc := r.Header.Get("Location"); loc != "/panel/users?msg=user_unknown" {
		t.Errorf("unknown user went to %q", loc)
	}
	admin.do(invalid(bg), "POST", "/panel/users/Bad%20Name/disable", "application/x-www-form-urlencoded", []byte("csrf="+csrf)).want(t, http.StatusNotFound)
	for _, a := range []string{"user_add", "user_disable", "user_enable", "user_password"} {
		if !e.auditHas("boss", a, "new-op") {
			t.Errorf("%s is not in the audit log", a)
		}
	}
	page := admin.get("/panel/users").want(t, http.StatusOK)
	if !bytes.Contains(page.body, []byte(`data-user="new-op"`)) {
		t.Error("the users page does not list the new user")
	}
}

func TestPanelBodiesAreLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	tech := e.user("tech", RoleTechnician)
	big := url.Values{"csrf": {tech.csrf()}, "reader": {strings.Repeat("R", 70<<10)}, "action": {"pause"}}
	tech.postForm("/panel/readers", big).want(t, http.StatusRequestEntityTooLarge)
}

func TestStaticFilesAreServedWithoutListings(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	css := c.get("/panel/static/panel.css").want(t, http.StatusOK)
	if !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("css served as %q", css.Header.Get("Content-Type"))
	}
	js := c.get("/panel/static/panel.js").want(t, http.StatusOK)
	if !strings.Contains(js.Header.Get("Content-Type"), "javascript") || bytes.Contains(js.body, []byte("http://")) || bytes.Contains(js.body, []byte("https://")) {
		t.Errorf("script: %q, or it loads something from elsewhere", js.Header.Get("Content-Type"))
	}
	c.get("/panel/static/nope.js").want(t, http.StatusNotFound)
	if csp := css.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
}

// TestLiveOverviewStreamsChanges reads the server-sent events: the current
// state at once, then a new rendering when a reader is paused and when an
// application arrives.
func TestLiveOverviewStreamsChanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.user("op", RoleOperator)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/panel/events", nil)
	resp, err := op.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			case line == "" && name != "":
				events <- name + "\n" + strings.Join(data, "\n")
				name, data = "", nil
			}
		}
		close(events)
	}()
	next := func(what string) string {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended waiting for %s", what)
			}
			return ev
		case <-ctx.Done():
			t.Fatalf("no event for %s", what)
		}
		return ""
	}
	first := next("the first state")
	if !strings.HasPrefix(first, "overview\n") || !strings.Contains(first, `data-reader="Reader A" data-state="waiting_card"`) {
		t.Fatalf("first event:\n%s", first)
	}
	e.ctrl.Pause("Reader A")
	if ev := next("the pause"); !strings.Contains(ev, `data-reader="Reader A" data-state="paused"`) {
		t.Fatalf("after pause:\n%s", ev)
	}
	e.central().postJSON("/api/v1/applications", app(t, 46)).want(t, http.StatusCreated)
	if ev := next("the new application"); !strings.Contains(ev, `<span class="value" id="waiting">1</span>`) {
		t.Fatalf("after intake:\n%s", ev)
	}
}

func TestOverviewShowsReadersSignerQueueAndMasksApplicationIDs(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.ctrl.update(func(s *station.Snapshot) {
		s.Readers[0].State, s.Readers[0].CardSerial, s.Readers[0].ApplicationID = station.ReaderPersonalizing, "SN0001", "DEMO-2026-0000042"
		s.Readers[0].IssuedThisHour = 7
		s.Readers[1].State, s.Readers[1].LastError = station.ReaderError, "reader gone"
		s.Signer.OK, s.Signer.Error = false, "token absent"
	})
	op := e.user("op", RoleOperator)
	p := op.get("/panel/").want(t, http.StatusOK)
	for _, want := range []string{"SN0001", "•••••••••••••0042", `id="issued-hour">7<`, "reader gone", "token absent", `data-ok="false"`, `id="readers-up">1 / 2`} {
		if !bytes.Contains(p.body, []byte(want)) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if bytes.Contains(p.body, []byte("DEMO-2026-0000042")) {
		t.Error("the operator's overview shows the application id unmasked")
	}
	tech := e.user("tech", RoleTechnician)
	if p := tech.get("/panel/"); !bytes.Contains(p.body, []byte("DEMO-2026-0000042")) {
		t.Error("the technician's overview masks the application id")
	}
}

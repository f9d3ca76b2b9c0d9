package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/application/synthetic"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

var bg = context.Background()

// testPKI is one TEST PKI for the whole package (a station needs a signer
// and CSCAs even when it is not running).
var (
	pkiOnce sync.Once
	pkiDir  string
	pkiErr  error
)

func sharedPKI(t testing.TB) *pki.PKI {
	t.Helper()
	pkiOnce.Do(func() {
		pkiDir, pkiErr = os.MkdirTemp("", "api-test-pki-")
		if pkiErr == nil {
			pkiErr = pki.Init(pki.Options{Dir: pkiDir, Station: "api-test"})
		}
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	p, err := pki.Load(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testKey() queue.Key {
	var k queue.Key
	for i := range k {
		k[i] = byte(0x50 + i)
	}
	return k
}

// fakeReaders is the reader side of the Control for single-layer tests: a
// list of readers whose pause state changes as asked, with Changed like the
// station's. Intake is the real station's (not running) over the real
// store.
type fakeReaders struct {
	*station.Station
	mu       sync.Mutex
	snap     station.Snapshot
	changed  chan struct{}
	store    *queue.Store
	useStore bool // queue counts from the store (as the station does)
}

func newFakeReaders(st *station.Station, store *queue.Store, names ...string) *fakeReaders {
	f := &fakeReaders{Station: st, store: store, changed: make(chan struct{}), useStore: true}
	now := time.Now()
	for _, n := range names {
		f.snap.Readers = append(f.snap.Readers, station.ReaderStatus{Name: n, State: station.ReaderWaitingCard, Since: now})
	}
	f.snap.Signer = station.SignerStatus{Backend: "file", OK: true, Checked: now}
	f.snap.PCSC = "ok"
	f.snap.Store = station.StoreStatus{Writable: true, Since: now, FreeBytes: 1 << 30}
	return f
}

func (f *fakeReaders) Snapshot() station.Snapshot {
	f.mu.Lock()
	s := f.snap
	s.Readers = append([]station.ReaderStatus(nil), f.snap.Readers...)
	f.mu.Unlock()
	if f.useStore {
		s.Queue, _ = f.store.CountByState(bg)
	}
	s.At = time.Now()
	return s
}

func (f *fakeReaders) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeReaders) update(fn func(s *station.Snapshot)) {
	f.mu.Lock()
	fn(&f.snap)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeReaders) setPaused(name string, p bool) error {
	found := false
	f.update(func(s *station.Snapshot) {
		for i := range s.Readers {
			if s.Readers[i].Name == name {
				found = true
				s.Readers[i].Paused = p
				if p {
					s.Readers[i].State = station.ReaderPaused
				} else {
					s.Readers[i].State = station.ReaderWaitingCard
				}
			}
		}
	})
	if !found {
		return fmt.Errorf("%w: %q", station.ErrNoReader, name)
	}
	return nil
}

func (f *fakeReaders) Pause(name string) error  { return f.setPaused(name, true) }
func (f *fakeReaders) Resume(name string) error { return f.setPaused(name, false) }
func (f *fakeReaders) Drain(on bool)            { f.update(func(s *station.Snapshot) { s.Draining = on }) }

// env is an API on a real store, a real (idle) station for intake, fake
// readers, served over TLS by httptest, with a client whose every request
// and response is checked against the OpenAPI document.
type env struct {
	t      testing.TB
	api    *API
	srv    *httptest.Server
	store  *queue.Store
	ctrl   *fakeReaders
	auth   *Auth
	tokens map[Role]string
	pinned tls.Certificate // a client certificate pinned as central
	other  tls.Certificate // a client certificate not pinned
	dir    string
}

type envOptions struct {
	readers   []string
	mutate    func(o *Options)
	plainHTTP bool
	store     queue.Options // the job store's options (fault injection)
}

func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := queue.Open(filepath.Join(dir, "station.db"), testKey(), eo.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := sharedPKI(t)
	sgn, err := signer.Open(bg, p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sgn.Close() })
	st, err := station.New(station.Options{Store: store, Readers: vcard.NewRack(), Signer: sgn, CSCAs: p.CSCAs,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if eo.readers == nil {
		eo.readers = []string{"Reader A", "Reader B"}
	}
	ctrl := newFakeReaders(st, store, eo.readers...)
	auth := openTestAuth(t, filepath.Join(dir, "auth.db"))

	e := &env{t: t, store: store, ctrl: ctrl, auth: auth, tokens: map[Role]string{}, dir: dir}
	e.pinned, e.other = clientCert(t, "central"), clientCert(t, "somebody")
	o := Options{
		Store: storeFor(store, ctrl), Control: ctrl, Auth: auth,
		ClientCertPins: []string{Fingerprint(e.pinned.Certificate[0])},
		RateLimit:      10000, RateBurst: 10000,
		LiveDebounce: 10 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Config: map[string]any{"station_id": "test", "signer": map[string]any{"backend": "pkcs11", "pin": "123456"},
			"data_key": map[string]any{"file": "/secret/key"}},
		Version: "test",
	}
	if eo.mutate != nil {
		eo.mutate(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.api = a
	e.srv = httptest.NewUnstartedServer(a)
	if eo.plainHTTP {
		e.srv.Start()
	} else {
		e.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
		e.srv.StartTLS()
	}
	t.Cleanup(e.srv.Close)
	for _, r := range Roles {
		tok, err := auth.AddToken("tok-"+string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = tok
	}
	return e
}

// openTestAuth opens an auth store with cheap password hashing (the cost
// parameters travel with each hash; production uses defaultArgon).
func openTestAuth(t testing.TB, path string) *Auth {
	t.Helper()
	a, err := OpenAuth(path)
	if err != nil {
		t.Fatal(err)
	}
	a.argon = argonParams{time: 1, memory: 1024, threads: 1}
	t.Cleanup(func() { a.Close() })
	return a
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// clientCert makes a self-signed client certificate.
func clientCert(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// client is how a test talks to the API: credentials, a cookie jar for
// the panel, and the OpenAPI check of every exchange.
type client struct {
	e      *env
	hc     *http.Client
	bearer string
	cert   bool
}

// clientOpt shapes a client.
type clientOpt func(*client, *tls.Config)

func withToken(tok string) clientOpt { return func(c *client, _ *tls.Config) { c.bearer = tok } }

func withCert(cert tls.Certificate) clientOpt {
	return func(c *client, tc *tls.Config) {
		tc.Certificates = []tls.Certificate{cert}
		c.cert = true
	}
}

func (e *env) client(opts ...clientOpt) *client {
	c := &client{e: e}
	var tc *tls.Config
	base := http.DefaultTransport.(*http.Transport).Clone()
	if e.srv.TLS != nil {
		tc = e.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		base.TLSClientConfig = tc
	} else {
		tc = &tls.Config{}
	}
	for _, o := range opts {
		o(c, tc)
	}
	jar, _ := cookiejar.New(nil)
	c.hc = &http.Client{
		Transport: &validating{t: e.t, base: base, c: c},
		Jar:       jar,
		// The panel answers with redirects; tests look at them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}
	return c
}

// central is a client authenticated as central with its token.
func (e *env) central() *client { return e.client(withToken(e.tokens[RoleCentral])) }

type invalidKey struct{}

// invalid marks a request the test means to be malformed: the document
// must refuse it too (so that it describes the limits the code enforces).
func invalid(ctx context.Context) context.Context { return context.WithValue(ctx, invalidKey{}, true) }

type response struct {
	*http.Response
	body []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not the JSON expected: %v\n%s", r.StatusCode, err, r.body)
	}
}

// errCode is the code of a JSON error response.
func (r *response) errCode(t testing.TB) string {
	t.Helper()
	var b ErrorBody
	r.json(t, &b)
	return b.Error.Code
}

func (c *client) do(ctx context.Context, method, path, contentType string, body []byte, hdr ...string) *response {
	c.e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return &response{resp, b}
}

func (c *client) get(path string) *response { return c.do(bg, http.MethodGet, path, "", nil) }

func (c *client) postJSON(path string, v any) *response {
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.e.t.Fatal(err)
		}
	}
	return c.do(bg, http.MethodPost, path, "application/json", b)
}

func (c *client) postForm(path string, form url.Values, hdr ...string) *response {
	return c.do(bg, http.MethodPost, path, "application/x-www-form-urlencoded", []byte(form.Encode()), hdr...)
}

// wantStatus fails the test unless the response has the status.
func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, clip(r.body))
	}
	return r
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// login logs a panel user in (a fresh client with the session cookie).
func (e *env) login(name, password string) *client {
	e.t.Helper()
	c := e.client()
	page := c.get("/panel/login").want(e.t, http.StatusOK)
	csrf := formValue(e.t, page.body, "csrf")
	r := c.postForm("/panel/login", url.Values{"csrf": {csrf}, "user": {name}, "password": {password}, "next": {"/panel/"}})
	r.want(e.t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/panel/" {
		e.t.Fatalf("login of %s went to %q", name, loc)
	}
	return c
}

// user adds a panel account and logs it in.
func (e *env) user(name string, role Role) *client {
	e.t.Helper()
	if err := e.auth.AddUser(name, role, "correct horse battery "+name); err != nil {
		e.t.Fatal(err)
	}
	return e.login(name, "correct horse battery "+name)
}

// csrf reads the session's CSRF token from a panel page.
func (c *client) csrf() string {
	c.e.t.Helper()
	return formValue(c.e.t, c.get("/panel/config").want(c.e.t, http.StatusOK).body, "csrf")
}

var hiddenInput = regexp.MustCompile(`name="([a-z]+)" value="([^"]*)"`)

func formValue(t testing.TB, page []byte, name string) string {
	t.Helper()
	for _, m := range hiddenInput.FindAllSubmatch(page, -1) {
		if string(m[1]) == name {
			return string(m[2])
		}
	}
	t.Fatalf("no %s field in the page:\n%s", name, clip(page))
	return ""
}

// app is an application of an invented person (valid).
func app(t testing.TB, n int) []byte {
	t.Helper()
	b, err := synthetic.Application(42, n, synthetic.Options{IDPrefix: "T"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appID reads a document's application_id.
func appID(t testing.TB, doc []byte) string {
	t.Helper()
	var w struct {
		ID string `json:"application_id"`
	}
	if err := json.Unmarshal(doc, &w); err != nil {
		t.Fatal(err)
	}
	return w.ID
}

// countApps is how many applications the store holds.
func (e *env) countApps() int {
	e.t.Helper()
	counts, err := e.store.CountByState(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// auditHas reports whether an audit entry matches.
func (e *env) auditHas(actor, action, subject string) bool {
	e.t.Helper()
	entries, err := e.store.AuditLog(bg, queue.AuditFilter{Actor: actor, Action: action, Subject: subject, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(entries) > 0
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

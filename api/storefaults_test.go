package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// An unknown key is named back in a short, safe form (never 1 MiB of it),
// and once the application is acknowledged and purged nothing of it is left
// in the database file: not in the application's row, the events or the
// audit log.
func TestUnknownKeyIsEchoedShortAndNothingOfItSurvivesPurge(t *testing.T) {
	e := newEnv(t, envOptions{})
	huge := strings.Repeat("Z", 1<<20)
	var m map[string]any
	if err := json.Unmarshal(app(t, 1), &m); err != nil {
		t.Fatal(err)
	}
	m[huge] = "x"
	doc, _ := json.Marshal(m)
	r := e.central().do(bg, http.MethodPost, "/api/v1/applications", "application/json", doc).want(t, http.StatusCreated)
	if len(r.body) > 4096 {
		t.Fatalf("the answer to a document with a 1 MiB key is %d bytes", len(r.body))
	}
	var it IntakeItem
	r.json(t, &it)
	if it.State != queue.StateRejected || len(it.Problems) != 1 || it.Problems[0].Rule != "unknown field" ||
		!strings.HasPrefix(it.Problems[0].Field, "ZZZZ") || len([]rune(it.Problems[0].Field)) > 33 {
		t.Fatalf("intake answered %+v", it)
	}
	if strings.Contains(it.Reason, "ZZZZ") {
		t.Errorf("the reason (kept in the events and the audit log) names the key: %q", it.Reason)
	}

	// A key given twice: also short.
	dup := []byte(`{"application_id":"T-DUP-1","` + huge[:100000] + `":1,"` + huge[:100000] + `":2}`)
	r = e.central().do(bg, http.MethodPost, "/api/v1/applications", "application/json", dup).want(t, http.StatusCreated)
	if len(r.body) > 4096 {
		t.Fatalf("the answer to a repeated 100 kB key is %d bytes", len(r.body))
	}

	// Central acknowledges both rejections; purge.
	var page EventPage
	e.central().get("/api/v1/events?after=0").want(t, http.StatusOK).json(t, &page)
	e.central().postJSON("/api/v1/events/ack", map[string]any{"cursor": page.NextCursor}).want(t, http.StatusOK)
	if n, err := e.store.Purge(bg); err != nil || n != 2 {
		t.Fatalf("purged %d, %v", n, err)
	}
	for _, f := range []string{"station.db", "station.db-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte("ZZZZZZZZ")); i >= 0 {
			t.Errorf("%s still holds the key's text at offset %d after purge", f, i)
		}
	}
}

// A store that cannot write (the disk full) makes intake answer 503 with
// Retry-After and store nothing; once it writes again, the same request is
// taken.
func TestIntakeAnswers503WhileTheStoreCannotWrite(t *testing.T) {
	var full atomic.Bool
	e := newEnv(t, envOptions{store: queue.Options{WriteFault: func(op string) error {
		if full.Load() {
			return sqlite3.Error{Code: sqlite3.ErrFull}
		}
		return nil
	}}})
	full.Store(true)
	doc := app(t, 7)
	r := e.central().do(bg, http.MethodPost, "/api/v1/applications", "application/json", doc).want(t, http.StatusServiceUnavailable)
	if code := r.errCode(t); code != CodeStoreUnavailable {
		t.Errorf("code %q, want %q", code, CodeStoreUnavailable)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if n := e.countApps(); n != 0 {
		t.Fatalf("%d applications stored while the store could not write", n)
	}
	if h := e.store.Health(); h.Writable || h.Reason != "database or disk is full" {
		t.Errorf("store health %+v", h)
	}
	full.Store(false)
	e.central().do(bg, http.MethodPost, "/api/v1/applications", "application/json", doc).want(t, http.StatusCreated)
	if h := e.store.Health(); !h.Writable {
		t.Errorf("store health after a write %+v", h)
	}
}

// The overview shows the DS certificate's end (and that it ends soon), the
// documents outliving it, the store that cannot write, and the alarm of a
// reader holding an unrecorded card; /readyz says why it is not ready.
func TestOverviewAndReadyzShowTheSignerCertificateAndTheStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	ends := time.Date(2027, 1, 5, 12, 0, 0, 0, time.UTC)
	e.ctrl.update(func(s *station.Snapshot) {
		s.Signer.Certificate = &station.DSCertificate{Subject: "CN=TEST DS", Serial: "01", NotAfter: ends, Ends: ends,
			ExpiresSoon: true, Outliving: 3, NoExpiry: 1}
		s.Store = station.StoreStatus{Writable: false, Reason: "database or disk is full", FreeBytes: 0}
		s.Readers[0].State = station.ReaderHoldingCard
	})
	p := e.user("op", RoleOperator).get("/panel/").want(t, http.StatusOK)
	for _, want := range []string{`id="ds-certificate"`, `data-expires-soon="true"`, "2027-01-05", `id="ds-outliving"`,
		`id="store" data-writable="false"`, "database or disk is full", `id="holding"`, "state-holding_card"} {
		if !bytes.Contains(p.body, []byte(want)) {
			t.Errorf("overview lacks %q", want)
		}
	}
	var h Health
	e.client().get("/readyz").want(t, http.StatusServiceUnavailable).json(t, &h)
	if !slices.Equal(h.Reasons, []string{"store_unwritable"}) {
		t.Errorf("readyz reasons %v", h.Reasons)
	}
	e.ctrl.update(func(s *station.Snapshot) {
		s.Store = station.StoreStatus{Writable: true}
		s.Signer.OK, s.Signer.TokenOK = false, true
		s.Signer.Certificate.Problem = lds.DSExpired
	})
	e.client().get("/readyz").want(t, http.StatusServiceUnavailable).json(t, &h)
	if !slices.Equal(h.Reasons, []string{"ds_certificate_expired"}) {
		t.Errorf("readyz reasons %v, want only ds_certificate_expired", h.Reasons)
	}
}

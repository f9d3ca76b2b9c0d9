package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/station"
)

func TestLivezAndReadyz(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	var h Health
	c.get("/livez").want(t, http.StatusOK).json(t, &h)
	if h.Status != "ok" {
		t.Errorf("livez %+v", h)
	}
	c.get("/readyz").want(t, http.StatusOK).json(t, &h)
	if h.Status != "ok" {
		t.Errorf("readyz %+v", h)
	}
	e.ctrl.update(func(s *station.Snapshot) {
		s.Signer.OK = false
		for i := range s.Readers {
			s.Readers[i].State = station.ReaderError
		}
	})
	c.get("/readyz").want(t, http.StatusServiceUnavailable).json(t, &h)
	if h.Status != "not_ready" || strings.Join(h.Reasons, ",") != "signer_down,no_reader_up" {
		t.Errorf("readyz with no signer and no reader: %+v", h)
	}
	e.ctrl.update(func(s *station.Snapshot) { s.Signer.OK = true; s.Readers[1].State = station.ReaderPaused })
	c.get("/readyz").want(t, http.StatusOK) // a paused reader is up
	c.get("/livez").want(t, http.StatusOK)
}

func TestMetricsCountCardsAndReadTheStationWithoutIdentifiers(t *testing.T) {
	m := NewMetrics()
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.Metrics = m }})
	doc := app(t, 50)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	m.CardIssued("Reader A", 4200*time.Millisecond, 310)
	m.CardSpoiled("Reader B", "readback_mismatch")
	m.CardSpoiled("Reader B", "card 12345 of Nguyễn Văn An broke") // free text: counted as other
	e.ctrl.Pause("Reader B")

	r := e.client().get("/metrics").want(t, http.StatusOK)
	text := string(r.body)
	for _, want := range []string{
		`station_cards_issued_total{reader="Reader A"} 1`,
		`station_cards_spoiled_total{reader="Reader B",reason="readback_mismatch"} 1`,
		`station_cards_spoiled_total{reader="Reader B",reason="other"} 1`,
		`station_perso_duration_seconds_count 1`,
		`station_perso_duration_seconds_bucket{le="5"} 1`,
		`station_card_apdus_sum 310`,
		`station_queue_applications{state="validated"} 1`,
		`station_queue_applications{state="issued"} 0`,
		`station_readers 2`,
		`station_readers_up 2`,
		`station_readers_paused 1`,
		`station_signer_up 1`,
		`station_draining 0`,
		`station_http_requests_total{code="201",route="/api/v1/applications"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, appID(t, doc)) || strings.Contains(text, "Nguyễn") || strings.Contains(text, "12345") {
		t.Error("an identifier is in the metrics")
	}
}

// TestLogsCarryNoPersonalData runs intake, errors and the panel with the log
// captured at debug level and looks for the applicants' data in it.
func TestLogsCarryNoPersonalData(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, envOptions{mutate: func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	doc := app(t, 51)
	var person struct {
		FullName   string `json:"full_name"`
		PersonalID string `json:"personal_id"`
		Birth      string `json:"date_of_birth"`
	}
	json.Unmarshal(doc, &person)
	c := e.central()
	c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	c.do(invalid(bg), "POST", "/api/v1/applications", "application/json", bytes.Replace(doc, []byte(`"application_id"`), []byte(`"x"`), 1))
	c.do(invalid(bg), "POST", "/api/v1/applications", "application/json", doc[:len(doc)/2])
	tech := e.user("tech", RoleTechnician)
	id := appID(t, doc)
	tech.postForm("/panel/applications/"+id+"/personal-data", map[string][]string{"csrf": {tech.csrf()}}).want(t, http.StatusOK)
	// A store failure: the error is logged, the client told nothing.
	e.store.Close()
	r := c.postJSON("/api/v1/applications", app(t, 52)).want(t, http.StatusInternalServerError)
	if r.errCode(t) != CodeInternal || bytes.Contains(r.body, []byte("queue")) || bytes.Contains(r.body, []byte("sql")) {
		t.Errorf("500 body says too much: %s", r.body)
	}
	log := buf.String()
	if !strings.Contains(log, "request failed") {
		t.Errorf("the failure was not logged:\n%s", log)
	}
	for _, v := range []string{person.FullName, person.PersonalID, person.Birth} {
		if v != "" && strings.Contains(log, v) {
			t.Errorf("the log holds personal data (%d bytes of it)", len(v))
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnknownRoutesAndMethodsAnswerJSONErrors uses a plain client: these
// requests are outside the document on purpose.
func TestUnknownRoutesAndMethodsAnswerJSONErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	hc := e.srv.Client()
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/nothing", 404, CodeNotFound},
		{"DELETE", "/api/v1/applications", 405, CodeMethodNotAllowed},
		{"PUT", "/api/v1/events/ack", 405, CodeMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[RoleCentral])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb ErrorBody
		if resp.StatusCode != tc.status || json.Unmarshal(b, &eb) != nil || eb.Error.Code != tc.code {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, b)
		}
	}
}

func TestServerHasEveryTimeout(t *testing.T) {
	srv := NewServer(":0", http.NotFoundHandler(), nil, nil)
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Errorf("server without a timeout: %+v", srv)
	}
}

package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawPost sends a JSON body straight to the test server, past the
// validating client: the OpenAPI document cannot say "no key twice" or
// "nothing after the object", and a JSON decoder reading it would not see
// them either.
func (e *env) rawPost(path, token string, body string) (int, ErrorBody) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b ErrorBody
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &b)
	return resp.StatusCode, b
}

// TestSmallJSONBodiesAreDecodedAsStrictlyAsIntake: the acknowledgement (and
// every small JSON body) refuses a key twice, a key it does not take (also
// one spelled in another case), anything but one object, and data after it
// — without repeating the key in the answer.
func TestSmallJSONBodiesAreDecodedAsStrictlyAsIntake(t *testing.T) {
	e := newEnv(t, envOptions{})
	central := e.tokens[RoleCentral]
	for _, tc := range []struct{ name, body, code string }{
		{"a key twice", `{"cursor":0,"cursor":0}`, CodeMalformedJSON},
		{"a key twice, escaped", `{"cursor":0,"curso\u0072":0}`, CodeMalformedJSON},
		{"a key in another case", `{"cursor":0,"Cursor":0}`, CodeUnknownField},
		{"only a key in another case", `{"CURSOR":0}`, CodeUnknownField},
		{"an unknown key", `{"cursor":0,"secret-looking-key-name":1}`, CodeUnknownField},
		{"two objects", `{"cursor":0} {"cursor":0}`, CodeMalformedJSON},
		{"data after the object", `{"cursor":0} x`, CodeMalformedJSON},
		{"an array", `[{"cursor":0}]`, CodeMalformedJSON},
		{"null", `null`, CodeMalformedJSON},
		{"a string", `"cursor"`, CodeMalformedJSON},
		{"the wrong type", `{"cursor":"0"}`, CodeBadParameter},
		{"not JSON", `{"cursor":0`, CodeMalformedJSON},
	} {
		status, b := e.rawPost("/api/v1/events/ack", central, tc.body)
		if status != http.StatusBadRequest || b.Error.Code != tc.code {
			t.Errorf("%s: %d %+v, want 400 %s", tc.name, status, b, tc.code)
		}
		if strings.Contains(b.Error.Message, "secret") || strings.Contains(b.Error.Message, "Cursor") || strings.Contains(b.Error.Message, "CURSOR") {
			t.Errorf("%s: the message repeats a key sent: %q", tc.name, b.Error.Message)
		}
	}
	if status, b := e.rawPost("/api/v1/events/ack", central, " {\"cursor\": 0}\n"); status != http.StatusOK {
		t.Errorf("a good acknowledgement: %d %+v", status, b)
	}

	// The same for the station's routes: neither value of a key given
	// twice is acted on.
	tech := e.tokens[RoleTechnician]
	if status, b := e.rawPost("/api/v1/station/readers/pause", tech, `{"reader":"Reader A","reader":"Reader B"}`); status != http.StatusBadRequest || b.Error.Code != CodeMalformedJSON {
		t.Errorf("pause with the reader twice: %d %+v", status, b)
	}
	if status, b := e.rawPost("/api/v1/station/drain", tech, `{"on":true,"on":false}`); status != http.StatusBadRequest || b.Error.Code != CodeMalformedJSON {
		t.Errorf("drain with on twice: %d %+v", status, b)
	}
	if status, b := e.rawPost("/api/v1/station/drain", tech, `{"On":true}`); status != http.StatusBadRequest || b.Error.Code != CodeUnknownField {
		t.Errorf("drain with On: %d %+v", status, b)
	}
	snap := e.ctrl.Snapshot()
	if snap.Draining || snap.Readers[0].Paused || snap.Readers[1].Paused {
		t.Errorf("a refused request changed the station: %+v", snap)
	}
}

// TestAStalledBodyIsA408ClientTimeoutNotAnInternalError: a client that sends
// the headers and then stalls its body until the server's ReadTimeout gets
// 408 request_timeout, logged as a client timeout at warning level — not a
// 500 logged as an error.
func TestAStalledBodyIsA408ClientTimeoutNotAnInternalError(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, envOptions{mutate: func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	id := appID(t, app(t, 60))
	e.central().postJSON("/api/v1/applications", app(t, 60)).want(t, http.StatusCreated)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.api, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for _, tc := range []struct{ path, token, start string }{
		{"/api/v1/applications", e.tokens[RoleCentral], `{"application_id":"` + id + `","full_na`},
		{"/api/v1/events/ack", e.tokens[RoleCentral], `{"cur`},
		{"/api/v1/station/drain", e.tokens[RoleTechnician], `{"on":`},
		{"/api/v1/applications/" + id + "/cancel", e.tokens[RoleCentral], ``},
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: station\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
			"Content-Length: 1000\r\n\r\n%s", tc.path, tc.token, tc.start)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no response: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		var b ErrorBody
		json.Unmarshal(body, &b)
		if resp.StatusCode != http.StatusRequestTimeout || b.Error.Code != CodeRequestTimeout {
			t.Errorf("%s: %d %s, want 408 %s", tc.path, resp.StatusCode, body, CodeRequestTimeout)
		}
	}
	log := logs.String()
	if strings.Contains(log, "level=ERROR") || strings.Contains(log, "code=internal") {
		t.Errorf("a stalled body was logged as an error:\n%s", log)
	}
	if n := strings.Count(log, "level=WARN msg=\"client timeout"); n != 4 {
		t.Errorf("%d client timeouts logged, want 4:\n%s", n, log)
	}
	if st, _ := e.store.Status(bg, id); st.State == "cancelled" {
		t.Error("a cancellation whose body stalled was carried out")
	}
}

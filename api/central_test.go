package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cccd-station/station/queue"
)

func TestIntakeOfOneApplicationStoresItOnceAndRepeatsIdempotently(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	doc := app(t, 1)
	id := appID(t, doc)

	var first IntakeItem
	c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated).json(t, &first)
	if first.ApplicationID != id || first.State != queue.StateValidated || !first.Created {
		t.Fatalf("first intake: %+v", first)
	}
	// The same content, with other spacing and key order: 200, the current state.
	var m map[string]any
	json.Unmarshal(doc, &m)
	again, _ := json.MarshalIndent(m, "", "   ")
	var second IntakeItem
	c.postJSON("/api/v1/applications", again).want(t, http.StatusOK).json(t, &second)
	if second.Created || second.State != queue.StateValidated || second.ApplicationID != id {
		t.Fatalf("repeat: %+v", second)
	}
	if n := e.countApps(); n != 1 {
		t.Fatalf("%d applications stored, want 1", n)
	}
	// Other content under the same id: 409, nothing changes.
	m["religion"] = "Phật giáo"
	other, _ := json.Marshal(m)
	if code := c.postJSON("/api/v1/applications", other).want(t, http.StatusConflict).errCode(t); code != CodeConflict {
		t.Fatalf("conflict code %q", code)
	}
	st, err := e.store.Status(bg, id)
	if err != nil || st.State != queue.StateValidated {
		t.Fatalf("after conflict: %+v %v", st, err)
	}
}

func TestInvalidApplicationWithAnIDIsStoredRejectedWithItsProblems(t *testing.T) {
	e := newEnv(t, envOptions{})
	var m map[string]any
	json.Unmarshal(app(t, 2), &m)
	m["date_of_birth"] = "2099-02-30"
	m["sex"] = "X"
	doc, _ := json.Marshal(m)
	var it IntakeItem
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated).json(t, &it)
	if it.State != queue.StateRejected || !it.Created || len(it.Problems) < 2 {
		t.Fatalf("intake of an invalid application: %+v", it)
	}
	fields := map[string]bool{}
	for _, p := range it.Problems {
		fields[p.Field] = true
		if strings.Contains(p.Rule, "2099") {
			t.Errorf("a problem repeats the refused value: %+v", p)
		}
	}
	if !fields["date_of_birth"] || !fields["sex"] {
		t.Errorf("problems %+v lack date_of_birth or sex", it.Problems)
	}
	// Unknown fields are a problem of the application too (stored rejected),
	// unlike unknown fields beside a batch (refused whole).
	m = map[string]any{}
	json.Unmarshal(app(t, 20), &m)
	m["unexpected_field"] = "x"
	doc, _ = json.Marshal(m)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated).json(t, &it)
	if it.State != queue.StateRejected || len(it.Problems) != 1 || it.Problems[0].Field != "unexpected_field" {
		t.Fatalf("intake with an unknown field: %+v", it)
	}
	st, err := e.store.Status(bg, it.ApplicationID)
	if err != nil || st.State != queue.StateRejected {
		t.Fatalf("stored: %+v %v", st, err)
	}
}

func TestBatchIntakeReportsEachApplicationInOrder(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	a, b := app(t, 3), app(t, 4)
	body := fmt.Appendf(nil, `{"applications":[%s,%s]}`, a, b)
	var res BatchResult
	c.postJSON("/api/v1/applications", body).want(t, http.StatusCreated).json(t, &res)
	if len(res.Results) != 2 || res.Results[0].ApplicationID != appID(t, a) || res.Results[1].ApplicationID != appID(t, b) ||
		res.Summary != (BatchSummary{Created: 2}) {
		t.Fatalf("batch: %+v", res)
	}
	// The same batch again: 200, nothing new.
	c.postJSON("/api/v1/applications", body).want(t, http.StatusOK).json(t, &res)
	if res.Summary != (BatchSummary{Existing: 2}) {
		t.Fatalf("repeated batch: %+v", res.Summary)
	}
	// One new, one conflicting: 207, the conflict in its result.
	var m map[string]any
	json.Unmarshal(b, &m)
	m["religion"] = "Công giáo"
	changed, _ := json.Marshal(m)
	body = fmt.Appendf(nil, `{"applications":[%s,%s]}`, app(t, 5), changed)
	c.postJSON("/api/v1/applications", body).want(t, http.StatusMultiStatus).json(t, &res)
	if res.Summary != (BatchSummary{Created: 1, Conflicts: 1}) || res.Results[1].Error == nil ||
		res.Results[1].Error.Code != CodeConflict || res.Results[0].State != queue.StateValidated {
		t.Fatalf("mixed batch: %+v", res)
	}
	if n := e.countApps(); n != 3 {
		t.Fatalf("%d applications stored, want 3", n)
	}
}

// TestBadIntakeRequestsStoreNothing: every way a request is refused whole
// leaves the store empty.
func TestBadIntakeRequestsStoreNothing(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.MaxIntakeBytes = 1 << 20 }})
	c := e.central()
	good := string(app(t, 6))
	noID := strings.Replace(good, `"application_id"`, `"application_ix"`, 1)
	numericID := strings.Replace(good, `"application_id":"`, `"application_id":123,"x":"`, 1)
	big := `{"application_id":"BIG-1","face_image":"` + strings.Repeat("A", 1<<20) + `"}`
	items := make([]string, 501) // one more than the default batch limit
	for i := range items {
		items[i] = fmt.Sprintf(`{"application_id":"X-%d"}`, i)
	}
	// docToo: the OpenAPI document refuses the request as well (it cannot
	// express byte sizes, "one JSON value only" or ids unique in a batch).
	cases := []struct {
		name, ct, body string
		status         int
		code           string
		docToo         bool
	}{
		{"malformed JSON", "application/json", `{"application_id": "X-1",`, 400, CodeMalformedJSON, true},
		{"not an object", "application/json", `["X-1"]`, 400, CodeMalformedJSON, true},
		{"empty body", "application/json", ``, 400, CodeMalformedJSON, true},
		{"two documents", "application/json", good + good, 400, CodeMalformedJSON, false},
		{"wrong content type", "text/plain", good, 415, CodeUnsupportedMedia, true},
		{"no content type", "", good, 415, CodeUnsupportedMedia, true},
		{"missing id", "application/json", noID, 400, CodeMissingID, true},
		{"id of the wrong type", "application/json", numericID, 400, CodeMissingID, true},
		{"unusable id", "application/json", `{"application_id":"../etc/passwd"}`, 400, CodeMissingID, true},
		{"oversized body", "application/json", big, 413, CodeBodyTooLarge, false},
		{"oversized batch", "application/json", `{"applications":[` + strings.Join(items, ",") + `]}`, 413, CodeBatchTooLarge, true},
		{"empty batch", "application/json", `{"applications":[]}`, 400, CodeEmptyBatch, true},
		{"batch of the wrong type", "application/json", `{"applications":{"a":1}}`, 400, CodeMalformedJSON, true},
		{"unknown field beside the batch", "application/json", `{"applications":[` + good + `],"priority":1}`, 400, CodeUnknownField, true},
		{"batch with an item without id", "application/json", `{"applications":[` + good + `,` + noID + `]}`, 400, CodeMissingID, true},
		{"batch with a non-object item", "application/json", `{"applications":[` + good + `,42]}`, 400, CodeMissingID, true},
		{"batch with an id twice", "application/json", `{"applications":[` + good + `,` + good + `]}`, 400, CodeDuplicateID, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := bg
			if tc.docToo {
				ctx = invalid(bg)
			}
			r := c.do(ctx, http.MethodPost, "/api/v1/applications", tc.ct, []byte(tc.body))
			r.want(t, tc.status)
			if got := r.errCode(t); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if bytes.Contains(r.body, []byte("etc/passwd")) {
				t.Errorf("the error repeats the input: %s", r.body)
			}
			if n := e.countApps(); n != 0 {
				t.Fatalf("%d applications stored after a refused request", n)
			}
		})
	}
	var eb ErrorBody
	c.do(invalid(bg), http.MethodPost, "/api/v1/applications", "application/json",
		[]byte(`{"applications":[`+good+`,`+noID+`,{}]}`)).want(t, 400).json(t, &eb)
	if fmt.Sprint(eb.Error.Items) != "[1 2]" {
		t.Errorf("items of the refused batch: %v, want [1 2]", eb.Error.Items)
	}
}

func TestApplicationStatusHasNoPersonalData(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	doc := app(t, 7)
	id := appID(t, doc)
	c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	r := c.get("/api/v1/applications/"+id).want(t, http.StatusOK)
	var st queue.Status
	r.json(t, &st)
	if st.ApplicationID != id || st.State != queue.StateValidated || st.ReceivedAt.IsZero() {
		t.Fatalf("status %+v", st)
	}
	var person struct {
		FullName   string `json:"full_name"`
		PersonalID string `json:"personal_id"`
	}
	json.Unmarshal(doc, &person)
	for _, v := range []string{person.FullName, person.PersonalID} {
		if bytes.Contains(r.body, []byte(v)) {
			t.Errorf("the status carries personal data")
		}
	}
	c.get("/api/v1/applications/NOPE-1").want(t, http.StatusNotFound)
	if code := c.do(invalid(bg), http.MethodGet, "/api/v1/applications/bad%20id", "", nil).want(t, http.StatusNotFound).errCode(t); code != CodeNotFound {
		t.Errorf("code %q", code)
	}
}

func TestCancelBeforePersoAndTooLateAfter(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	doc := app(t, 8)
	id := appID(t, doc)
	c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	var res CancelResult
	c.do(bg, http.MethodPost, "/api/v1/applications/"+id+"/cancel", "", nil).want(t, http.StatusOK).json(t, &res)
	if res.State != queue.StateCancelled {
		t.Fatalf("cancel: %+v", res)
	}
	c.do(bg, http.MethodPost, "/api/v1/applications/"+id+"/cancel", "", nil).want(t, http.StatusOK)
	c.do(bg, http.MethodPost, "/api/v1/applications/NOPE-2/cancel", "", nil).want(t, http.StatusNotFound)
	c.do(invalid(bg), http.MethodPost, "/api/v1/applications/"+id+"/cancel", "application/json", []byte(`{"why":"x"}`)).want(t, http.StatusBadRequest)

	// Rejected is final: too late to cancel.
	var m map[string]any
	json.Unmarshal(app(t, 9), &m)
	m["sex"] = "?"
	bad, _ := json.Marshal(m)
	var it IntakeItem
	c.postJSON("/api/v1/applications", bad).want(t, http.StatusCreated).json(t, &it)
	if code := c.do(bg, http.MethodPost, "/api/v1/applications/"+it.ApplicationID+"/cancel", "", nil).want(t, http.StatusConflict).errCode(t); code != CodeTooLate {
		t.Errorf("code %q, want too_late", code)
	}
}

func TestEventFeedIsOrderedAndAcknowledgementCoversFinalStates(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	var ids []string
	for i := 10; i < 13; i++ {
		doc := app(t, i)
		ids = append(ids, appID(t, doc))
		c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	}
	c.do(bg, http.MethodPost, "/api/v1/applications/"+ids[1]+"/cancel", "", nil).want(t, http.StatusOK)

	var all []queue.Event
	cursor := int64(0)
	for {
		var page EventPage
		c.get(fmt.Sprintf("/api/v1/events?after=%d&limit=2", cursor)).want(t, http.StatusOK).json(t, &page)
		if len(page.Events) == 0 {
			if page.NextCursor != cursor {
				t.Fatalf("empty page moved the cursor: %d → %d", cursor, page.NextCursor)
			}
			break
		}
		all = append(all, page.Events...)
		cursor = page.NextCursor
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has cursor %d: the feed has a gap or is out of order", i, ev.Seq)
		}
	}
	if len(all) != 4 || all[3].ApplicationID != ids[1] || all[3].State != queue.StateCancelled {
		t.Fatalf("events: %+v", all)
	}
	var ack AckResult
	c.postJSON("/api/v1/events/ack", map[string]int64{"cursor": cursor}).want(t, http.StatusOK).json(t, &ack)
	if ack.Acknowledged != 1 || ack.Cursor != cursor {
		t.Fatalf("ack: %+v", ack)
	}
	st, _ := e.store.Status(bg, ids[1])
	if st.State != queue.StateAcknowledged {
		t.Errorf("cancelled application after ack: %s", st.State)
	}

	for _, tc := range []struct{ name, query, code string }{
		{"cursor beyond the end", "?after=999", CodeBadCursor},
		{"negative cursor", "?after=-1", CodeBadParameter},
		{"limit too large", "?limit=5000", CodeBadParameter},
		{"limit not a number", "?limit=ten", CodeBadParameter},
		{"wait too long", "?wait=600", CodeBadParameter},
	} {
		ctx := bg
		if tc.code == CodeBadParameter {
			ctx = invalid(bg)
		}
		r := c.do(ctx, http.MethodGet, "/api/v1/events"+tc.query, "", nil).want(t, http.StatusBadRequest)
		if got := r.errCode(t); got != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
		}
	}
	for _, tc := range []struct{ name, body, code string }{
		{"no cursor", `{}`, CodeBadParameter},
		{"cursor of the wrong type", `{"cursor":"7"}`, CodeBadParameter},
		{"unknown field", `{"cursor":1,"all":true}`, CodeUnknownField},
		{"malformed", `{"cursor":`, CodeMalformedJSON},
		{"beyond the end", `{"cursor":999}`, CodeBadCursor},
	} {
		ctx := invalid(bg)
		if tc.code == CodeBadCursor {
			ctx = bg
		}
		r := c.do(ctx, http.MethodPost, "/api/v1/events/ack", "application/json", []byte(tc.body)).want(t, http.StatusBadRequest)
		if got := r.errCode(t); got != tc.code {
			t.Errorf("ack %s: code %q, want %q", tc.name, got, tc.code)
		}
	}
	c.do(invalid(bg), http.MethodPost, "/api/v1/events/ack", "text/plain", []byte(`{"cursor":1}`)).want(t, http.StatusUnsupportedMediaType)
	c.do(invalid(bg), http.MethodPost, "/api/v1/events/ack", "application/json", bytes.Repeat([]byte(" "), 70<<10)).want(t, http.StatusRequestEntityTooLarge)
}

func TestEventLongPollWakesAtTheNextChange(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.central()
	done := make(chan EventPage, 1)
	go func() {
		var page EventPage
		r := c.get("/api/v1/events?after=0&wait=20")
		if r.StatusCode == http.StatusOK {
			json.Unmarshal(r.body, &page)
		}
		done <- page
	}()
	doc := app(t, 14)
	// The long poll may or may not have started yet: either way it must
	// come back with the event well before its 20 s.
	c.postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	page := <-done
	if len(page.Events) != 1 || page.Events[0].ApplicationID != appID(t, doc) || page.NextCursor != 1 {
		t.Fatalf("long poll: %+v", page)
	}
	// Nothing new: a short wait answers empty.
	var empty EventPage
	c.get("/api/v1/events?after=1&wait=1").want(t, http.StatusOK).json(t, &empty)
	if len(empty.Events) != 0 || empty.NextCursor != 1 {
		t.Fatalf("empty long poll: %+v", empty)
	}
}

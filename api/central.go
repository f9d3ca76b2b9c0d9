package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// idPattern is a usable application_id (application.PeekID's rule), for
// ids in paths.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// IntakeItem is the outcome of one application at intake.
type IntakeItem struct {
	ApplicationID string          `json:"application_id"`
	State         queue.State     `json:"state,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Problems      []queue.Problem `json:"problems,omitempty"`
	Created       bool            `json:"created"`
	Error         *ErrorDetail    `json:"error,omitempty"` // conflict
}

// BatchResult answers a batch.
type BatchResult struct {
	Results []IntakeItem `json:"results"`
	Summary BatchSummary `json:"summary"`
}

// BatchSummary counts a batch's outcomes.
type BatchSummary struct {
	Created   int `json:"created"`
	Existing  int `json:"existing"`
	Conflicts int `json:"conflicts"`
}

// postApplications takes one application (a JSON object) or a batch (a JSON
// object {"applications": [ … ]}: the only key). Before anything is
// stored, the whole request is checked: JSON, size, batch size, an
// application_id in every application, no id twice in a batch. Any of these
// failing stores nothing. Then the station validates and stores the
// applications in one transaction: invalid ones as rejected, with their
// problems (an intake that succeeded).
//
// One application: 201 stored now, 200 already there with the same content
// (its current state), 409 the id is taken by other content. A batch: one
// result per application, in order; 201 when any was stored now, 200 when
// all were there, 207 when any conflicts (its result carries the error).
func (a *API) postApplications(c echo.Context) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	select {
	case a.intakes <- struct{}{}:
		defer func() { <-a.intakes }()
	case <-c.Request().Context().Done():
		return c.Request().Context().Err()
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return a.toError(err)
	}
	docs, batch, err := splitIntake(body, a.o.MaxBatch)
	if err != nil {
		return err
	}
	res, err := a.ctrl.Intake(c.Request().Context(), docs)
	if errors.Is(err, queue.ErrUnavailable) {
		// Nothing of the request was stored: central sends it again later.
		a.log.Warn("intake refused: the store cannot write", "err", err)
		return apiErr(http.StatusServiceUnavailable, CodeStoreUnavailable, "the station cannot store applications now; nothing was stored: send again later")
	}
	if err != nil {
		return internal(fmt.Errorf("intake: %w", err))
	}
	items := make([]IntakeItem, len(res))
	var sum BatchSummary
	for i, r := range res {
		it := IntakeItem{ApplicationID: r.ApplicationID, State: r.State, Reason: r.Reason, Problems: r.Problems, Created: r.Created}
		if it.ApplicationID == "" {
			it.ApplicationID, _ = application.PeekID(docs[i])
		}
		switch {
		case errors.Is(r.Err, queue.ErrConflict):
			it.State, it.Reason, it.Problems, it.Created = "", "", nil, false
			it.Error = &ErrorDetail{Code: CodeConflict, Message: "application_id already used with different content"}
			sum.Conflicts++
		case errors.Is(r.Err, station.ErrUnidentifiable):
			// Checked above; the station disagreeing is a bug, not the client's.
			return internal(errors.New("intake: the station found no application_id where the API did"))
		case r.Err != nil:
			return internal(fmt.Errorf("intake: %w", r.Err))
		case r.Created:
			sum.Created++
		default:
			sum.Existing++
		}
		items[i] = it
	}
	if !batch {
		it := items[0]
		switch {
		case it.Error != nil:
			return apiErr(http.StatusConflict, CodeConflict, "application_id already used with different content")
		case it.Created:
			return c.JSON(http.StatusCreated, it)
		}
		return c.JSON(http.StatusOK, it)
	}
	status := http.StatusOK
	switch {
	case sum.Conflicts > 0:
		status = http.StatusMultiStatus
	case sum.Created > 0:
		status = http.StatusCreated
	}
	return c.JSON(status, BatchResult{Results: items, Summary: sum})
}

// requireJSON: the body must be declared application/json.
func requireJSON(c echo.Context) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apiErr(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "the body must be application/json")
	}
	return nil
}

// splitIntake reads an intake body: one application (any JSON object
// without an "applications" key) or a batch ({"applications": [ … ]} and
// nothing else). It returns the documents as sent, each with a usable
// application_id, or an Error saying why the request is refused whole.
func splitIntake(body []byte, maxBatch int) (docs [][]byte, batch bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	malformed := apiErr(http.StatusBadRequest, CodeMalformedJSON, "the body is not one JSON object")
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false, malformed
	}
	var items []json.RawMessage
	var keys int
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, malformed
		}
		key, _ := tok.(string)
		keys++
		if key != "applications" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, false, malformed
			}
			continue
		}
		if batch {
			return nil, false, apiErr(http.StatusBadRequest, CodeMalformedJSON, `"applications" given twice`)
		}
		batch = true
		if items, err = readBatch(dec, maxBatch); err != nil {
			return nil, false, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, false, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false, apiErr(http.StatusBadRequest, CodeMalformedJSON, "data after the JSON object")
	}
	if !batch {
		if id, _ := application.PeekID(body); id == "" {
			return nil, false, apiErr(http.StatusBadRequest, CodeMissingID, "the application has no usable application_id: nothing was stored")
		}
		return [][]byte{body}, false, nil
	}
	if keys != 1 {
		return nil, false, apiErr(http.StatusBadRequest, CodeUnknownField, `a batch is an object with the single key "applications"`)
	}
	if len(items) == 0 {
		return nil, false, apiErr(http.StatusBadRequest, CodeEmptyBatch, "the batch holds no application")
	}
	seen := make(map[string]int, len(items))
	var missing, dup []int
	for i, it := range items {
		id, _ := application.PeekID(it)
		switch {
		case id == "":
			missing = append(missing, i)
		case seen[id] > 0:
			dup = append(dup, i)
		default:
			seen[id] = i + 1
		}
		docs = append(docs, []byte(it))
	}
	if len(missing) > 0 {
		e := apiErr(http.StatusBadRequest, CodeMissingID, "applications without a usable application_id (items listed): nothing was stored")
		e.Items = missing
		return nil, false, e
	}
	if len(dup) > 0 {
		e := apiErr(http.StatusBadRequest, CodeDuplicateID, "an application_id appears more than once in the batch (items listed): nothing was stored")
		e.Items = dup
		return nil, false, e
	}
	return docs, true, nil
}

func readBatch(dec *json.Decoder, maxBatch int) ([]json.RawMessage, error) {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, apiErr(http.StatusBadRequest, CodeMalformedJSON, `"applications" must be an array`)
	}
	var items []json.RawMessage
	for dec.More() {
		if len(items) == maxBatch {
			return nil, apiErr(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, fmt.Sprintf("a batch holds at most %d applications", maxBatch))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, apiErr(http.StatusBadRequest, CodeMalformedJSON, "the body is not one JSON object")
		}
		items = append(items, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, apiErr(http.StatusBadRequest, CodeMalformedJSON, "the body is not one JSON object")
	}
	return items, nil
}

// pathID reads the application id from the path.
func pathID(c echo.Context) (string, error) {
	id := c.Param("id")
	if !idPattern.MatchString(id) {
		return "", apiErr(http.StatusNotFound, CodeNotFound, "no such application")
	}
	return id, nil
}

// getApplication: status, cards, attempts, times; no personal data.
func (a *API) getApplication(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	st, err := a.store.Status(c.Request().Context(), id)
	if errors.Is(err, queue.ErrNotFound) {
		return apiErr(http.StatusNotFound, CodeNotFound, "no such application")
	}
	if err != nil {
		return internal(fmt.Errorf("application status: %w", err))
	}
	return c.JSON(http.StatusOK, st)
}

// CancelResult answers a cancellation.
type CancelResult struct {
	ApplicationID string      `json:"application_id"`
	State         queue.State `json:"state"`
}

// cancelApplication withdraws an application that no card has been
// written for; 409 too_late once perso began.
func (a *API) cancelApplication(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := emptyBody(c); err != nil {
		return err
	}
	st, err := a.store.Cancel(c.Request().Context(), id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return apiErr(http.StatusNotFound, CodeNotFound, "no such application")
	case errors.Is(err, queue.ErrTooLate):
		return apiErr(http.StatusConflict, CodeTooLate, "the application can no longer be cancelled")
	case err != nil:
		return internal(fmt.Errorf("cancel: %w", err))
	}
	return c.JSON(http.StatusOK, CancelResult{ApplicationID: id, State: st})
}

// emptyBody: requests that take no body refuse one (it would be ignored
// otherwise, and a client may think it said something).
func emptyBody(c echo.Context) error {
	var b [1]byte
	n, err := io.ReadFull(c.Request().Body, b[:])
	if n > 0 {
		return apiErr(http.StatusBadRequest, CodeBadRequest, "this request takes no body")
	}
	if err != nil && err != io.EOF {
		if e := bodyReadError(err); e != nil {
			return e
		}
	}
	return nil
}

// EventPage is one page of the change feed.
type EventPage struct {
	Events []queue.Event `json:"events"`
	// NextCursor is the cursor to ask after next: the last event's, or
	// the one asked after when there was none.
	NextCursor int64 `json:"next_cursor"`
}

// MaxWait caps the long poll of the event feed (inside the server's
// WriteTimeout).
const MaxWait = 30 * time.Second

// getEvents: the change feed after a cursor, in order and without gaps.
// With wait=SECONDS and nothing new, the request waits (at most MaxWait) for
// the next change.
func (a *API) getEvents(c echo.Context) error {
	q := c.QueryParams()
	after, err := intParam(q.Get("after"), 0, 0, 1<<62)
	if err != nil {
		return paramErr("after")
	}
	limit, err := intParam(q.Get("limit"), 100, 1, 1000)
	if err != nil {
		return paramErr("limit")
	}
	wait, err := intParam(q.Get("wait"), 0, 0, int64(MaxWait/time.Second))
	if err != nil {
		return paramErr("wait")
	}
	ctx := c.Request().Context()
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(time.Duration(wait) * time.Second)
		defer t.Stop()
		deadline = t.C
	}
	for {
		changed := a.store.Changed() // before reading: no change is missed
		evs, err := a.store.Events(ctx, after, int(limit))
		if errors.Is(err, queue.ErrBadCursor) {
			return apiErr(http.StatusBadRequest, CodeBadCursor, "the cursor is beyond the last event")
		}
		if err != nil {
			return internal(fmt.Errorf("events: %w", err))
		}
		if len(evs) > 0 || deadline == nil {
			page := EventPage{Events: evs, NextCursor: after}
			if page.Events == nil {
				page.Events = []queue.Event{}
			}
			if len(evs) > 0 {
				page.NextCursor = evs[len(evs)-1].Seq
			}
			return c.JSON(http.StatusOK, page)
		}
		select {
		case <-changed:
		case <-deadline:
			deadline = nil // one last read, then answer
		case <-a.closing:
			deadline = nil // the server is stopping: answer now
		case <-ctx.Done():
			return nil
		}
	}
}

// AckRequest acknowledges final states up to a cursor.
type AckRequest struct {
	Cursor *int64 `json:"cursor"`
}

// AckResult says how many applications the acknowledgement covered.
type AckResult struct {
	Cursor       int64 `json:"cursor"`
	Acknowledged int   `json:"acknowledged"`
}

func (a *API) ackEvents(c echo.Context) error {
	var req AckRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Cursor == nil || *req.Cursor < 0 {
		return apiErr(http.StatusBadRequest, CodeBadParameter, "cursor: a number ≥ 0 is required")
	}
	n, err := a.store.Ack(c.Request().Context(), *req.Cursor)
	if errors.Is(err, queue.ErrBadCursor) {
		return apiErr(http.StatusBadRequest, CodeBadCursor, "the cursor is beyond the last event")
	}
	if err != nil {
		return internal(fmt.Errorf("ack: %w", err))
	}
	return c.JSON(http.StatusOK, AckResult{Cursor: *req.Cursor, Acknowledged: n})
}

// decodeJSON decodes a small JSON body as strictly as intake reads an
// application: declared JSON; one object and nothing after it; no key twice
// in an object (encoding/json would keep the last silently); at the top, no
// key the request does not take, spelled exactly (encoding/json would take
// "Cursor" for "cursor"). The answer never echoes a key the client sent.
func decodeJSON(c echo.Context, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		if e := bodyReadError(err); e != nil {
			return e
		}
		return internal(fmt.Errorf("read the request body: %w", err))
	}
	malformed := apiErr(http.StatusBadRequest, CodeMalformedJSON, "the body is not one JSON object")
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil || top == nil {
		return malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, CodeMalformedJSON, "data after the JSON object")
	}
	if err := application.CheckDuplicateKeys(body); err != nil {
		return apiErr(http.StatusBadRequest, CodeMalformedJSON, "an object names a key twice")
	}
	known := jsonKeys(v)
	for k := range top {
		if !known[k] {
			return apiErr(http.StatusBadRequest, CodeUnknownField, "the body has a field this request does not take")
		}
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && known[ute.Field]: // one of ours: safe to name
			return apiErr(http.StatusBadRequest, CodeBadParameter, "a field has the wrong type: "+ute.Field)
		case errors.As(err, &ute):
			return apiErr(http.StatusBadRequest, CodeBadParameter, "a field has the wrong type")
		case strings.HasPrefix(err.Error(), "json: unknown field"): // inside a nested object
			return apiErr(http.StatusBadRequest, CodeUnknownField, "the body has a field this request does not take")
		}
		return malformed
	}
	return nil
}

// jsonKeys are the JSON names of the fields of the struct v points to.
func jsonKeys(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	keys := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return keys
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		keys[name] = true
	}
	return keys
}

func intParam(s string, def, min, max int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, errors.New("out of range")
	}
	return v, nil
}

func paramErr(name string) error {
	return apiErr(http.StatusBadRequest, CodeBadParameter, "query parameter "+name+" is not a number in its range")
}

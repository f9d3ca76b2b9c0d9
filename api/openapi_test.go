package api

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The OpenAPI document is held to the code in two ways: every route echo
// serves is in the document with the permission the code requires, and
// back (TestEveryRouteIsInTheDocumentAndBack); and every request the tests
// make and every response they get is validated against it (validating,
// below), with a run of the whole suite failing if any documented
// operation was never exercised (TestMain).

var (
	docOnce   sync.Once
	theDoc    *openapi3.T
	theRouter routers.Router
	docErr    error

	coverMu sync.Mutex
	covered = map[string]bool{} // "METHOD /path" of the document
)

func init() {
	for _, ct := range []string{"text/html", "text/event-stream", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

func loadDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	docOnce.Do(func() {
		loader := openapi3.NewLoader()
		theDoc, docErr = loader.LoadFromData(OpenAPI)
		if docErr != nil {
			return
		}
		if docErr = theDoc.Validate(context.Background()); docErr != nil {
			return
		}
		theRouter, docErr = legacy.NewRouter(theDoc)
	})
	if docErr != nil {
		t.Fatalf("the OpenAPI document: %v", docErr)
	}
	return theDoc, theRouter
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiDir != "" {
		os.RemoveAll(pkiDir)
	}
	// A run of the whole suite must have exercised every documented
	// operation through the validating client.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && theDoc != nil {
		var missing []string
		for path, item := range theDoc.Paths.Map() {
			for method := range item.Operations() {
				if !covered[method+" "+path] {
					missing = append(missing, method+" "+path)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: documented operations no test exercised:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// validating is the tests' transport: it checks each request against the
// document (the test says when it sends one it means to be invalid: the
// document must refuse it too) and each response (status, headers, body).
type validating struct {
	t    testing.TB
	base http.RoundTripper
	c    *client
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	_, router := loadDoc(v.t)
	ctx := req.Context()
	expectInvalid := ctx.Value(invalidKey{}) != nil
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		v.t.Errorf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		return v.base.RoundTrip(req)
	}
	coverMu.Lock()
	covered[route.Method+" "+route.Path] = true
	coverMu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: v.authenticate, MultiError: true, RejectWhenRequestBodyNotSpecified: true}}
	rerr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case expectInvalid && rerr == nil:
		v.t.Errorf("the OpenAPI document accepts %s %s, which the test sends as invalid", req.Method, req.URL.Path)
	case !expectInvalid && rerr != nil:
		v.t.Errorf("%s %s does not conform to the OpenAPI document: %v", req.Method, req.URL.Path, rerr)
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var rb []byte
	if !stream {
		rb, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(rb))
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(rb)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: stream, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		v.t.Errorf("the response to %s %s (%d) does not conform to the OpenAPI document: %v\n%s",
			req.Method, req.URL.Path, resp.StatusCode, err, clip(rb))
	}
	return resp, nil
}

// authenticate: the document's security schemes, as the client presents
// them (the server decides whether they are good).
func (v *validating) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "mutualTLS":
		if v.c.cert {
			return nil
		}
	case "bearerAuth":
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return nil
		}
	case "panelSession":
		if _, err := r.Cookie(sessionCookie); err == nil {
			return nil
		}
	}
	return errors.New("no credentials for " + in.SecuritySchemeName)
}

// docPath turns an echo path into the document's: ":id" → "{id}", "*" →
// "{file}".
func docPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		switch {
		case strings.HasPrefix(s, ":"):
			parts[i] = "{" + s[1:] + "}"
		case s == "*":
			parts[i] = "{file}"
		}
	}
	return strings.Join(parts, "/")
}

func TestEveryRouteIsInTheDocumentAndBack(t *testing.T) {
	doc, _ := loadDoc(t)
	e := newEnv(t, envOptions{})
	routes := e.api.Routes()

	inTable := map[string]bool{}
	for _, r := range routes {
		inTable[r.Method+" "+r.Path] = true
	}
	for _, r := range e.api.EchoRoutes() {
		if !inTable[r.Method+" "+r.Path] {
			t.Errorf("echo serves %s %s outside the route table (no permission recorded)", r.Method, r.Path)
		}
	}

	inCode := map[string]bool{}
	for _, r := range routes {
		p := docPath(r.Path)
		inCode[r.Method+" "+p] = true
		item := doc.Paths.Value(p)
		if item == nil {
			t.Errorf("%s %s is served but not in the OpenAPI document", r.Method, p)
			continue
		}
		op := item.GetOperation(r.Method)
		if op == nil {
			t.Errorf("%s %s is served but the document has no %s there", r.Method, p, r.Method)
			continue
		}
		if got := op.Extensions["x-permission"]; got != string(r.Permission) {
			t.Errorf("%s %s: the document says x-permission %v, the code requires %q", r.Method, p, got, r.Permission)
		}
		if r.Permission != permNone && r.Permission != permAuthenticated && len(permissions[r.Permission]) == 0 {
			t.Errorf("%s %s requires %q, which no role has", r.Method, p, r.Permission)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !inCode[method+" "+path] {
				t.Errorf("the document has %s %s, which nothing serves", method, path)
			}
		}
	}
}

// TestDocumentRoleTableMatchesTheCode: the table in the document's
// description is the permissions map.
func TestDocumentRoleTableMatchesTheCode(t *testing.T) {
	doc, _ := loadDoc(t)
	for perm, roles := range permissions {
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = string(r)
		}
		row := fmt.Sprintf("| %s | %s |", perm, strings.Join(names, ", "))
		if !strings.Contains(doc.Info.Description, row) {
			t.Errorf("the document's role table lacks the row %q", row)
		}
	}
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.client().get("/api/v1/openapi.yaml").want(t, http.StatusOK)
	if !bytes.Equal(r.body, OpenAPI) {
		t.Errorf("served document differs from the embedded one (%d vs %d bytes)", len(r.body), len(OpenAPI))
	}
}

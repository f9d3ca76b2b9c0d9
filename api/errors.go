package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"
)

// Error is what a client is told when a request fails: a status, a stable
// code and a fixed message written here — never the text of an internal
// error, which could carry personal data. The cause is logged (without
// request bodies) and kept for errors.Is.
type Error struct {
	Status  int
	Code    string
	Message string
	Items   []int // batch: the indexes of the offending items
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Cause)
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Cause }

// Stable error codes (the OpenAPI document lists them).
const (
	CodeBadRequest       = "bad_request"
	CodeMalformedJSON    = "malformed_json"
	CodeUnknownField     = "unknown_field"
	CodeMissingID        = "missing_application_id"
	CodeDuplicateID      = "duplicate_application_id"
	CodeEmptyBatch       = "empty_batch"
	CodeBatchTooLarge    = "batch_too_large"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeBadParameter     = "bad_parameter"
	CodeBadCursor        = "bad_cursor"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeCSRF             = "csrf"
	CodeNotFound         = "not_found"
	CodeNoSuchReader     = "no_such_reader"
	CodeConflict         = "conflict"
	CodeTooLate          = "too_late"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeRateLimited      = "rate_limited"
	CodeTooManyStreams   = "too_many_streams"
	CodeRequestTimeout   = "request_timeout"
	CodeUnavailable      = "unavailable"
	CodeStoreUnavailable = "store_unavailable" // the store cannot write (disk full): retry later
	CodeInternal         = "internal"
)

func apiErr(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the station log", Cause: cause}
}

// ErrorBody is every error response: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error: a stable code, a fixed message, and for a
// refused batch the indexes of the applications concerned.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Items   []int  `json:"items,omitempty"`
}

// errorHandler answers every failed request: JSON on /api and the
// operations endpoints, a login redirect or a small page on the panel.
func (s *API) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := s.toError(err)
	req := c.Request()
	switch {
	case e.Status >= 500:
		s.log.Error("request failed", "method", req.Method, "route", c.Path(), "code", e.Code, "err", e.Cause)
	case e.Code == CodeRequestTimeout:
		// The client's fault (or its network's), not the station's.
		s.log.Warn("client timeout: the request body did not arrive in time", "method", req.Method, "route", c.Path(), "code", e.Code)
	}
	switch e.Status {
	case http.StatusTooManyRequests:
		c.Response().Header().Set("Retry-After", "1")
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", "30")
	}
	if isPanel(req.URL.Path) {
		s.panelError(c, e)
		return
	}
	if e.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="station"`)
	}
	body := ErrorBody{ErrorDetail{Code: e.Code, Message: e.Message, Items: e.Items}}
	if req.Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	if err := c.JSON(e.Status, body); err != nil {
		s.log.Warn("write error response", "err", err)
	}
}

// toError maps any error to a client-safe Error.
func (s *API) toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return apiErr(http.StatusNotFound, CodeNotFound, "no such resource")
		case http.StatusMethodNotAllowed:
			return apiErr(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this resource")
		case http.StatusRequestEntityTooLarge:
			return apiErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body too large")
		case http.StatusUnauthorized:
			return apiErr(http.StatusUnauthorized, CodeUnauthenticated, "authentication required")
		case http.StatusForbidden:
			return apiErr(http.StatusForbidden, CodeForbidden, "not allowed for this role")
		case http.StatusTooManyRequests:
			return apiErr(http.StatusTooManyRequests, CodeRateLimited, "too many requests; slow down")
		case http.StatusServiceUnavailable:
			return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "service unavailable")
		}
		if he.Code >= 400 && he.Code < 500 {
			return apiErr(he.Code, CodeBadRequest, "bad request")
		}
		return internal(err)
	}
	if e := bodyReadError(err); e != nil {
		return e
	}
	return internal(err)
}

// bodyReadError is the client-safe Error for a failed read of a request
// body, or nil when err is not one: too large (413), stalled past the
// server's ReadTimeout (408), cut short by the client (400).
func bodyReadError(err error) *Error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return apiErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusRequestTimeout, Code: CodeRequestTimeout, Message: "the request body did not arrive in time", Cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "the request body ended early", Cause: err}
	}
	return nil
}

func isPanel(path string) bool { return path == "/panel" || strings.HasPrefix(path, "/panel/") }

// logAttrs is what a request is logged with: no bodies, no query strings
// (they may carry an application id prefix), no credentials.
func logAttrs(c echo.Context) []any {
	return []any{slog.String("method", c.Request().Method), slog.String("route", c.Path())}
}

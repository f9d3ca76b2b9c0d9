package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// Health is the body of /livez and /readyz.
type Health struct {
	Status  string   `json:"status"`            // "ok" or "not_ready"
	Reasons []string `json:"reasons,omitempty"` // why not ready (Readiness)
}

// Readiness is why the station cannot issue cards now: a small fixed set of
// reasons (/readyz, the panel).
func Readiness(snap station.Snapshot) []string {
	var reasons []string
	c := snap.Signer.Certificate
	certProblem := c != nil && c.Problem != ""
	if !snap.Signer.OK && (!certProblem || !snap.Signer.TokenOK) {
		reasons = append(reasons, "signer_down")
	}
	if certProblem {
		reasons = append(reasons, "ds_certificate_"+string(c.Problem))
	}
	if !snap.Store.Writable {
		reasons = append(reasons, "store_unwritable")
	}
	if snap.Store.LowSpace {
		reasons = append(reasons, "store_low_space")
	}
	if readersUp(snap) == 0 {
		reasons = append(reasons, "no_reader_up")
	}
	return reasons
}

// livez: the process is up and serving.
func (a *API) livez(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, Health{Status: "ok"})
}

// readyz: the station can issue cards — the Document Signer can sign (its
// token answers, its certificate may sign), the store writes, and at least
// one reader works. 503 otherwise, with the reasons.
func (a *API) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if reasons := Readiness(a.ctrl.Snapshot()); len(reasons) > 0 {
		return c.JSON(http.StatusServiceUnavailable, Health{Status: "not_ready", Reasons: reasons})
	}
	return c.JSON(http.StatusOK, Health{Status: "ok"})
}

// verifyAudit walks the audit chain, and records that it was checked and
// how it came out.
func (a *API) verifyAudit(c echo.Context) (queue.AuditReport, error) {
	rep, err := a.store.VerifyAudit(c.Request().Context())
	if err != nil {
		return rep, internal(fmt.Errorf("verify audit log: %w", err))
	}
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	detail := fmt.Sprintf("entries=%d ok=%t problems=%d", rep.Entries, rep.OK, len(rep.Problems))
	return rep, a.audit(c, "audit_verify", "audit_log", detail)
}

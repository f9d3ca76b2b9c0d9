package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/queue"
)

// Health is the body of /livez and /readyz.
type Health struct {
	Status  string   `json:"status"`            // "ok" or "not_ready"
	Reasons []string `json:"reasons,omitempty"` // why not ready: signer_down, no_reader_up
}

// livez: the process is up and serving.
func (a *API) livez(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, Health{Status: "ok"})
}

// readyz: the station can issue cards — the Document Signer answers and at
// least one reader works. 503 otherwise, with the reasons.
func (a *API) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	snap := a.ctrl.Snapshot()
	var reasons []string
	if !snap.Signer.OK {
		reasons = append(reasons, "signer_down")
	}
	if readersUp(snap) == 0 {
		reasons = append(reasons, "no_reader_up")
	}
	if len(reasons) > 0 {
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

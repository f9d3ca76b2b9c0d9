package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/cccd-station/station/station"
)

// The station routes of /api/v1 serve scripts on the station network
// (tokens with a panel role): the same actions as the panel, with the same
// permissions, audited the same way.

// getStation: the snapshot the overview shows. Application ids are masked
// for roles that may not see personal data, as on the panel.
func (a *API) getStation(c echo.Context) error {
	snap := a.ctrl.Snapshot()
	if role := principalOf(c).Role; !role.seesApplicationIDs() {
		snap.Readers = append([]station.ReaderStatus(nil), snap.Readers...)
		for i := range snap.Readers {
			snap.Readers[i].ApplicationID = role.applicationID(snap.Readers[i].ApplicationID)
		}
	}
	return c.JSON(http.StatusOK, snap)
}

// ReaderRequest names a reader.
type ReaderRequest struct {
	Reader string `json:"reader"`
}

// ReaderResult is a reader after pause or resume.
type ReaderResult struct {
	Reader string `json:"reader"`
	Paused bool   `json:"paused"`
}

func (a *API) postReader(pause bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req ReaderRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.Reader == "" || len(req.Reader) > 200 {
			return apiErr(http.StatusBadRequest, CodeBadParameter, "reader: a reader name is required")
		}
		if err := a.pauseReader(c, req.Reader, pause); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ReaderResult{Reader: req.Reader, Paused: pause})
	}
}

// pauseReader pauses or resumes a reader and audits it (API and panel).
func (a *API) pauseReader(c echo.Context, reader string, pause bool) error {
	action, f := "reader_resume", a.ctrl.Resume
	if pause {
		action, f = "reader_pause", a.ctrl.Pause
	}
	err := f(reader)
	if errors.Is(err, station.ErrNoReader) {
		return apiErr(http.StatusNotFound, CodeNoSuchReader, "no such reader")
	}
	if err != nil {
		return internal(fmt.Errorf("%s: %w", action, err))
	}
	return a.audit(c, action, reader, "")
}

// DrainRequest turns draining on or off.
type DrainRequest struct {
	On *bool `json:"on"`
}

// DrainResult is the station's draining state.
type DrainResult struct {
	Draining bool `json:"draining"`
}

func (a *API) postDrain(c echo.Context) error {
	var req DrainRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.On == nil {
		return apiErr(http.StatusBadRequest, CodeBadParameter, "on: true or false is required")
	}
	if err := a.drain(c, *req.On); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, DrainResult{Draining: *req.On})
}

func (a *API) drain(c echo.Context, on bool) error {
	a.ctrl.Drain(on)
	detail := "off"
	if on {
		detail = "on"
	}
	return a.audit(c, "drain", "station", detail)
}

func (a *API) getAuditVerify(c echo.Context) error {
	rep, err := a.verifyAudit(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// audit writes an action to the audit log with the principal as actor (the
// request's context carries it).
func (a *API) audit(c echo.Context, action, subject, detail string) error {
	if err := a.store.Audit(c.Request().Context(), action, subject, detail); err != nil {
		return internal(fmt.Errorf("audit %s: %w", action, err))
	}
	return nil
}

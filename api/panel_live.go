package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Heartbeat of the live stream: a comment line that keeps proxies and the
// browser from timing the connection out, and the moment the session is
// checked again.
const liveHeartbeat = 20 * time.Second

// events is the live overview: a server-sent event stream (WHATWG HTML
// §9.2) that sends the overview's live part, rendered, whenever the station
// (Control.Changed) or the queue (Store.Changed) changes — coalesced over
// LiveDebounce, and only when the rendering differs from the last one sent.
// Every connection starts with the current state, so a reconnecting
// EventSource is up to date at once; "retry" tells it to come back after
// two seconds.
func (p *panel) events(c echo.Context) error {
	select {
	case p.a.live <- struct{}{}:
		defer func() { <-p.a.live }()
	default:
		return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "too many live views open")
	}
	ctx := c.Request().Context()
	ck, _ := c.Cookie(sessionCookie)
	pg := p.newPage(c, "overview", "overview.title")

	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(s string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(liveHeartbeat + 10*time.Second)) // past the server's WriteTimeout
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send("retry: 2000\n\n"); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	var last string
	for {
		ctrlCh, storeCh := p.a.ctrl.Changed(), p.a.store.Changed() // before rendering: no change is missed
		html, err := p.renderLive(ctx, pg)
		if err != nil {
			p.a.log.Error("panel: live overview", "err", err)
			return nil
		}
		if html != last {
			if err := send(sseEvent("overview", html)); err != nil {
				return nil // the browser went away
			}
			last = html
		}
	wait:
		select {
		case <-ctx.Done():
			return nil
		case <-p.a.closing:
			return nil
		case <-ctrlCh:
		case <-storeCh:
		case <-heartbeat.C:
			s, err := p.a.auth.session(ctx, ck.Value)
			if err != nil || s == nil || !s.Role.Can(PermView) {
				_ = send("event: logout\ndata: \n\n")
				return nil
			}
			if err := send(": ping\n\n"); err != nil {
				return nil
			}
			goto wait
		}
		select { // let a burst of changes settle
		case <-ctx.Done():
			return nil
		case <-time.After(p.a.o.LiveDebounce):
		}
	}
}

func (p *panel) renderLive(ctx context.Context, pg *page) (string, error) {
	pg.Data = p.overviewData(ctx, pg.Role)
	var buf bytes.Buffer
	if err := p.pages["overview"].ExecuteTemplate(&buf, "live", pg); err != nil {
		return "", fmt.Errorf("render live overview: %w", err)
	}
	return buf.String(), nil
}

// sseEvent frames a named event; every line of the data gets its own
// "data:" field (the browser joins them with newlines).
func sseEvent(name, data string) string {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r", ""), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}

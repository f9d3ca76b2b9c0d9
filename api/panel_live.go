package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Heartbeat of the live stream: a comment line that keeps proxies and the
// browser from timing the connection out.
const liveHeartbeat = 20 * time.Second

// liveStreams counts the live streams each session holds open.
type liveStreams struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes one of the session's max streams, if one is left.
func (l *liveStreams) acquire(session string, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	if l.n[session] >= max {
		return false
	}
	l.n[session]++
	return true
}

func (l *liveStreams) release(session string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[session]--; l.n[session] <= 0 {
		delete(l.n, session)
	}
}

// events is the live overview: a server-sent event stream (WHATWG HTML
// §9.2) that sends the overview's live part, rendered, whenever the station
// (Control.Changed) or the queue (Store.Changed) changes — coalesced over
// LiveDebounce, and only when the rendering differs from the last one sent.
// Every connection starts with the current state, so a reconnecting
// EventSource is up to date at once; "retry" tells it to come back after
// two seconds.
//
// A session holds at most LiveStreamsPerSession streams (429
// too_many_streams), the station 64 (503). A stream ends with "event:
// logout" as soon as its session does: at once when this process ends it
// (logout, the user disabled or its password set on the panel), within
// LiveSessionCheck when stationctl does.
func (p *panel) events(c echo.Context) error {
	sid := string(principalOf(c).Session.id)
	if !p.a.streams.acquire(sid, p.a.o.LiveStreamsPerSession) {
		return apiErr(http.StatusTooManyRequests, CodeTooManyStreams, "too many live views open in this session")
	}
	defer p.a.streams.release(sid)
	select {
	case p.a.live <- struct{}{}:
		defer func() { <-p.a.live }()
	default:
		return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "too many live views open")
	}
	ctx := c.Request().Context()
	ck, _ := c.Cookie(sessionCookie)
	pg := p.newPage(c, "overview", "overview.title")
	// ended before the check: a session ended in between is not missed.
	ended := p.a.auth.sessionEnds()
	holds := func() (gone, changed bool) {
		s, err := p.a.auth.session(ctx, ck.Value)
		switch {
		case err != nil:
			return false, ctx.Err() == nil // a failed read: let the browser come back and try
		case s == nil || !s.Role.Can(PermView):
			return true, false
		}
		return false, s.Role != pg.Role // rendered for another role: start again
	}
	if gone, _ := holds(); gone {
		return apiErr(http.StatusUnauthorized, CodeUnauthenticated, "authentication required")
	}

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
	// stop: the session ended (the page is told, and goes to the login
	// page) or its role changed (the browser comes back for a new view).
	stop := func() bool {
		gone, changed := holds()
		if gone {
			_ = send("event: logout\ndata: \n\n")
		}
		return gone || changed
	}
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	check := time.NewTicker(p.a.o.LiveSessionCheck)
	defer check.Stop()
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
		case <-ended:
			ended = p.a.auth.sessionEnds()
			if stop() {
				return nil
			}
			goto wait
		case <-check.C:
			if stop() {
				return nil
			}
			goto wait
		case <-heartbeat.C:
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

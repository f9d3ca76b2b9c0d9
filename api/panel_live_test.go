package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stream is an open live overview: its events ("name\ndata"), closed when
// the server ends the stream.
type stream struct {
	resp   *http.Response
	events chan string
	cancel context.CancelFunc
}

// openStream opens /panel/events for the client; a refusal is returned as
// the response with a nil events channel.
func (c *client) openStream(t *testing.T) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.e.srv.URL+"/panel/events", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		return s
	}
	s.events = make(chan string, 64)
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			case line == "" && name != "":
				s.events <- name + "\n" + strings.Join(data, "\n")
				name, data = "", nil
			}
		}
	}()
	return s
}

// next is the stream's next event ("" when the stream ended); the test
// fails if none comes within d.
func (s *stream) next(t *testing.T, d time.Duration, what string) string {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(d):
		t.Fatalf("no event for %s within %v", what, d)
	}
	return ""
}

// endsWithLogout: the stream says "logout" and ends, within d — well
// before the 20 s heartbeat.
func (s *stream) endsWithLogout(t *testing.T, d time.Duration, what string) {
	t.Helper()
	deadline := time.After(d)
	sawLogout := false
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				if !sawLogout {
					t.Errorf("%s: the stream ended without a logout event", what)
				}
				return
			}
			if strings.HasPrefix(ev, "logout\n") {
				sawLogout = true
			}
		case <-deadline:
			t.Fatalf("%s: the stream was still open after %v", what, d)
		}
	}
}

// Well under liveHeartbeat: a stream that ends within it was ended by the
// change, not by the next heartbeat.
const promptly = 5 * time.Second

func TestASessionHoldsAtMostFourLiveStreams(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.user("op", RoleOperator)
	var open []*stream
	for i := 0; i < 4; i++ {
		s := op.openStream(t)
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: status %d", i+1, s.resp.StatusCode)
		}
		s.next(t, promptly, "the first state")
		open = append(open, s)
	}
	refused := op.openStream(t)
	if refused.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fifth stream of the session: status %d", refused.resp.StatusCode)
	}
	var body ErrorBody
	if err := jsonDecode(refused.resp, &body); err != nil || body.Error.Code != CodeTooManyStreams {
		t.Errorf("the refusal: %+v %v", body, err)
	}
	// Another session of the same user has its own four.
	other := e.login("op", "correct horse battery op")
	if s := other.openStream(t); s.resp.StatusCode != http.StatusOK {
		t.Errorf("another session: status %d", s.resp.StatusCode)
	}
	// A stream closed gives its place back.
	open[0].cancel()
	deadline := time.Now().Add(promptly)
	for {
		s := op.openStream(t)
		if s.resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the place of a closed stream was not given back: status %d", s.resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogoutEndsTheSessionsLiveStreamsAtOnce(t *testing.T) {
	// The periodic check is out of the way: only the logout itself can
	// end the stream in time.
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.LiveSessionCheck = time.Hour }})
	op := e.user("op", RoleOperator)
	s := op.openStream(t)
	s.next(t, promptly, "the first state")
	op.postForm("/panel/logout", url.Values{"csrf": {op.csrf()}}).want(t, http.StatusSeeOther)
	s.endsWithLogout(t, promptly, "logout")
}

func TestDisablingAUserEndsItsLiveStreamsAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.LiveSessionCheck = time.Hour }})
	op := e.user("op", RoleOperator)
	admin := e.user("boss", RoleAdmin)
	s := op.openStream(t)
	s.next(t, promptly, "the first state")
	admin.postForm("/panel/users/op/disable", url.Values{"csrf": {admin.csrf()}}).want(t, http.StatusSeeOther)
	s.endsWithLogout(t, promptly, "disabled on the panel")

	// The same for a password set through the store directly.
	tech := e.user("tech", RoleTechnician)
	s = tech.openStream(t)
	s.next(t, promptly, "the first state")
	if err := e.auth.SetPassword("tech", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	s.endsWithLogout(t, promptly, "password set")
}

// TestAUserDisabledByStationctlLosesItsLiveStreamAtTheNextCheck: another
// process (stationctl, through its own handle on auth.db) disables the
// user; the stream sees it at its next session check.
func TestAUserDisabledByStationctlLosesItsLiveStreamAtTheNextCheck(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.LiveSessionCheck = 100 * time.Millisecond }})
	op := e.user("op", RoleOperator)
	s := op.openStream(t)
	s.next(t, promptly, "the first state")
	stationctl := openTestAuth(t, filepath.Join(e.dir, "auth.db"))
	if err := stationctl.DisableUser("op"); err != nil {
		t.Fatal(err)
	}
	s.endsWithLogout(t, promptly, "disabled by another process")
}

func jsonDecode(r *http.Response, v any) error {
	defer r.Body.Close()
	return json.NewDecoder(r.Body).Decode(v)
}
